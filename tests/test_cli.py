"""The health-monitor command as a user runs it: help, bad arguments, listings, load-gold, demo."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import os
import socket
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from health_monitor.cli import build_parser, main
from health_monitor.config import Settings
from health_monitor.models.verdicts import VERDICTS
from health_monitor.plugins import ENTRY_POINT_GROUP
from health_monitor.runtime import Runtime
from health_monitor.sdk import CalibratedDetector

pytestmark = pytest.mark.heavy  # minutes: the demo command end to end in a subprocess

COMMANDS = [
    "demo",
    "simulate",
    "gold",
    "snapshot",
    "load-system-tables",
    "load-gold",
    "features",
    "train",
    "infer",
    "explain",
    "promote",
    "plugins",
    "models",
    "tables",
    "run",
    "vacuum",
    "recover",
    "report",
    "dashboards",
]


def test_every_command_has_help(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: health-monitor" in capsys.readouterr().out
    assert set(COMMANDS) <= set(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "nope"], "unknown model 'nope'; known models:"),
        (["features", "--domain", "nope"], "unknown domain 'nope'"),
        (["simulate", "--days", "3"], "days"),
        (["tables", "--catalog", "bad-name!"], "catalog must be a plain identifier"),
        (
            ["explain", "--model", "cost_anomaly_detector", "--key", "oops"],
            "--key must look like COLUMN=VALUE",
        ),
        (["tools", "--domain", "weather"], "unknown domain 'weather'"),
        (["serve", "--host", "0.0.0.0"], "--host must be a loopback address"),
        (["serve", "--allow-host", "bad host!"], "--allow-host 'bad host!' is not a host name"),
        (["serve", "--token-file", "/nonexistent/token"], "--token-file /nonexistent/token cannot be read"),
        (
            ["report", "--out", "/nonexistent/folder/report"],
            "its parent folder /nonexistent/folder does not exist",
        ),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_2(argv, message, tmp_path, capsys):
    (tmp_path / "home").mkdir()  # an empty home: the argument, not the home, is what is wrong
    assert main([*argv, "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--seed", "minus"], "expected a whole number"),
        (["demo", "--scale", "huge"], "invalid choice"),
        (["serve", "--port", "70000"], "at most 65535"),
    ],
)
def test_argparse_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_plugins_and_models_as_json(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = json.loads(capsys.readouterr().out)["plugins"]
    installed = sorted(ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP))
    assert [(p["name"], p["distribution"]) for p in plugins] == [
        (d, f"health-monitor-{d}") for d in installed
    ]
    assert all(p["version"] and p["models"] for p in plugins)
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert {m["domain"] for m in models} == set(installed)
    assert sorted(m["name"] for m in models) == sorted(n for p in plugins for n in p["models"])
    for m in models:
        assert (
            m["prediction_table"].endswith(f".ml.{m['name']}_predictions")
            and m["keys"]
            and m["feature_tables"]
        )


def a_served_model(trained_home) -> str:
    """A model with a champion on the trained home: the gate may hold any model back, so no test
    names one."""
    runtime, host, result = trained_home
    trained = {i.item: i.details for r in result.reports if r.stage == "train" for i in r.items}
    served = [m for m in sorted(host.models) if trained.get(m, {}).get("alias") == "champion"]
    assert served, "no model got a champion on the trained home"
    return served[0]


def test_tables_lists_the_trained_home(trained_home, capsys):
    runtime, _, _ = trained_home
    assert main(["tables", "--json", "--home", str(runtime.settings.home)]) == 0
    tables = {t["full_name"]: t for t in json.loads(capsys.readouterr().out)}
    usage = tables["health_monitor.gold.fact_usage"]
    assert (
        usage["rows"] > 0
        and usage["location"]
        and {"name": "usage_quantity", "type": "double"} in usage["columns"]
    )
    assert runtime.settings.predictions(a_served_model(trained_home)) in tables


def test_evaluate_reports_every_model_against_its_baseline(trained_home, capsys):
    runtime, host, result = trained_home
    assert main(["evaluate", "--json", "--home", str(runtime.settings.home)]) == 0
    cards = {c["model"]: c for c in json.loads(capsys.readouterr().out)}
    assert set(cards) == set(host.models)
    trained = {i.item: i.details for r in result.reports if r.stage == "train" for i in r.items}
    for name, card in cards.items():
        # A version the champion gate held back is shown as such, with the challenger's run.
        assert card["status"] == ("trained" if trained[name]["alias"] == "champion" else "no champion"), name
        assert card["train_rows"] > 0 and card["test_rows"] > 0
        headline = card["headline_metric"]
        assert headline in card["metrics"] and headline in card["baseline_metrics"]
        assert card["model_value"] == card["metrics"][headline]
        assert card["baseline_value"] == card["baseline_metrics"][headline]
        assert card["verdict"] in VERDICTS
        # A calibrated detector's budget, and what its normal days let it spend: its own budget
        # unless the setting says otherwise (per 1,000 entity-days), the reachable at most 1,000.
        calibrated = isinstance(host.models[name].spec.estimator(), CalibratedDetector)
        assert (card["alarm_budget"] is not None) == calibrated, name
        if calibrated:
            budget = host.models[name].spec.estimator().alarm_budget
            assert card["alarm_budget"]["per_1000"] == pytest.approx(1000 * budget / 30), name
            assert 0 <= card["alarm_budget"]["reachable_per_1000"] <= 1000, name
        if card["difference_ci95"] is None:
            assert card["verdict"] == "not evaluated" and card["verdict_reason"], name
            continue
        low, high = card["difference_ci95"]
        assert (card["verdict"] == "beats baseline") == (low > 0), name
        assert (card["verdict"] == "does not beat baseline") == (high < 0), name
        assert card["bootstrap"]["unit"] in {"day", "row"} and card["bootstrap"]["resamples"] > 0
        if headline == "mape":  # a regression: MAE and median APE compared with the same draws
            assert set(card["secondary"]) == {"mae", "median_abs_pct_error"}, name
            for other in card["secondary"].values():
                assert other["difference_ci95"][0] <= other["difference_ci95"][1], name
    # The text report gives a calibrated detector's false alarms against its budget.
    assert main(["evaluate", "--home", str(runtime.settings.home)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name, card in cards.items():
        if card["alarm_budget"] is not None:
            allowed = f"alarm budget {card['alarm_budget']['per_1000']:.3g} per 1,000 normal entity-days"
            assert allowed in lines[name], lines[name]
            ceiling = card["alarm_budget"]["reachable_per_1000"] * 1.5 < card["alarm_budget"]["per_1000"]
            assert ("(a ceiling: its normal days let it raise at most" in lines[name]) == ceiling, lines[name]
        else:
            assert "alarm budget" not in lines[name], lines[name]


def test_explain_command_on_the_trained_home(trained_home, capsys):
    from health_monitor.serving.scoring import plain

    runtime, host, _ = trained_home
    model = a_served_model(trained_home)
    frame = runtime.lakehouse.read_arrow(runtime.settings.predictions(model)).to_pandas()
    row, keys = frame.iloc[-1], host.models[model].spec.keys
    argv = ["explain", "--home", str(runtime.settings.home), "--model", model, "--json", "--top", "3"]
    for key in keys:
        argv += ["--key", f"{key}={plain(row[key])}"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert {k: str(v) for k, v in result["keys"].items()} == {k: str(plain(row[k])) for k in keys}
    assert 1 <= len(result["contributions"]) <= 3


@pytest.fixture
def gold_export(simulated_home, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for name in simulated_home.lakehouse.list_tables(simulated_home.settings.catalog, "gold"):
        pq.write_table(
            simulated_home.lakehouse.read_arrow(name), folder / f"{name.rsplit('.', 1)[1]}.parquet"
        )
    return folder


def test_load_gold_loads_a_checked_export(gold_export, tmp_path, capsys):
    home = tmp_path / "byo"
    assert main(["load-gold", str(gold_export), "--home", str(home)]) == 0
    assert "health_monitor.gold.fact_usage" in capsys.readouterr().out
    assert main(["tables", "--json", "--schema", "gold", "--home", str(home)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(list(gold_export.glob("*.parquet")))


def test_load_gold_with_a_missing_column_writes_nothing(gold_export, tmp_path, capsys):
    usage = pq.read_table(gold_export / "fact_usage.parquet").drop_columns(["usage_quantity"])
    pq.write_table(usage, gold_export / "fact_usage.parquet")
    home = tmp_path / "byo"
    assert main(["load-gold", str(gold_export), "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "fact_usage" in err and "usage_quantity" in err
    assert not (home / "lakehouse").exists() or not list((home / "lakehouse").rglob("_delta_log"))


def test_load_gold_leaves_absurd_rows_out_and_says_how_many(gold_export, tmp_path, capsys):
    """An audit event of year 0001 and one of year 2500 (one such event once made every security
    model fail to train) are kept apart with their rule; `--rule ...=refuse` refuses the load."""
    path = gold_export / "fact_audit_logs.parquet"
    audit = pq.read_table(path)
    bad = audit.slice(0, 2)
    times = pa.array([dt.datetime(1, 1, 1), dt.datetime(2500, 1, 1)], pa.timestamp("us", tz="UTC"))
    days = pa.array([dt.date(1, 1, 1), dt.date(2500, 1, 1)], pa.date32())
    bad = bad.set_column(bad.schema.get_field_index("event_time"), "event_time", times)
    bad = bad.set_column(bad.schema.get_field_index("event_date"), "event_date", days)
    ids = pa.array(["absurd-1", "absurd-2"])
    bad = bad.set_column(bad.schema.get_field_index("event_id"), "event_id", ids)
    pq.write_table(pa.concat_tables([audit, bad.cast(audit.schema)]), path)

    home = tmp_path / "refused"
    argv = ["load-gold", str(gold_export), "--home", str(home), "--rule", "date_range=refuse"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "fact_audit_logs.event_time: 2 row(s)" in err and "rule date_range" in err
    assert not (home / "lakehouse").exists() or not list((home / "lakehouse").rglob("_delta_log"))

    home = tmp_path / "byo"
    assert main(["load-gold", str(gold_export), "--home", str(home)]) == 0
    err = capsys.readouterr().err
    assert "health_monitor.gold.fact_audit_logs: date_range: 2 row(s) left out" in err
    assert main(["tables", "--json", "--home", str(home)]) == 0
    rows = {t["full_name"]: t["rows"] for t in json.loads(capsys.readouterr().out)}
    assert rows["health_monitor.gold.fact_audit_logs"] == audit.num_rows
    assert rows["health_monitor.ops.quarantine"] == 2


def test_a_home_that_is_not_there_is_refused_not_created(tmp_path, capsys):
    typo = tmp_path / "my-acount"
    for argv in (["tables"], ["features"], ["evaluate"], ["vacuum"], ["gold"]):
        assert main([*argv, "--home", str(typo)]) == 2, argv
        err = capsys.readouterr().err
        assert f"--home {typo}: no such home" in err and "health-monitor demo" in err, argv
    assert not typo.exists()
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    assert main(["tables", "--home", str(afile)]) == 2
    assert "is a file, not a home folder" in capsys.readouterr().err


def test_gold_takes_all_or_named_tables_not_both(tmp_path, capsys):
    assert main(["gold", "--all", "--table", "fact_usage", "--home", str(tmp_path)]) == 2
    assert "gold: give --all or --table, not both" in capsys.readouterr().err


def test_the_demo_command_runs_end_to_end(tmp_path, monkeypatch, capsys):
    """The README's main command, in a subprocess, for one plugin and 45 days to keep CI short,
    in a home whose path has a space and a non-ASCII letter; then `infer` again on the home it
    left, in this process (its Spark is already up). The daily job `run` is tested through the
    command in tests/test_daily.py."""
    home = tmp_path / "my home é"
    env = {**os.environ, "HEALTH_MONITOR_PLUGINS": "cost", "HEALTH_MONITOR_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "health_monitor.cli", "demo", "--days", "45"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for expected in [
        "simulated a small account",
        "features:",
        "train:",
        "cost_anomaly_detector",
        "infer:",
        "findings:",
        "; drivers: ",  # a finding's reason names its top features (looked up for its entity only)
        "timings: simulate",
        "tables:",
        "mlflow:",
    ]:
        assert expected in out, out
    # Gold holds only what the cost plugin reads: the security plugin's audit logs are not built.
    assert "not built, as no installed plugin reads them (gold --all builds them): " in out, out
    assert "fact_audit_logs" in out.split("not built, as no installed plugin reads them")[1].splitlines()[0]
    settings = Settings(home=home)
    built = Runtime.embedded(settings).lakehouse
    assert built.exists(settings.gold("fact_usage")) and not built.exists(settings.gold("fact_audit_logs"))
    monkeypatch.setenv("HEALTH_MONITOR_PLUGINS", "cost")
    monkeypatch.setenv("HEALTH_MONITOR_HOME", str(home))
    capsys.readouterr()
    assert main(["infer"]) == 0
    again = capsys.readouterr()
    assert "cost_anomaly_detector" in again.out, again.err[-3000:]


def test_tools_lists_every_toolkit_with_described_arguments(capsys):
    assert main(["tools", "--json"]) == 0
    tools = json.loads(capsys.readouterr().out)
    installed = sorted(ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP))
    per_toolkit = {d: [t for t in tools if t["toolkit"] in (d, "all")] for d in installed}
    assert all(len(found) >= 4 for found in per_toolkit.values()), {d: len(f) for d, f in per_toolkit.items()}
    assert len({t["name"] for t in tools}) == len(tools)
    for tool in tools:
        assert tool["description"] and all(a["description"] for a in tool["arguments"].values()), tool["name"]


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            OSError(28, "No space left on device", "/h/lakehouse/x.parquet"),
            "the disk is full: /h/lakehouse/x.parquet",
        ),
        (OSError(30, "Read-only file system", "/h"), "the home is on a read-only file system: /h"),
        (
            RuntimeError(
                "Job aborted.\nCaused by: java.io.IOException: No space left on device\n\tat org.apache..."
            ),
            "the disk is full (Caused by: java.io.IOException: No space left on device)",
        ),
    ],
)
def test_a_full_disk_or_read_only_home_is_one_line(error, expected, tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("health_monitor.jobs.load_gold_into", fail)
    assert main(["load-gold", str(tmp_path), "--home", str(tmp_path / "home")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"health-monitor load-gold: error: {expected} (-v shows the stack trace)"], err


def test_other_errors_still_show_their_stack_trace(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("health_monitor.jobs.load_gold_into", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["load-gold", str(tmp_path), "--home", str(tmp_path / "home")])


def test_serve_on_a_port_in_use_says_so_at_once(tmp_path, capsys, monkeypatch):
    """One line and exit 2 before any model is warmed up (it was a traceback after warming)."""
    from health_monitor.serving.app import ScoringService

    warmed = []
    monkeypatch.setattr(ScoringService, "warm", lambda self, progress=None: warmed.append(self) or {})
    (tmp_path / "home").mkdir()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--port {port}: 127.0.0.1:{port} is in use; pick another --port" in err[0], err
    assert not warmed
