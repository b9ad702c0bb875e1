"""The daily run (``health-monitor run``): after the account lives more days, it recomputes only
the days that changed, and its tables equal a full recompute's."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.jobs import DailySettings, advance_into, run_daily
from health_monitor.lakehouse.spark import sql_settings
from health_monitor.pipelines import refresh, run_features, run_infer
from health_monitor.runtime import Runtime

# minutes: a trained home advanced and brought up to date, then recomputed in full
pytestmark = pytest.mark.heavy

NO_TRAIN_NO_VACUUM = DailySettings(train_every_days=None, retain_days=None)


def copy_home(runtime: Runtime, to, workers: int = 1) -> Runtime:
    shutil.copytree(runtime.settings.home, to)
    return Runtime.embedded(Settings(home=to, workers=workers))


def frame(runtime: Runtime, name: str) -> pd.DataFrame:
    df = runtime.lakehouse.read_arrow(name).to_pandas().drop(columns=["scored_at"], errors="ignore")
    for column in df.columns:
        if df[column].dtype == object:  # lists, maps and structs compare as text
            df[column] = df[column].map(lambda v: json.dumps(v, default=str, sort_keys=True))
    keys = runtime.lakehouse.describe(name).primary_keys or list(df.columns)
    return df.sort_values(keys).reset_index(drop=True)


def differences(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{len(a)} rows != {len(b)} rows"]
    out = []
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_float_dtype(x):
            same = np.isclose(x.astype(float), y.astype(float), rtol=1e-9, atol=1e-12, equal_nan=True)
        else:
            same = (x.astype(str) == y.astype(str)).to_numpy()
        if not same.all():
            out.append(f"{column}: {int((~same).sum())} row(s) differ")
    return out


# The full recompute's shuffles: two partitions each, and no adaptive execution, which may coalesce
# small shuffles into fewer partitions (1 MB each at least). The embedded home's own settings (4
# partitions, adaptive) cost 141-143 s against 120 s: docs/scale.md, "The daily-run test's full
# recompute (session 26)".
SPREAD = {"spark.sql.shuffle.partitions": "2", "spark.sql.adaptive.enabled": "false"}


def partitioned_apart(runtime: Runtime):
    """Every shuffle of the block in two partitions on this session (the test kit runs Spark with
    one: health_monitor.testing.fixtures)."""
    return sql_settings(runtime.lakehouse.spark, SPREAD)


def written_tables(runtime: Runtime, host) -> list[str]:
    s = runtime.settings
    names = [s.feature_table(n) for n in sorted(host.feature_tables)]
    names += [s.predictions(n) for n in sorted(host.models)]
    return [n for n in names if runtime.lakehouse.exists(n)]


@pytest.fixture(scope="module")
def after_daily_run(trained_home, tmp_path_factory):
    """The trained home, two days later, brought up to date by the daily run, two feature tables or
    models at a time (the full recompute it is compared with computes one at a time)."""
    runtime, host, _ = trained_home
    daily = copy_home(runtime, tmp_path_factory.mktemp("daily") / "home", workers=2)
    advance_into(daily, 2)
    result = run_daily(daily, host, NO_TRAIN_NO_VACUUM)
    return daily, host, result


def test_the_daily_run_recomputes_only_recent_days(after_daily_run):
    daily, host, result = after_daily_run
    assert result.ok, [(i.stage, i.item, i.error) for r in result.reports for i in r.failed]
    assert result.details["gold"].ok
    features, models = result.details["feature_plan"], result.details["model_plan"]
    assert set(features) == set(host.feature_tables)  # the new days touch every feature table
    incremental = {n for n, since in features.items() if since is not None}
    # Only tables without days (no timestamp key, no day column) are recomputed whole.
    assert {n for n in features if n not in incremental} == {
        n for n, o in host.feature_tables.items() if o.spec.days_by is None
    }
    assert sum(since is not None for since in models.values()) >= len(host.models) // 2
    items = {i.item: i.details for r in result.reports if r.stage == "features" for i in r.items}
    for name in incremental:
        assert items[name]["recomputed"] < items[name]["rows"], name  # not the whole history


def test_the_daily_run_equals_a_full_recompute(after_daily_run, tmp_path):
    """The full recompute spreads every shuffle over two partitions (the daily run under the test
    kit's single partition): equal tables also mean that no table depends on how Spark
    partitions its rows."""
    daily, host, _ = after_daily_run
    full = copy_home(daily, tmp_path / "full")
    with partitioned_apart(full):
        assert run_features(full, host, progress=False).ok
        assert run_infer(full, host, progress=False).ok
    differing = {}
    for name in written_tables(daily, host):
        problems = differences(frame(daily, name), frame(full, name))
        if problems:
            differing[name] = problems
    assert not differing


def test_a_second_run_with_nothing_new_does_nothing(after_daily_run, tmp_path, capsys):
    """Through the command, as the scheduler runs it."""
    daily, host, _ = after_daily_run
    again = copy_home(daily, tmp_path / "again")
    before = {n: again.lakehouse.version(n) for n in written_tables(again, host)}
    assert main(["run", "--no-train", "--no-vacuum", "--home", str(again.settings.home)]) == 0
    out = capsys.readouterr().out
    assert "features: nothing changed" in out and "infer: nothing changed" in out, out
    assert re.search(r"findings: \d+ open as of \d{4}-\d\d-\d\d, 0 new, 0 resolved", out), out
    assert {n: again.lakehouse.version(n) for n in before} == before


def test_a_whole_rewrite_of_a_fact_table_means_a_full_recompute(after_daily_run, tmp_path):
    daily, host, _ = after_daily_run
    home = copy_home(daily, tmp_path / "rewritten")
    gold = home.settings.gold("fact_audit_logs")
    home.lakehouse.write(gold, home.lakehouse.read_arrow(gold))  # same rows, no changed_since
    consumer = home.settings.feature_table("security_features")
    assert refresh.changed_since(home, consumer, lambda: None) == refresh.FULL
    untouched = home.settings.feature_table("cost_features")
    assert refresh.changed_since(home, untouched, lambda: None) is None


def test_a_feature_table_whose_columns_changed_is_rewritten_whole(after_daily_run, tmp_path):
    """A plugin release that adds a feature column: the daily run cannot replace recent days of a
    table whose older rows lack it, so it rewrites the table whole, as a full recompute would."""
    daily, host, _ = after_daily_run
    home = copy_home(daily, tmp_path / "reshaped")
    name = home.settings.feature_table("cost_features")
    info = home.lakehouse.describe(name)
    old = home.lakehouse.read_arrow(name)
    dropped = next(c for c in old.column_names if c not in info.primary_keys)
    home.lakehouse.write(
        name, old.drop_columns([dropped]), primary_keys=info.primary_keys, timestamp_key=info.timestamp_key
    )
    last_day = max(old.column(info.timestamp_key).to_pylist())
    report = run_features(home, host, progress=False, plan={"cost_features": last_day})
    assert report.ok, [(i.item, i.error) for i in report.failed]
    (item,) = report.items
    assert item.details["rewritten"].startswith("whole") and "since" not in item.details
    assert dropped in home.lakehouse.read(name).columns
    assert differences(frame(home, name), frame(daily, name)) == []


def test_a_consumer_never_recorded_is_recomputed_whole(hm_runtime):
    assert refresh.changed_since(hm_runtime, "health_monitor.features.x", lambda: None) == refresh.FULL
