"""benchmarks/bench_history_floor.py's short copy: the facts, snapshots and feature tables cut to
the last days, the dimensions whole, the source untouched."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pyarrow as pa
import pytest

from health_monitor.config import Settings
from health_monitor.host import load_host
from health_monitor.runtime import Runtime

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_history_floor.py"
_spec = importlib.util.spec_from_file_location("bench_history_floor", _PATH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

DAY = dt.date(2025, 6, 30)
DAYS = [dt.date(2025, 6, 1) + dt.timedelta(days=i) for i in range(30)]  # June, one row a day


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)


@pytest.fixture
def source(tmp_path, spark):
    """A home with a Gold fact, a snapshot, a dimension and an installed plugin's feature table."""
    home = tmp_path / "home"
    runtime = Runtime.embedded(Settings(home=home))
    lake, settings = runtime.lakehouse, runtime.settings
    lake.write(
        settings.gold("fact_warehouse_events"),
        pa.table({"warehouse_id": [f"w{i}" for i in range(30)], "event_time": [_at(d) for d in DAYS]}),
        primary_keys=["warehouse_id"],
        description="events",
    )
    lake.write(
        settings.gold("information_schema_tables_snapshot"),
        pa.table({"table_name": ["t"] * 30, "snapshot_date": DAYS}),
    )
    lake.write(
        settings.gold("dim_job"),
        pa.table({"job_id": ["j1", "j2"], "change_time": [_at(DAYS[0]), _at(DAYS[-1])]}),
    )
    feature = next(o.spec for o in load_host().feature_tables.values() if o.spec.timestamp_key)
    column = feature.days_by or feature.timestamp_key
    lake.write(
        settings.feature_table(feature.name),
        pa.table({"key": list(range(30)), column: DAYS}),
        primary_keys=["key", column],
        timestamp_key=column,
    )
    (home / "mlflow").mkdir()
    (home / "mlflow" / "mlflow.db").write_text("registry")
    return home, feature.name


def _days(runtime: Runtime, name: str, column: str) -> list[dt.date]:
    rows = runtime.lakehouse.read(name).selectExpr(f"to_date({column}) AS d").collect()
    return sorted(r["d"] for r in rows)


def test_the_short_copy_keeps_the_last_days_of_facts_and_features_and_every_dimension_row(source, tmp_path):
    home, feature = source
    target = tmp_path / "work" / "short"
    bench.short_copy(home, target, DAY, keep_days=5)

    short, whole = Runtime.embedded(Settings(home=target)), Runtime.embedded(Settings(home=home))
    gold, features = short.settings.gold, short.settings.feature_table
    last_days = [d for d in DAYS if d >= DAY - dt.timedelta(days=5)]
    assert _days(short, gold("fact_warehouse_events"), "event_time") == last_days
    assert _days(short, gold("information_schema_tables_snapshot"), "snapshot_date") == last_days
    column = next(c for c, _ in short.lakehouse.describe(features(feature)).columns if c != "key")
    assert _days(short, features(feature), column) == last_days
    assert short.lakehouse.describe(gold("dim_job")).rows == 2  # a dimension's history stays whole
    # The table's keys and description come along (the feature store reads its keys).
    events = short.lakehouse.describe(gold("fact_warehouse_events"))
    assert events.primary_keys == ["warehouse_id"] and events.description == "events"
    assert short.lakehouse.describe(features(feature)).primary_keys == ["key", column]
    assert (target / "mlflow" / "mlflow.db").read_text() == "registry"
    # The source is left as it was.
    assert len(_days(whole, gold("fact_warehouse_events"), "event_time")) == 30
    assert len(_days(whole, features(feature), column)) == 30


def test_the_short_copy_refuses_a_folder_that_exists(source, tmp_path):
    home, _ = source
    target = tmp_path / "short"
    target.mkdir()
    with pytest.raises(SystemExit, match="exists"):
        bench.short_copy(home, target, DAY, keep_days=5)


def test_the_short_copy_names_a_home_without_gold(tmp_path):
    home = tmp_path / "home"
    (home / "mlflow").mkdir(parents=True)
    (home / "lakehouse" / "system").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no catalog folder with a gold/ schema"):
        bench.short_copy(home, tmp_path / "short", DAY, keep_days=5)
    assert not (tmp_path / "short").exists()  # refused before anything is written
