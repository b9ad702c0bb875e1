"""Access family: audit, lineage and query history, from system tables to Gold and back."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.gold.build.runner import build_gold
from health_monitor.gold.contract import GOLD_TABLES
from health_monitor.simulate.system import access, build_system, built
from health_monitor.system.reference import system_table
from tests.system.conftest import sorted_rows

TABLES = ["fact_audit_logs", "fact_table_lineage", "fact_query_history"]
SOURCES = ["access.audit", "access.table_lineage", "query.history"]
UTC = dt.timezone.utc


def _system(account, gold=None) -> dict[str, pa.Table]:
    return built(access.to_system(gold or account.gold, np.random.default_rng(5), account.config))


def _gold(runtime, table: str) -> pa.Table:
    return runtime.lakehouse.read_arrow(runtime.settings.gold(table))


def _assert_same(runtime, expected: dict[str, pa.Table]) -> None:
    for table, want in expected.items():
        keys = list(GOLD_TABLES[table].primary_key)
        got = sorted_rows(_gold(runtime, table), keys)
        assert got == sorted_rows(want, keys), table


# ------------------------------------------------------------------------------ round trip


CUTOFF = dt.datetime(2025, 3, 25, 12, tzinfo=UTC)
TIME_OF = {"access.audit": "event_time", "access.table_lineage": "event_time", "query.history": "end_time"}


def _before(table: pa.Table, column: str, cutoff: dt.datetime) -> pa.Table:
    return table.filter(pc.less(table[column], pa.scalar(cutoff, table.schema.field(column).type)))


def test_round_trip_full_then_incremental(tiny_account, system_home):
    """A full build of the system tables as they stood at CUTOFF gives the simulated Gold known by
    then; an incremental build once the rest has arrived gives all of the simulated Gold, the same
    rows as a full rebuild; a build with nothing new rebuilds nothing."""
    # One statement runs across the cutoff from four days before it: a build by start_time would
    # keep it in the frozen days and lose it.
    gold = {t: tiny_account.gold[t] for t in TABLES}
    q = gold["fact_query_history"]
    long_one = pc.index(
        pc.greater_equal(q["end_time"], pa.scalar(CUTOFF, q.schema.field("end_time").type)), True
    )
    start = q["start_time"].to_numpy().copy()
    start[long_one.as_py()] -= np.timedelta64(4, "D")
    gold["fact_query_history"] = q.set_column(
        q.schema.get_field_index("start_time"),
        "start_time",
        pa.array(start, q.schema.field("start_time").type),
    )
    system = _system(tiny_account, gold)
    for name, table in system.items():
        assert table.schema.equals(system_table(name).arrow_schema()), name

    system_home.load_system({name: _before(t, TIME_OF[name], CUTOFF) for name, t in system.items()})
    first = build_gold(system_home, tables=TABLES, progress=False)
    assert {(s.status, s.since) for s in first.steps} == {("built", None)}
    _assert_same(system_home, {t: _before(gold[t], GOLD_TABLES[t].time_column, CUTOFF) for t in TABLES})

    system_home.load_system(system)
    second = build_gold(system_home, tables=TABLES, progress=False)
    assert {(s.status, s.since) for s in second.steps} == {("incremental", dt.date(2025, 3, 23))}
    _assert_same(system_home, gold)

    third = build_gold(system_home, tables=TABLES, progress=False)
    assert {s.status for s in third.steps} == {"unchanged"}
    rebuilt = build_gold(system_home, tables=TABLES, full=True, progress=False)
    assert {(s.status, s.since) for s in rebuilt.steps} == {("built", None)}
    _assert_same(system_home, gold)


def test_simulated_tables_carry_the_quirks(tiny_account):
    system = _system(tiny_account)
    audit, lineage, queries = (system[s] for s in SOURCES)
    assert pc.sum(pc.equal(audit["workspace_id"], "0")).as_py() > 0
    # Some job writes name their job only in entity_metadata.
    only_meta = lineage.filter(pc.is_null(lineage["entity_type"]))
    assert only_meta.num_rows > 0
    job_info = pc.struct_field(only_meta["entity_metadata"], "job_info")
    assert pc.all(pc.is_valid(pc.struct_field(job_info, "job_id"))).as_py()
    # Newer columns are NULL on the rows older than the day they appeared, set after it.
    for table, column, time in (
        (lineage, "direct_access", "event_date"),
        (queries, "read_files_bytes", "start_time"),
    ):
        null = pc.is_null(table[column])
        older, newer = table.filter(null)[time], table.filter(pc.invert(null))[time]
        assert len(older) and len(newer) and pc.max(older).as_py() < pc.min(newer).as_py(), column
    assert queries.schema.field("read_io_cache_percent").type == pa.int8()
    cached = queries.filter(queries["from_result_cache"])
    assert pc.any(pc.not_equal(cached["cache_origin_statement_id"], cached["statement_id"])).as_py()


# ------------------------------------------------------------------------------ quirks, by hand


def _t(day: int, hour: int, minute: int = 0, ms: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC) + dt.timedelta(milliseconds=ms)


WS = "1234567890123456"
AUDIT = {
    "account_id": ["acc"] * 3,
    "workspace_id": ["0", WS, WS],
    "version": ["2.0"] * 3,
    "event_time": [_t(2, 10, 0, 123), _t(2, 11, 30), _t(3, 1, 5)],
    "event_date": [dt.date(2025, 3, 2), dt.date(2025, 3, 2), dt.date(2025, 3, 3)],
    "source_ip_address": ["10.0.0.1", "185.220.101.7", None],
    "user_agent": ["Mozilla/5.0", "python-requests/2.31.0", None],
    "session_id": [None, "s-1", None],
    "user_identity": {
        "email": ["admin@acme.com", "eve@acme.com", None],
        "subject_name": [None, None, "svc-app"],
    },
    "service_name": ["accountsAccessControl", "unityCatalog", "unityCatalog"],
    "action_name": ["getRuleSet", "getTable", "metadataSnapshot"],
    "request_id": ["r-1", "r-2", "r-3"],
    "request_params": [[("user", "admin@acme.com")], [("full_name_arg", "main.sales.orders")], None],
    "response": {
        "status_code": [200, 403, 200],
        "error_message": [None, "PERMISSION_DENIED: User does not have SELECT on main.sales.orders", None],
        "result": [None, None, '{"ok":true}'],
    },
    "audit_level": ["ACCOUNT_LEVEL", "WORKSPACE_LEVEL", None],
    "event_id": ["a" * 32, "b" * 32, "c" * 32],
    "identity_metadata": {"run_by": [None, "eve@acme.com", None], "run_as": [None, "eve@acme.com", None]},
}
LINEAGE = {
    "account_id": ["acc"] * 4,
    "metastore_id": ["ms"] * 4,
    "workspace_id": [WS] * 4,
    "entity_type": [None, "NOTEBOOK", None, "NOTEBOOK"],
    "entity_id": [None, "333", None, "nb-1"],
    "entity_run_id": [None, "cmd-1", None, None],
    "source_table_full_name": ["main.raw.orders", None, "main.sales.orders", "main.sales.orders"],
    "source_table_catalog": ["main", None, "main", "main"],
    "source_table_schema": ["raw", None, "sales", "sales"],
    "source_table_name": ["orders", None, "orders", "orders"],
    "source_path": [None, "s3://landing/events/", None, None],
    "source_type": ["TABLE", "PATH", "VIEW", "TABLE"],
    "target_table_full_name": ["main.sales.orders", "main.raw.events", None, None],
    "target_table_catalog": ["main", "main", None, None],
    "target_table_schema": ["sales", "raw", None, None],
    "target_table_name": ["orders", "events", None, None],
    "target_type": ["TABLE", "TABLE", None, None],
    "created_by": ["etl-sp", "ana@acme.com", "ana@acme.com", "ana@acme.com"],
    "event_time": [_t(2, 3), _t(2, 9), _t(2, 10), _t(3, 10)],
    "event_date": [dt.date(2025, 3, 2)] * 3 + [dt.date(2025, 3, 3)],
    "record_id": ["l1", "l2", "l3", "l4"],
    "event_id": ["e1", "e2", "e3", "e4"],
    "statement_id": [None, None, "st-1", None],
    "entity_metadata": {
        # A job running a notebook: both named, the job wins.
        "job_info": {"job_id": ["111", None, None, "5"], "job_run_id": ["222", None, None, "6"]},
        "notebook_id": ["nb-9", "333", None, None],
        "sql_query_id": [None, None, "q-1", None],
    },
    "direct_access": [None, True, False, True],
}
QUERIES = {
    "account_id": ["acc"] * 4,
    "workspace_id": [WS] * 4,
    "statement_id": ["s1", "s2", "s3", "s4"],
    "executed_by": ["etl-sp", "ana@acme.com", "ana@acme.com", "ana@acme.com"],
    "session_id": ["x1", "x2", None, "x4"],
    "execution_status": ["FINISHED", "FINISHED", "FAILED", "RUNNING"],
    "compute": {
        "type": ["WAREHOUSE", "WAREHOUSE", "SERVERLESS_COMPUTE", "WAREHOUSE"],
        "warehouse_id": ["w1", "w1", None, "w1"],
    },
    "executed_by_user_id": ["1", "2", "2", "2"],
    "statement_text": ["MERGE INTO t USING s ON ...", "REFRESH METRIC VIEW m", "SELECT 1/0", "SELECT 1"],
    "statement_type": ["MERGE", "REFRESH_METRIC_VIEW", "SELECT", "SELECT"],
    "error_message": [None, None, "[DIVIDE_BY_ZERO] Division by zero", None],
    "client_application": ["dbt", "Databricks SQL Dashboard", None, None],
    "total_duration_ms": [60_000, 1_500, 20, None],
    "waiting_for_compute_duration_ms": [0, 0, None, None],
    "waiting_at_capacity_duration_ms": [100, 0, None, None],
    "execution_duration_ms": [59_000, 1_400, None, None],
    "compilation_duration_ms": [900, 100, 20, None],
    # Started three days before it ended: counted on its end day.
    "start_time": [_t(1, 23, 59), _t(2, 8), _t(2, 9), _t(3, 9)],
    "end_time": [_t(2, 0, 0, 999), _t(2, 8, 0, 1_500), _t(2, 9, 0, 20), None],
    "read_files": [10, 2, None, None],
    "pruned_files": [0, 8, None, None],
    "read_rows": [1_000, 50, None, None],
    "produced_rows": [0, 50, None, None],
    "read_bytes": [10 << 20, 1 << 20, None, None],
    "read_io_cache_percent": [0, 97, None, None],
    "from_result_cache": [False, False, None, None],
    "spilled_local_bytes": [0, 0, None, None],
    "written_bytes": [5 << 20, 0, None, None],
    "query_source": {
        "job_info": {"job_id": ["j1", None, None, None], "job_run_id": ["r1", None, None, None]},
        "legacy_dashboard_id": [None, "ld-1", None, None],
        "sql_query_id": ["sq-1", "sq-2", None, None],
        "notebook_id": [None, None, "nb-3", None],
    },
}


def _quirk_tables() -> dict[str, pa.Table]:
    return {
        name: build_system(name, columns)
        for name, columns in zip(SOURCES, (AUDIT, LINEAGE, QUERIES), strict=True)
    }


def test_quirks_by_hand(system_home):
    system_home.load_system(_quirk_tables())
    report = build_gold(system_home, tables=TABLES, progress=False)
    assert report.ok, [s.error for s in report.steps]

    audit = {r["event_id"][0]: r for r in _gold(system_home, "fact_audit_logs").to_pylist()}
    common = {"account_id": "acc", "version": "2.0"}
    assert audit["a"] == {
        **common,
        "event_id": "a" * 32,
        "workspace_id": "0",
        "event_time": _t(2, 10, 0, 123),
        "event_date": dt.date(2025, 3, 2),
        "service_name": "accountsAccessControl",
        "action_name": "getRuleSet",
        "user_identity_email": "admin@acme.com",
        "source_ip_address": "10.0.0.1",
        "user_agent": "Mozilla/5.0",
        "session_id": None,
        "request_id": "r-1",
        "request_params": [("user", "admin@acme.com")],
        "response_status_code": 200,
        "response_error_message": None,
        "audit_level": "ACCOUNT_LEVEL",
    }
    assert audit["b"] == {
        **common,
        "event_id": "b" * 32,
        "workspace_id": WS,
        "event_time": _t(2, 11, 30),
        "event_date": dt.date(2025, 3, 2),
        "service_name": "unityCatalog",
        "action_name": "getTable",
        "user_identity_email": "eve@acme.com",
        "source_ip_address": "185.220.101.7",
        "user_agent": "python-requests/2.31.0",
        "session_id": "s-1",
        "request_id": "r-2",
        "request_params": [("full_name_arg", "main.sales.orders")],
        "response_status_code": 403,
        "response_error_message": "PERMISSION_DENIED: User does not have SELECT on main.sales.orders",
        "audit_level": "WORKSPACE_LEVEL",
    }
    # No email: the subject name; no parameters: an empty map; no level: from the workspace.
    assert {k: audit["c"][k] for k in ("user_identity_email", "request_params", "audit_level")} == {
        "user_identity_email": "svc-app",
        "request_params": [],
        "audit_level": "WORKSPACE_LEVEL",
    }

    lineage = {r["record_id"]: r for r in _gold(system_home, "fact_table_lineage").to_pylist()}
    entity = ("entity_type", "entity_id", "entity_run_id")
    assert [tuple(lineage[r][c] for c in entity) for r in ("l1", "l2", "l3", "l4")] == [
        ("JOB", "111", "222"),  # only in entity_metadata: the job, not its notebook
        ("NOTEBOOK", "333", "cmd-1"),
        ("DBSQL_QUERY", "q-1", "st-1"),  # a query runs as its statement
        ("NOTEBOOK", "nb-1", None),  # the columns win over entity_metadata
    ]
    assert lineage["l2"] == {
        "record_id": "l2",
        "event_id": "e2",
        "account_id": "acc",
        "metastore_id": "ms",
        "workspace_id": WS,
        "event_time": _t(2, 9),
        "event_date": dt.date(2025, 3, 2),
        "created_by": "ana@acme.com",
        "entity_type": "NOTEBOOK",
        "entity_id": "333",
        "entity_run_id": "cmd-1",
        "source_table_full_name": None,
        "source_table_catalog": None,
        "source_table_schema": None,
        "source_table_name": None,
        "source_type": "PATH",
        "target_table_full_name": "main.raw.events",
        "target_table_catalog": "main",
        "target_table_schema": "raw",
        "target_table_name": "events",
        "target_type": "TABLE",
        "statement_id": None,
    }
    assert (lineage["l1"]["target_table_full_name"], lineage["l3"]["statement_id"]) == (
        "main.sales.orders",
        "st-1",
    )

    queries = {r["statement_id"]: r for r in _gold(system_home, "fact_query_history").to_pylist()}
    assert sorted(queries) == ["s1", "s2", "s3"]  # s4 is still running: not known yet
    assert queries["s1"] == {
        "statement_id": "s1",
        "account_id": "acc",
        "workspace_id": WS,
        "session_id": "x1",
        "executed_by": "etl-sp",
        "compute_type": "WAREHOUSE",
        "warehouse_id": "w1",
        "statement_type": "MERGE",
        "statement_text": "MERGE INTO t USING s ON ...",
        "client_application": "dbt",
        "execution_status": "FINISHED",
        "error_message": None,
        "start_time": _t(1, 23, 59),
        "end_time": _t(2, 0, 0, 999),
        "total_duration_ms": 60_000,
        "waiting_for_compute_duration_ms": 0,
        "waiting_at_capacity_duration_ms": 100,
        "compilation_duration_ms": 900,
        "execution_duration_ms": 59_000,
        "read_bytes": 10 << 20,
        "read_rows": 1_000,
        "read_files": 10,
        "pruned_files": 0,
        "produced_rows": 0,
        "spilled_local_bytes": 0,
        "written_bytes": 5 << 20,
        "read_io_cache_percent": 0,
        "from_result_cache": False,
        "query_source_job_id": "j1",
        "query_source_dashboard_id": None,
        "query_source_sql_query_id": "sq-1",
    }
    s2 = queries["s2"]
    assert (s2["statement_type"], s2["query_source_dashboard_id"], s2["read_io_cache_percent"]) == (
        "REFRESH_METRIC_VIEW",
        "ld-1",
        97,
    )
    s3 = queries["s3"]
    assert (s3["compute_type"], s3["warehouse_id"], s3["execution_status"], s3["error_message"]) == (
        "SERVERLESS_COMPUTE",
        None,
        "FAILED",
        "[DIVIDE_BY_ZERO] Division by zero",
    )
    # A statement that failed before reading: its counters are 0, its total is kept.
    assert [
        s3[c] for c in ("total_duration_ms", "execution_duration_ms", "read_bytes", "from_result_cache")
    ] == [
        20,
        0,
        0,
        False,
    ]


# ------------------------------------------------------------------------------ empty sources


def test_empty_sources_build_empty_tables(system_home):
    system_home.load_system({name: system_table(name).arrow_schema().empty_table() for name in SOURCES})
    report = build_gold(system_home, tables=TABLES, progress=False)
    assert {(s.table, s.status, s.rows) for s in report.steps} == {(t, "built", 0) for t in TABLES}
    for table in TABLES:
        assert _gold(system_home, table).num_rows == 0


@pytest.mark.parametrize("name", SOURCES)
def test_to_system_on_empty_gold(tiny_account, name):
    empty = {t: tiny_account.gold[t].schema.empty_table() for t in TABLES}
    produced = built(access.to_system(empty, np.random.default_rng(0), tiny_account.config))
    assert produced[name].num_rows == 0 and produced[name].schema.equals(system_table(name).arrow_schema())
