"""Quality family: data-quality monitoring results through the Gold build, and the daily snapshot
job for information_schema and workspaces_latest."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.gold.build.runner import build_gold
from health_monitor.gold.snapshot import take_snapshot
from health_monitor.simulate.rand import stream
from health_monitor.simulate.system import build_system, built
from health_monitor.simulate.system import quality as sim_quality
from health_monitor.system.reference import empty_table
from tests.system.conftest import sorted_rows

DQM = "fact_data_quality_monitoring_table_results"
TABLES = "information_schema_tables_snapshot"
COLUMNS = "information_schema_columns_snapshot"
KEYS = {
    DQM: ["table_full_name", "event_time"],
    TABLES: ["snapshot_date", "table_catalog", "table_schema", "table_name"],
    COLUMNS: ["snapshot_date", "table_catalog", "table_schema", "table_name", "column_name"],
    "dim_workspace": ["workspace_id", "change_time"],
}
SOURCES = (
    "data_quality_monitoring.table_results",
    "information_schema.tables",
    "information_schema.columns",
    "access.workspaces_latest",
)
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def quality_system(tiny_account, tiny_config):
    return built(
        sim_quality.to_system(tiny_account.gold, stream(tiny_config.seed, "system-quality"), tiny_config)
    )


def _gold(runtime, table: str) -> list[dict]:
    return sorted_rows(runtime.lakehouse.read_arrow(runtime.settings.gold(table)), KEYS[table])


def _write_gold(runtime, table: str, data: pa.Table) -> None:
    runtime.lakehouse.write(runtime.settings.gold(table), data)


# ------------------------------------------------------------------ data quality monitoring


def test_table_results_round_trip_and_incremental(system_home, tiny_account, quality_system):
    """build(to_system(gold)) == gold; a second, incremental run after more days == the full build."""
    results = quality_system["data_quality_monitoring.table_results"]
    cut = pc.less(results["event_time"], pa.scalar(dt.datetime(2025, 3, 25, tzinfo=UTC)))
    system_home.load_system({"data_quality_monitoring.table_results": results.filter(cut)})
    first = build_gold(system_home, tables=[DQM]).by_table()[DQM]
    assert first.status == "built" and first.since is None

    system_home.load_system({"data_quality_monitoring.table_results": results})
    second = build_gold(system_home, tables=[DQM]).by_table()[DQM]
    assert second.status == "incremental" and second.since == dt.date(2025, 3, 22)
    assert _gold(system_home, DQM) == sorted_rows(tiny_account.gold[DQM], KEYS[DQM])


def test_table_results_quirks(system_home):
    """A row without a freshness check, one without upstream jobs, one with two, none without
    predictions: flattened value by value."""
    t = dt.datetime(2025, 3, 1, 6, 15, tzinfo=UTC)
    last = dt.datetime(2025, 3, 1, 2, 30, 0, 900, tzinfo=UTC)
    job = lambda job_id: {"job_id": job_id, "workspace_id": "1", "job_name": "j", "last_run_status": "FAILED"}  # noqa: E731
    item = pa.struct(
        [(k, pa.string()) for k in ("job_id", "workspace_id", "job_name", "last_run_status", "run_page_url")]
    )
    n = 3
    rows = build_system(
        "data_quality_monitoring.table_results",
        {
            "event_time": pa.array([t, t, t + dt.timedelta(days=1)]),
            "catalog_name": ["main", "main", "main"],
            "schema_name": ["raw", "raw", "raw"],
            "table_name": ["a", "b", "a"],
            "status": ["Unhealthy", None, "Healthy"],
            "freshness": {
                "status": [None, "Healthy", "Healthy"],
                "commit_freshness": {
                    "status": [None, "Healthy", "Healthy"],
                    "last_value": pa.array([None, last, last]),
                    "predicted_value": pa.array([None, last, None]),
                },
            },
            "completeness": {
                "status": ["Unhealthy", "Healthy", None],
                "total_row_count": {"last_value": pa.array([100, 200, None], pa.int64())},
                "daily_row_count": {
                    "last_value": pa.array([5, 10, None], pa.int64()),
                    "min_predicted_value": pa.array([8, 9, None], pa.int64()),
                    "max_predicted_value": pa.array([12, 11, None], pa.int64()),
                },
            },
            "downstream_impact": {"num_downstream_tables": pa.array([3, None, 0], pa.int64())},
            "root_cause_analysis": {
                "upstream_jobs": pa.array([[job("7"), job("8")], [], None], pa.list_(item)),
            },
        },
        n=n,
    )
    system_home.load_system({"data_quality_monitoring.table_results": rows})
    assert build_gold(system_home, tables=[DQM]).ok
    got = _gold(system_home, DQM)
    assert [
        (
            r["table_full_name"],
            r["status"],
            r["freshness_status"],
            r["completeness_status"],
            r["hours_since_last_commit"],
            r["upstream_job_id"],
            r["num_downstream_tables"],
            r["daily_row_count_min_predicted"],
            r["total_row_count"],
        )
        for r in got
    ] == [
        ("main.raw.a", "Unhealthy", "Unknown", "Unhealthy", None, "7", 3, 8, 100),
        ("main.raw.a", "Healthy", "Healthy", "Unknown", 27.75, None, 0, None, None),
        ("main.raw.b", "Unknown", "Healthy", "Healthy", 3.75, None, None, 9, 200),
    ]
    assert got[1]["commit_freshness_predicted_value"] is None
    assert got[2]["commit_freshness_last_value"] == last


# ------------------------------------------------------------------ snapshots


def _past(gold: dict[str, pa.Table], day: dt.date) -> dict[str, pa.Table]:
    """What the simulator writes as Gold history: every snapshot before ``day``."""
    before = {t: pc.less(gold[t]["snapshot_date"], pa.scalar(day)) for t in (TABLES, COLUMNS)}
    out = {t: gold[t].filter(mask) for t, mask in before.items()}
    ws = gold["dim_workspace"]
    start = dt.datetime.combine(day, dt.time.min, tzinfo=UTC)
    out["dim_workspace"] = ws.filter(pc.less(ws["change_time"], pa.scalar(start)))
    return out


def test_snapshot_of_the_last_day_reproduces_gold(system_home, tiny_account, tiny_config, quality_system):
    """take_snapshot on the current system tables appends the simulated Gold's last day, value by
    value; a second run the same day changes no content."""
    system_home.load_system({k: v for k, v in quality_system.items() if k != SOURCES[0]})
    for table, data in _past(tiny_account.gold, tiny_config.end_date).items():
        _write_gold(system_home, table, data)

    report = take_snapshot(system_home, tiny_config.end_date)
    assert report.ok and not report.skipped
    gold = tiny_account.gold
    last_day = pc.equal(gold[TABLES]["snapshot_date"], pa.scalar(tiny_config.end_date))
    assert report[TABLES] == pc.sum(last_day).as_py() == 36
    assert report["dim_workspace"] == 0  # nothing changed since the last version
    expected = {t: sorted_rows(gold[t], KEYS[t]) for t in (TABLES, COLUMNS, "dim_workspace")}
    for table, rows in expected.items():
        assert _gold(system_home, table) == rows, table

    versions = {t: system_home.lakehouse.version(system_home.settings.gold(t)) for t in expected}
    again = take_snapshot(system_home, tiny_config.end_date)
    assert dict(again) == dict(report)
    for table, rows in expected.items():
        assert _gold(system_home, table) == rows, table
        assert system_home.lakehouse.version(system_home.settings.gold(table)) == versions[table] + 1


def test_snapshot_filters_and_renumbers(system_home):
    """Only monitored catalogs and schemas are kept; 0-based ordinals become 1-based per table."""
    created = dt.datetime(2025, 1, 1, tzinfo=UTC)
    places = [
        ("main", "sales"),
        ("system", "billing"),
        ("__databricks_internal", "x"),
        ("main", "information_schema"),
    ]
    tables = build_system(
        "information_schema.tables",
        {
            "table_catalog": [c for c, _ in places],
            "table_schema": [s for _, s in places],
            "table_name": ["orders"] * 4,
            "table_type": ["MANAGED", "MANAGED", "MANAGED", "VIEW"],
            "table_owner": ["a@x.com"] * 4,
            "created": pa.array([created] * 4),
            "created_by": ["a@x.com"] * 4,
            "last_altered": pa.array([created] * 4),
            "last_altered_by": ["a@x.com"] * 4,
            "data_source_format": ["DELTA", "DELTA", "DELTA", None],
        },
    )
    columns = build_system(
        "information_schema.columns",
        {
            "table_catalog": ["main", "main", "main", "system"],
            "table_schema": ["sales", "sales", "information_schema", "billing"],
            "table_name": ["orders"] * 4,
            "column_name": ["id", "amount", "x", "y"],
            "ordinal_position": pa.array([0, 1, 0, 0], pa.int32()),
            "is_nullable": ["NO", "YES", "YES", "YES"],
            "full_data_type": ["bigint", "decimal(18,2)", "string", "string"],
            "data_type": ["LONG", "DECIMAL", "STRING", "STRING"],
        },
    )
    system_home.load_system({"information_schema.tables": tables, "information_schema.columns": columns})
    day = dt.date(2025, 3, 3)
    report = take_snapshot(system_home, day)
    assert report[TABLES] == 1 and report[COLUMNS] == 2
    assert [
        (r["table_catalog"], r["table_schema"], r["snapshot_date"]) for r in _gold(system_home, TABLES)
    ] == [("main", "sales", day)]
    assert [(r["column_name"], r["ordinal_position"]) for r in _gold(system_home, COLUMNS)] == [
        ("amount", 2),
        ("id", 1),
    ]


def _workspaces(names: list[str], status: str = "RUNNING") -> pa.Table:
    return build_system(
        "access.workspaces_latest",
        {
            "account_id": ["acc"] * len(names),
            "workspace_id": [str(1000 + i) for i in range(len(names))],
            "workspace_name": names,
            "workspace_url": [f"https://{n}.cloud.databricks.com/" for n in names],
            "create_time": pa.array([dt.datetime(2024, 5, 1, 12, tzinfo=UTC)] * len(names)),
            "status": [status] * len(names),
        },
    )


def test_renamed_workspace_gets_a_new_version(system_home):
    system_home.load_system({"access.workspaces_latest": _workspaces(["alpha", "beta"])})
    first = take_snapshot(system_home, dt.date(2025, 3, 1))
    assert first["dim_workspace"] == 2
    assert first.skipped.keys() == {TABLES, COLUMNS}  # no information_schema loaded
    rows = _gold(system_home, "dim_workspace")
    assert [
        (r["workspace_name"], r["change_time"], r["cloud"], r["region"], r["is_current"]) for r in rows
    ] == [
        ("alpha", dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "AWS", None, True),
        ("beta", dt.datetime(2024, 5, 1, 12, tzinfo=UTC), "AWS", None, True),
    ]

    system_home.load_system({"access.workspaces_latest": _workspaces(["alpha", "beta-2"])})
    day = dt.date(2025, 3, 2)
    assert take_snapshot(system_home, day)["dim_workspace"] == 1
    rows = _gold(system_home, "dim_workspace")
    end_of_day = dt.datetime.combine(day, dt.time.max, tzinfo=UTC)
    assert [(r["workspace_id"], r["workspace_name"], r["change_time"], r["is_current"]) for r in rows] == [
        ("1000", "alpha", dt.datetime(2024, 5, 1, 12, tzinfo=UTC), True),
        ("1001", "beta", dt.datetime(2024, 5, 1, 12, tzinfo=UTC), False),
        ("1001", "beta-2", end_of_day, True),
    ]

    # The same day again, the rename undone: that day's version is replaced, not kept.
    system_home.load_system({"access.workspaces_latest": _workspaces(["alpha", "beta"])})
    assert take_snapshot(system_home, day)["dim_workspace"] == 0
    assert [r["is_current"] for r in _gold(system_home, "dim_workspace")] == [True, True]
    # A day before the latest version cannot be inserted.
    system_home.load_system({"access.workspaces_latest": _workspaces(["alpha", "beta-3"])})
    take_snapshot(system_home, day)
    late = take_snapshot(system_home, dt.date(2025, 3, 1))
    assert "dim_workspace" not in late and "cannot go before them" in late.skipped["dim_workspace"]


def test_missing_workspaces_latest_is_reported(system_home, quality_system):
    system_home.load_system({k: quality_system[k] for k in SOURCES[1:3]})
    report = take_snapshot(system_home, dt.date(2025, 3, 31))
    assert report.ok and report[TABLES] == 36
    assert report.skipped == {
        "dim_workspace": "system.access.workspaces_latest is not loaded, so dim_workspace has no snapshot "
        "for 2025-03-31"
    }
    assert not system_home.lakehouse.exists(system_home.settings.gold("dim_workspace"))


def test_empty_sources_build_empty_tables(system_home):
    system_home.load_system({name: empty_table(name) for name in SOURCES})
    assert build_gold(system_home, tables=[DQM]).by_table()[DQM].rows == 0
    report = take_snapshot(system_home, dt.date(2025, 3, 31))
    assert dict(report) == {TABLES: 0, COLUMNS: 0, "dim_workspace": 0} and not report.skipped
    for table in (DQM, TABLES, COLUMNS, "dim_workspace"):
        assert system_home.lakehouse.describe(system_home.settings.gold(table)).rows == 0


def test_snapshot_date_in_the_future_is_refused(system_home):
    from health_monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="in the future"):
        take_snapshot(system_home, dt.date.today() + dt.timedelta(days=2))


def test_snapshot_breaking_the_contract_writes_nothing(system_home):
    bad = build_system(
        "information_schema.tables", {"table_catalog": ["main"], "table_schema": ["s"], "table_name": ["t"]}
    )
    system_home.load_system({"information_schema.tables": bad})
    report = take_snapshot(system_home, dt.date(2025, 3, 31))
    assert not report.ok and "null value(s) in a non-nullable column" in report.failed[TABLES]
    assert not system_home.lakehouse.exists(system_home.settings.gold(TABLES))
