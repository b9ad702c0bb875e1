"""`health-monitor labels import`: a real account's known incidents become the ground truth its
detectors are evaluated on; bad files are refused whole, naming the row and the field."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from health_monitor.cli import main
from health_monitor.errors import ConfigError, SchemaError
from health_monitor.pipelines import run_features, run_train
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import Labels
from health_monitor.system.labels import import_labels, incident_types
from tests.fakes import START, FakePlugin, anomaly_model, write_fake_gold


def spike_labels(tables):
    """1 on the entity-days of a known ``fake_spike`` incident: read the way the plugins do."""
    if not tables.has_ground_truth():
        return None
    incidents = tables.ground_truth("incidents").where(F.col("incident_type") == "fake_spike")
    last = F.to_date(F.col("end_time") - F.expr("INTERVAL 1 MICROSECOND"))
    days = incidents.select(
        F.col("entity_id").alias("entity"), F.explode(F.sequence(F.to_date("start_time"), last)).alias("day")
    ).withColumn("label", F.lit(1))
    keys = tables.features("fake_features").select("entity", "day")
    return keys.join(days, ["entity", "day"], "left").select(
        "entity", "day", F.coalesce("label", F.lit(0)).alias("label")
    )


class LabelledPlugin(FakePlugin):
    """The fake anomaly detector, evaluated on ``fake_spike`` incidents (entities are workspaces)."""

    def __init__(self):
        super().__init__(models=[anomaly_model()])

    @hookimpl
    def register_labels(self, register):
        register(
            Labels(
                "fake_anomaly", spike_labels, incidents={"fake_spike": "workspace", "fake_job_stuck": "job"}
            )
        )


@pytest.fixture
def host(make_host):
    return make_host({"fake": LabelledPlugin()})


def day(n: int) -> str:
    return (START + dt.timedelta(days=n)).isoformat()


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def incidents(runtime):
    return runtime.lakehouse.read_arrow(runtime.settings.ground_truth("incidents")).to_pandas()


def test_the_incident_types_are_what_installed_labels_declare(host):
    types = incident_types(host)
    assert set(types) == {"fake_spike", "fake_job_stuck"}
    assert types["fake_spike"].entity_kind == "workspace" and types["fake_spike"].models == ("fake_anomaly",)
    assert types["fake_spike"].domain == "cost"  # the model's domain


def test_labels_declare_known_entity_kinds():
    with pytest.raises(SchemaError, match="entity of incident type 'x_y' must be one of"):
        Labels("some_model", spike_labels, incidents={"x_y": "galaxy"})
    with pytest.raises(SchemaError, match="incident type must be lower_snake_case"):
        Labels("some_model", spike_labels, incidents={"Bad Type": "job"})


def test_import_a_csv_then_train_evaluates_the_detector(hm_runtime, host, tmp_path):
    write_fake_gold(hm_runtime)
    run_features(hm_runtime, host, progress=False)
    assert not hm_runtime.tables.has_ground_truth()  # a real account: trained, not evaluated

    path = write(
        tmp_path,
        "known.csv",
        "type,entity,start,end,workspace_id,severity,description\n"
        f"fake_spike,e1,{day(31)},{day(33)},,high,billing alert\n"
        f"fake_spike,e2,{day(36)},,,,\n"
        "\n",  # a blank line is skipped
    )
    result = import_labels(hm_runtime, host, path)
    assert (result.imported, result.replaced, result.kept) == (2, 0, 0)
    assert result.models == ("fake_anomaly",)
    rows = incidents(hm_runtime).sort_values("start_time")
    assert rows["entity_type"].tolist() == ["workspace", "workspace"]
    assert rows["workspace_id"].tolist() == ["e1", "e2"]  # a workspace incident is its own workspace
    assert rows["severity"].tolist() == ["high", "medium"]
    # An end day is inclusive: the stored end is the midnight after it (the simulator's convention).
    first = rows.iloc[0]
    assert (first["end_time"] - first["start_time"]).days == 3
    assert hm_runtime.tables.has_ground_truth()

    train = run_train(hm_runtime, host, progress=False)
    details = train.items[0].details
    assert details["verdict"] != "not evaluated" and details["metrics"], details


def test_importing_again_merges_by_id_and_replace_starts_over(hm_runtime, host, tmp_path):
    write_fake_gold(hm_runtime)
    first = write(tmp_path, "a.yaml", f"incidents:\n  - {{type: fake_spike, entity: e1, start: {day(3)}}}\n")
    import_labels(hm_runtime, host, first)
    again = write(
        tmp_path,
        "b.yaml",
        "incidents:\n"
        f"  - {{type: fake_spike, entity: e1, start: {day(3)}, severity: low}}\n"  # same id: replaces
        f"  - {{type: fake_job_stuck, entity: '42', workspace_id: e3, start: '{day(5)}T06:00:00Z',"
        f" end: '{day(5)}T09:30:00Z', id: OPS-7}}\n",
    )
    result = import_labels(hm_runtime, host, again)
    assert (result.imported, result.replaced, result.kept) == (2, 1, 0)
    rows = incidents(hm_runtime).set_index("incident_id")
    assert len(rows) == 2 and rows.loc["OPS-7", "entity_type"] == "job"
    assert (rows.loc["OPS-7", "end_time"] - rows.loc["OPS-7", "start_time"]) == dt.timedelta(
        hours=3, minutes=30
    )
    assert (rows["severity"] == "low").sum() == 1
    result = import_labels(hm_runtime, host, first, replace=True)
    assert (result.imported, result.kept) == (1, 0) and len(incidents(hm_runtime)) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("type,entity\nfake_spike,e1\n", r"line \d: start is required"),
        ("type,entity,start,colour\nfake_spike,e1,2026-01-02,red\n", r"unknown field\(s\) \['colour'\]"),
        (
            "type,entity,start\nfake_unknown,e1,2026-01-02\n",
            r"line \d: type 'fake_unknown' is not an incident type",
        ),
        (
            "type,entity,start\nfake_spike,e1,02/01/2026\n",
            r"line \d: start: cannot read '02/01/2026' as a day",
        ),
        ("type,entity,start,end\nfake_spike,e1,2026-01-05,2026-01-02\n", r"end must be on or after start"),
        ("type,entity,start\nfake_job_stuck,42,2026-01-02\n", r"workspace_id is required for a job incident"),
        ("type,entity,start,severity\nfake_spike,e1,2026-01-02,urgent\n", r"severity must be one of"),
        (
            "type,entity,start,id\nfake_spike,e1,2026-01-02,X\nfake_spike,e2,2026-01-02,X\n",
            r"\['X'\] appear more",
        ),
        ("type,entity,start\n", r"no incidents in it"),
        ("type,entity,start\nfake_spike,e1,2026-01-02,extra\n", r"line \d: more cells than the header"),
    ],
)
def test_a_bad_file_is_refused_whole_and_writes_nothing(hm_runtime, host, tmp_path, text, message):
    good = write(tmp_path, "good.csv", "type,entity,start\nfake_spike,e0,2026-01-09\n")
    import_labels(hm_runtime, host, good)
    before = incidents(hm_runtime)
    header, _, body = text.partition("\n")
    if header.startswith("type,entity,start") and body:  # a good first row: the whole file is refused
        text = f"{header}\nfake_spike,e3,2026-01-04\n{body}"
    bad = write(tmp_path, "bad.csv", text)
    with pytest.raises(ConfigError, match=message):
        import_labels(hm_runtime, host, bad)
    assert incidents(hm_runtime).equals(before)


def test_bad_yaml_and_suffix_name_the_file(hm_runtime, host, tmp_path):
    for name, text, message in [
        ("x.yaml", "- type: fake_spike\n", "one key, 'incidents'"),
        ("x.yml", "incidents: [1]\n", r"incidents\[0\]: expected a mapping"),
        (
            "x.yaml",
            "incidents: [{type: fake_spike, entity: e1, start: 2026-01-02, when: now}]",
            r"\['when'\]",
        ),
        ("x.json", "{}", "expected a .csv, .yaml or .yml file"),
    ]:
        with pytest.raises(ConfigError, match=message):
            import_labels(hm_runtime, host, write(tmp_path, name, text))
    with pytest.raises(ConfigError, match="no such file"):
        import_labels(hm_runtime, host, tmp_path / "missing.csv")
    assert not hm_runtime.lakehouse.exists(hm_runtime.settings.ground_truth("incidents"))


def test_the_command_imports_and_lists_types(hm_settings, tmp_path, capsys, monkeypatch):
    """The CLI with the installed plugins: a type they read is accepted, and listed."""
    monkeypatch.setenv("HEALTH_MONITOR_HOME", str(hm_settings.home))
    hm_settings.home.mkdir(parents=True, exist_ok=True)
    assert main(["labels", "types", "--json"]) == 0
    import json

    types = json.loads(capsys.readouterr().out)
    assert types, "the installed plugins declare no incident type"
    first = types[0]
    workspace = "" if first["entity_kind"] in ("user", "table") else "1234"
    path = write(
        tmp_path, "mine.csv", f"type,entity,start,workspace_id\n{first['name']},1234,2026-03-01,{workspace}\n"
    )
    assert main(["labels", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "imported 1 incident(s)" in out and first["name"] in out
    assert main(["labels", "import", str(tmp_path / "nope.csv")]) != 0
    assert "no such file" in capsys.readouterr().err


# -- verdicts on findings ------------------------------------------------------------------------


@pytest.fixture
def judged_home(hm_runtime):
    """A home holding three stored findings, written as `health-monitor findings` writes them."""
    import pyarrow as pa

    from health_monitor.reports.findings import SCHEMA, findings_table

    day0 = dt.date(2026, 11, 2)
    rows = [
        {
            "finding_id": fid,
            "entity_kind": kind,
            "entity_id": entity,
            "state": "open",
            "severity": "high",
            "score": 1.0,
            "domains": ["security"],
            "models": models,
            "reason": "r",
            "action": "a",
            "signals": "[]",
            "first_seen": day0,
            "last_seen": day0,
            "resolved_on": None,
        }
        for fid, kind, entity, models in [
            ("aaaa000000000001", "user", "alice@acme.com", ["threat_model", "egress_model"]),
            ("aaaa000000000002", "user", "bob@acme.com", ["threat_model"]),
            ("aaaa000000000003", "warehouse", "w1", ["slow_model"]),
        ]
    ]
    hm_runtime.lakehouse.write(findings_table(hm_runtime), pa.Table.from_pylist(rows, schema=SCHEMA))
    return hm_runtime


def test_verdicts_on_findings_give_each_model_its_share_of_true_alarms(
    judged_home, tmp_path, capsys, monkeypatch
):
    from health_monitor.reports.feedback import feedback_by_model, import_feedback

    path = write(
        tmp_path,
        "verdicts.csv",
        "finding_id,verdict,by,note\naaaa000000000001,true,oncall,phished\naaaa000000000002,false,,a new laptop\n",
    )
    monkeypatch.setenv("HEALTH_MONITOR_HOME", str(judged_home.settings.home))
    assert main(["labels", "import", str(path)]) == 0
    assert "2 verdict(s)" in capsys.readouterr().out
    assert feedback_by_model(judged_home) == {
        "egress_model": {"true_alarms": 1, "false_alarms": 0, "precision": 1.0},
        "threat_model": {"true_alarms": 1, "false_alarms": 1, "precision": 0.5},
    }
    # A later verdict on the same finding replaces the earlier one.
    again = write(tmp_path, "again.yaml", "feedback:\n  - {finding_id: aaaa000000000002, verdict: true}\n")
    result = import_feedback(judged_home, again)
    assert (result.imported, result.replaced, result.true_alarms) == (1, 1, 1)
    assert feedback_by_model(judged_home)["threat_model"]["precision"] == 1.0


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "finding_id,verdict\nffff000000000009,true\n",
            r"line 2: finding_id 'ffff000000000009' is not a stored",
        ),
        ("finding_id,verdict\naaaa000000000001,maybe\n", r"line 2: verdict must be true .* or false"),
        ("finding_id,verdict\naaaa000000000001,\n", r"line 2: verdict is required"),
        ("finding_id,verdict,colour\naaaa000000000001,true,red\n", r"unknown column\(s\) \['colour'\]"),
        ("finding_id,verdict\naaaa000000000001,true\naaaa000000000001,false\n", "judged more than once"),
    ],
)
def test_a_bad_verdict_file_is_refused_whole(judged_home, tmp_path, text, message):
    from health_monitor.reports.feedback import import_feedback

    with pytest.raises(ConfigError, match=message):
        import_feedback(judged_home, write(tmp_path, "v.csv", text))
    assert not judged_home.lakehouse.exists(judged_home.settings.ground_truth("finding_feedback"))
