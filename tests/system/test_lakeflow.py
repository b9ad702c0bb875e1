"""The lakeflow family: jobs, job runs and task runs as system tables, and the Gold built back.

Round trip: the simulated account's Gold -> ``lakeflow.*`` system tables -> ``build_gold`` ->
the same Gold, value by value, except what the system tables cannot carry (``_expected_dim_job``
applies exactly those documented differences). Then a hand-written export of a few rows with the
tables' quirks, incremental = full, and empty sources.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.gold.build.runner import build_gold
from health_monitor.simulate import SimulationConfig, simulate_account
from health_monitor.simulate.rand import stream
from health_monitor.simulate.system import account_inputs, build_system, built, lakeflow
from health_monitor.system.inputs import AccountInputs
from tests.system.conftest import sorted_rows

TABLES = ["dim_job", "fact_job_run_timeline", "fact_job_task_run_timeline", "dim_job_sla"]
KEYS = {
    "dim_job": ["workspace_id", "job_id", "change_time"],
    "fact_job_run_timeline": ["workspace_id", "run_id", "period_start_time"],
    "fact_job_task_run_timeline": ["workspace_id", "run_id", "period_start_time"],
    "dim_job_sla": ["workspace_id", "job_id"],
}
SOURCES = [
    "lakeflow.jobs",
    "lakeflow.job_tasks",
    "lakeflow.job_run_timeline",
    "lakeflow.job_task_run_timeline",
]
UTC = dt.timezone.utc


def _clusters(gold: dict[str, pa.Table]) -> pa.Table:
    """compute.clusters as far as dim_job reads it (the compute family writes the whole table)."""
    dim = gold["dim_cluster"]
    names = ["account_id", "workspace_id", "cluster_id", "cluster_source", "create_time", "change_time"]
    return build_system("compute.clusters", {c: dim[c] for c in names})


def _system(gold: dict[str, pa.Table], config) -> dict[str, pa.Table]:
    tables = built(lakeflow.to_system(gold, stream(config.seed, "system-lakeflow"), config))
    return tables | {"compute.clusters": _clusters(gold)}


def _home(root, gold, config):
    from health_monitor.config import Settings
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=root / "home"))
    for name, table in _system(gold, config).items():
        runtime.lakehouse.write(runtime.settings.system(name), table)
    account_inputs(gold).write(runtime.settings.account_inputs_path)
    return runtime


def _built(runtime, table: str) -> list[dict]:
    return sorted_rows(runtime.lakehouse.read_arrow(runtime.settings.gold(table)), KEYS[table])


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory, spark, tiny_account, tiny_config):
    runtime = _home(tmp_path_factory.mktemp("lakeflow"), tiny_account.gold, tiny_config)
    report = build_gold(runtime, tables=TABLES, progress=False)
    assert report.ok, [(s.table, s.error) for s in report.steps]
    return runtime


# ----------------------------------------------------------------------------- simulator


def test_system_tables_have_the_quirks(tiny_account, tiny_config):
    gold = tiny_account.gold
    tables = built(lakeflow.to_system(gold, stream(tiny_config.seed, "system-lakeflow"), tiny_config))
    runs = tables["lakeflow.job_run_timeline"]
    assert runs.num_rows == gold["fact_job_run_timeline"].num_rows
    sizes = pc.list_value_length(runs["compute_ids"]).to_pylist()
    assert set(sizes) == {0, 1}  # serverless runs have an empty list, classic ones their cluster
    assert sizes.count(0) == gold["fact_job_run_timeline"]["cluster_id"].null_count
    jobs = tables["lakeflow.jobs"]
    assert jobs["creator_id"].null_count == 0 and all(
        "@" not in v for v in jobs["creator_id"].to_pylist() + jobs["run_as"].to_pylist()
    )
    # The account ends in March 2025: every 2026 column is NULL.
    for name in ("trigger", "trigger_type", "creator_user_name", "paused", "timeout_seconds", "create_time"):
        assert jobs[name].null_count == jobs.num_rows, name
    assert runs["termination_type"].null_count == runs.num_rows
    tasks = tables["lakeflow.job_tasks"]
    # Every retained job version re-emits its chain of tasks: one first task (no dependency) each.
    assert pc.list_value_length(tasks["depends_on_keys"]).to_pylist().count(0) == jobs.num_rows
    assert tasks["delete_time"].null_count < tasks.num_rows  # backfill jobs' tasks go with them


def test_rows_since_december_2025_carry_the_newer_columns(december_account):
    config, gold = december_account
    tables = built(lakeflow.to_system(gold, stream(config.seed, "system-lakeflow"), config))
    jobs = tables["lakeflow.jobs"]
    newer = pc.greater_equal(pc.cast(jobs["change_time"], pa.int64()), lakeflow.NEWER_FROM)
    assert 0 < pc.sum(newer).as_py() < jobs.num_rows
    assert pc.all(pc.equal(pc.is_valid(jobs["create_time"]), newer)).as_py()
    assert pc.all(pc.equal(pc.is_valid(jobs["paused"]), newer)).as_py()
    runs = tables["lakeflow.job_run_timeline"]
    late = pc.greater_equal(pc.cast(runs["period_start_time"], pa.int64()), lakeflow.NEWER_FROM)
    final = pc.is_valid(runs["result_state"])
    assert pc.all(pc.equal(pc.is_valid(runs["termination_type"]), pc.and_(late, final))).as_py()
    assert pc.all(pc.equal(pc.is_valid(runs["compute"]), late)).as_py()


def test_rows_before_late_august_2024_lack_run_links():
    config = SimulationConfig(scale="small", seed=11, days=21, end_date=dt.date(2024, 9, 10))
    gold = simulate_account(config).gold
    tables = built(lakeflow.to_system(gold, stream(config.seed, "system-lakeflow"), config))
    for name, columns in (
        ("lakeflow.job_run_timeline", ("compute_ids", "termination_code")),
        ("lakeflow.job_task_run_timeline", ("job_run_id", "parent_run_id")),
    ):
        t = tables[name]
        early = pc.less(pc.cast(t["period_start_time"], pa.int64()), lakeflow.LATE_AUG_2024)
        assert 0 < pc.sum(early).as_py() < t.num_rows
        for column in columns:
            assert pc.all(pc.or_(pc.invert(early), pc.is_null(t[column]))).as_py(), column
        assert t["compute_ids"].null_count < t.num_rows


# ----------------------------------------------------------------------------- round trip


def _expected_dim_job(gold: dict[str, pa.Table], config) -> list[dict]:
    """The simulated dim_job as the system tables give it back: superseded versions older than
    365 days are gone; rows before Dec 2025 have principal IDs for names (unless another row names
    the principal), no timeout, cron, paused or description (before late Aug 2024), and a create
    time from the job's first retained version or run; max_retries is always NULL."""
    end = dt.datetime.combine(config.end_date, dt.time(), UTC) + dt.timedelta(days=1)
    newer_from = dt.datetime.fromtimestamp(lakeflow.NEWER_FROM / 1e6, UTC)
    described_from = dt.datetime.fromtimestamp(lakeflow.LATE_AUG_2024 / 1e6, UTC)
    rows = [
        r
        for r in gold["dim_job"].to_pylist()
        if r["is_current"] or r["change_time"] >= end - dt.timedelta(days=lakeflow.RETENTION_DAYS)
    ]
    people = sorted({r["creator_user_name"] for r in rows} | {r["run_as"] for r in rows})
    ids = dict(zip(people, lakeflow.principal_ids(pa.array(people)).to_pylist(), strict=True))
    named = {r[c] for r in rows if r["change_time"] >= newer_from for c in ("creator_user_name", "run_as")}
    first_run: dict[tuple, dt.datetime] = {}
    for r in (
        gold["fact_job_run_timeline"].select(["workspace_id", "job_id", "period_start_time"]).to_pylist()
    ):
        key = (r["workspace_id"], r["job_id"])
        first_run[key] = min(first_run.get(key, r["period_start_time"]), r["period_start_time"])
    first_change: dict[tuple, dt.datetime] = {}
    known_create: set[tuple] = set()
    for r in rows:
        key = (r["workspace_id"], r["job_id"])
        first_change[key] = min(first_change.get(key, r["change_time"]), r["change_time"])
        if r["change_time"] >= newer_from:
            known_create.add(key)
    out = []
    for r in rows:
        key = (r["workspace_id"], r["job_id"])
        newer = r["change_time"] >= newer_from
        seen = min(first_change[key], first_run.get(key, first_change[key]))
        out.append(
            r
            | {
                "description": r["description"] if r["change_time"] >= described_from else None,
                "creator_user_name": r["creator_user_name"] if r["creator_user_name"] in named else None,
                "run_as": r["run_as"] if r["run_as"] in named else ids[r["run_as"]],
                "max_retries": None,
                "timeout_seconds": r["timeout_seconds"] if newer else None,
                "quartz_cron_expression": r["quartz_cron_expression"] if newer else None,
                "paused": r["paused"] if newer else None,
                "create_time": r["create_time"] if key in known_create else seen,
            }
        )
    return sorted_rows(pa.Table.from_pylist(out, schema=gold["dim_job"].schema), KEYS["dim_job"])


def test_dim_job_round_trip(tiny_home, tiny_account, tiny_config):
    expected = _expected_dim_job(tiny_account.gold, tiny_config)
    assert len(expected) < tiny_account.gold["dim_job"].num_rows  # a version older than 365 days went
    assert _built(tiny_home, "dim_job") == expected


@pytest.mark.parametrize("table", ["fact_job_run_timeline", "fact_job_task_run_timeline", "dim_job_sla"])
def test_round_trip(tiny_home, tiny_account, table):
    assert _built(tiny_home, table) == sorted_rows(tiny_account.gold[table], KEYS[table])


def test_second_build_is_a_no_op(tiny_home):
    report = build_gold(tiny_home, tables=TABLES, progress=False)
    assert {s.table: s.status for s in report.steps} == dict.fromkeys(TABLES, "unchanged")


@pytest.fixture(scope="module")
def december_account():
    config = SimulationConfig(scale="small", seed=11, days=21, end_date=dt.date(2025, 12, 10))
    return config, simulate_account(config).gold


def test_dim_job_round_trip_across_december_2025(tmp_path, spark, december_account):
    """Versions since Dec 2025 carry user names, timeout, trigger, paused and create time; they
    name the same principals and date the same jobs on the older rows."""
    config, gold = december_account
    runtime = _home(tmp_path, gold, config)
    assert build_gold(runtime, tables=["dim_job"], progress=False).ok
    built = _built(runtime, "dim_job")
    assert built == _expected_dim_job(gold, config)
    newer_from = dt.datetime.fromtimestamp(lakeflow.NEWER_FROM / 1e6, UTC)
    assert any(r["quartz_cron_expression"] for r in built)
    assert any(r["timeout_seconds"] is not None for r in built)
    # A principal named on a December row is named on its 2025 rows too.
    assert any("@" in (r["creator_user_name"] or "") for r in built if r["change_time"] < newer_from)


# ----------------------------------------------------------------------------- hand-written export


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _rows(name: str, rows: list[dict]) -> pa.Table:
    """A system table from a few rows (columns not given are NULL)."""
    from health_monitor.system.reference import system_table

    columns = {k: [r.get(k) for r in rows] for k in dict.fromkeys(k for r in rows for k in r)}
    schema = system_table(name).arrow_schema()
    return build_system(name, {k: pa.array(v, schema.field(k).type) for k, v in columns.items()})


def _hand_written() -> dict[str, pa.Table]:
    job = {"account_id": "acc", "workspace_id": "w1", "tags": [("team", "data")]}
    jobs = [
        # Job 11: a 2025 version (2026 columns NULL, principal IDs only), then a December one.
        job
        | {
            "job_id": "11",
            "name": "etl",
            "creator_id": "101",
            "run_as": "101",
            "change_time": _t("2025-06-01"),
        },
        job
        | {
            "job_id": "11",
            "name": "etl",
            "creator_id": "101",
            "run_as": "sp-app-1",
            "change_time": _t("2025-12-15"),
            "description": "nightly load",
            "trigger": {"schedule": {"quartz_cron_expression": "0 0 5 * * ?", "timezone_id": "UTC"}},
            "trigger_type": "CRON",
            "run_as_user_name": "sp-app-1",
            "creator_user_name": "ana@acme.com",
            "paused": False,
            "timeout_seconds": 3600,
            "create_time": _t("2025-05-31T10:00:00"),
        },
        # Job 22: serverless, run by hand only, nobody ever names principal 202.
        job
        | {
            "job_id": "22",
            "name": "adhoc",
            "creator_id": "202",
            "run_as": "202",
            "change_time": _t("2025-06-01"),
        },
        # Job 33: on an all-purpose cluster, then deleted.
        job
        | {
            "job_id": "33",
            "name": "old",
            "creator_id": "101",
            "run_as": "101",
            "change_time": _t("2025-06-01"),
        },
        job
        | {
            "job_id": "33",
            "name": "old",
            "creator_id": "101",
            "run_as": "101",
            "change_time": _t("2025-07-01"),
            "delete_time": _t("2025-07-01"),
        },
    ]
    task = {"account_id": "acc", "workspace_id": "w1"}
    tasks = [
        task
        | {"job_id": "11", "task_key": "extract", "depends_on_keys": [], "change_time": _t("2025-06-01")},
        task
        | {
            "job_id": "11",
            "task_key": "load",
            "depends_on_keys": ["extract"],
            "change_time": _t("2025-06-01"),
        },
        task
        | {
            "job_id": "11",
            "task_key": "publish",
            "depends_on_keys": ["load"],
            "change_time": _t("2025-12-15"),
        },
        task | {"job_id": "22", "task_key": "main", "depends_on_keys": [], "change_time": _t("2025-06-01")},
        task | {"job_id": "33", "task_key": "a", "depends_on_keys": [], "change_time": _t("2025-06-01")},
        task
        | {
            "job_id": "33",
            "task_key": "a",
            "depends_on_keys": [],
            "change_time": _t("2025-07-01"),
            "delete_time": _t("2025-07-01"),
        },
    ]
    run = {"account_id": "acc", "workspace_id": "w1", "run_type": "JOB_RUN", "job_parameters": []}
    cluster = "1220-043000-abcd1234"
    runs = [
        run
        | {
            "job_id": "11",
            "run_id": "1000",
            "run_name": "etl",
            "period_start_time": _t("2025-06-02T05:00:00"),
            "period_end_time": _t("2025-06-02T05:20:00"),
            "trigger_type": "CRON",
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
            "compute_ids": ["0602-050000-aaaa1111"],
        },
        # Run 1001 spans three clock hours: the result is on the last slice only.
        *[
            run
            | {
                "job_id": "11",
                "run_id": "1001",
                "run_name": "etl",
                "period_start_time": _t(start),
                "period_end_time": _t(end),
                "trigger_type": "CRON",
                "compute_ids": [cluster],
                "compute": [{"type": "CLUSTER", "cluster_id": cluster}],
                "job_parameters": [("env", [("default", "prod"), ("value", "prod")])],
            }
            | result
            for start, end, result in (
                ("2025-12-20T04:30:00", "2025-12-20T05:00:00", {}),
                ("2025-12-20T05:00:00", "2025-12-20T06:00:00", {}),
                (
                    "2025-12-20T06:00:00",
                    "2025-12-20T06:10:00",
                    {
                        "result_state": "SUCCEEDED",
                        "termination_code": "SUCCESS",
                        "termination_type": "SUCCESS",
                    },
                ),
            )
        ],
        # Serverless (empty compute_ids), by hand, with a result state we have never seen.
        run
        | {
            "job_id": "22",
            "run_id": "2001",
            "run_name": "adhoc",
            "period_start_time": _t("2025-06-03T10:00:00"),
            "period_end_time": _t("2025-06-03T10:05:00"),
            "trigger_type": "ONETIME",
            "result_state": "SUCCESS_WITH_FAILURES",
            "termination_code": "RUN_EXECUTION_ERROR",
            "compute_ids": [],
        },
        run
        | {
            "job_id": "33",
            "run_id": "3001",
            "run_name": "old",
            "period_start_time": _t("2025-06-05T01:00:00"),
            "period_end_time": _t("2025-06-05T01:30:00"),
            "trigger_type": "CRON",
            "result_state": "FAILED",
            "termination_code": "RUN_EXECUTION_ERROR",
            "compute_ids": ["0601-000000-shared01"],
        },
    ]
    task_run = {"account_id": "acc", "workspace_id": "w1", "job_id": "11", "job_run_id": "1001"}
    task_runs = [
        # A SQL task lists its warehouse before the cluster; the cluster is what Gold keeps.
        task_run
        | {
            "run_id": "5001",
            "task_key": "extract",
            "period_start_time": _t("2025-12-20T04:30:00"),
            "period_end_time": _t("2025-12-20T05:00:00"),
            "compute_ids": ["a1b2c3d4e5f60789", cluster],
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
        },
        task_run
        | {
            "run_id": "5002",
            "task_key": "load",
            "period_start_time": _t("2025-12-20T05:00:00"),
            "period_end_time": _t("2025-12-20T06:00:00"),
            "compute_ids": [cluster],
            "compute": [{"type": "CLUSTER", "cluster_id": cluster}],
        },
        task_run
        | {
            "run_id": "5002",
            "task_key": "load",
            "period_start_time": _t("2025-12-20T06:00:00"),
            "period_end_time": _t("2025-12-20T06:10:00"),
            "compute_ids": [cluster],
            "compute": [{"type": "CLUSTER", "cluster_id": cluster}],
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
        },
        # From before late Aug 2024: no parent run, no compute_ids.
        task_run
        | {
            "job_id": "44",
            "job_run_id": None,
            "run_id": "4001",
            "task_key": "main",
            "period_start_time": _t("2024-08-01T10:00:00"),
            "period_end_time": _t("2024-08-01T10:30:00"),
            "result_state": "FAILED",
            "termination_code": "RUN_EXECUTION_ERROR",
        },
    ]
    clusters = [
        {"workspace_id": "w1", "cluster_id": c, "cluster_source": s, "change_time": _t("2025-06-01")}
        for c, s in (("0602-050000-aaaa1111", "JOB"), (cluster, "JOB"), ("0601-000000-shared01", "UI"))
    ]
    return {
        "lakeflow.jobs": _rows("lakeflow.jobs", jobs),
        "lakeflow.job_tasks": _rows("lakeflow.job_tasks", tasks),
        "lakeflow.job_run_timeline": _rows("lakeflow.job_run_timeline", runs),
        "lakeflow.job_task_run_timeline": _rows("lakeflow.job_task_run_timeline", task_runs),
        "compute.clusters": _rows("compute.clusters", clusters),
    }


def test_hand_written_export(system_home):
    system_home.load_system(_hand_written())
    slas = pa.table(
        {
            "workspace_id": ["w1"],
            "job_id": ["11"],
            "sla_duration_seconds": pa.array([7200], pa.int64()),
            "sla_end_hour_utc": pa.array([None], pa.int32()),
            "sla_owner": ["ana@acme.com"],
        }
    )
    AccountInputs(AccountInputs.empty().commitments, slas).write(system_home.settings.account_inputs_path)
    assert build_gold(system_home, tables=TABLES, progress=False).ok

    base = {"account_id": "acc", "workspace_id": "w1", "tags": [("team", "data")], "max_retries": None}
    pre = {"description": None, "timeout_seconds": None, "quartz_cron_expression": None, "paused": None}
    assert _built(system_home, "dim_job") == [
        # The December row names principal 101 and dates the job for its 2025 row too.
        base
        | pre
        | {
            "job_id": "11",
            "name": "etl",
            "creator_user_name": "ana@acme.com",
            "run_as": "ana@acme.com",
            "task_count": 2,
            "trigger_type": "CRON",  # from run 1000
            "compute_kind": "JOB_CLUSTER",
            "create_time": _t("2025-05-31T10:00:00"),
            "change_time": _t("2025-06-01"),
            "delete_time": None,
            "is_current": False,
        },
        base
        | {
            "job_id": "11",
            "name": "etl",
            "description": "nightly load",
            "creator_user_name": "ana@acme.com",
            "run_as": "sp-app-1",
            "task_count": 3,
            "timeout_seconds": 3600,
            "trigger_type": "CRON",
            "quartz_cron_expression": "0 0 5 * * ?",
            "compute_kind": "JOB_CLUSTER",
            "paused": False,
            "create_time": _t("2025-05-31T10:00:00"),
            "change_time": _t("2025-12-15"),
            "delete_time": None,
            "is_current": True,
        },
        base
        | pre
        | {
            "job_id": "22",
            "name": "adhoc",
            "creator_user_name": None,
            "run_as": "202",
            "task_count": 1,
            "trigger_type": None,  # only ever run by hand
            "compute_kind": "SERVERLESS",
            "create_time": _t("2025-06-01"),
            "change_time": _t("2025-06-01"),
            "delete_time": None,
            "is_current": True,
        },
        base
        | pre
        | {
            "job_id": "33",
            "name": "old",
            "creator_user_name": "ana@acme.com",
            "run_as": "ana@acme.com",
            "task_count": 1,
            "trigger_type": "CRON",
            "compute_kind": "ALL_PURPOSE",
            "create_time": _t("2025-06-01"),
            "change_time": _t("2025-06-01"),
            "delete_time": None,
            "is_current": False,
        },
        # The deletion row: its task went with it (still counted), no runs (its previous version's).
        base
        | pre
        | {
            "job_id": "33",
            "name": "old",
            "creator_user_name": "ana@acme.com",
            "run_as": "ana@acme.com",
            "task_count": 1,
            "trigger_type": "CRON",
            "compute_kind": "ALL_PURPOSE",
            "create_time": _t("2025-06-01"),
            "change_time": _t("2025-07-01"),
            "delete_time": _t("2025-07-01"),
            "is_current": True,
        },
    ]
    run = {"account_id": "acc", "workspace_id": "w1", "run_type": "JOB_RUN"}
    sliced = run | {
        "job_id": "11",
        "run_id": "1001",
        "run_name": "etl",
        "trigger_type": "CRON",
        "cluster_id": "1220-043000-abcd1234",
    }
    assert _built(system_home, "fact_job_run_timeline") == [
        run
        | {
            "job_id": "11",
            "run_id": "1000",
            "run_name": "etl",
            "period_start_time": _t("2025-06-02T05:00:00"),
            "period_end_time": _t("2025-06-02T05:20:00"),
            "trigger_type": "CRON",
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
            "cluster_id": "0602-050000-aaaa1111",
        },
        sliced
        | {
            "period_start_time": _t("2025-12-20T04:30:00"),
            "period_end_time": _t("2025-12-20T05:00:00"),
            "result_state": None,
            "termination_code": None,
        },
        sliced
        | {
            "period_start_time": _t("2025-12-20T05:00:00"),
            "period_end_time": _t("2025-12-20T06:00:00"),
            "result_state": None,
            "termination_code": None,
        },
        sliced
        | {
            "period_start_time": _t("2025-12-20T06:00:00"),
            "period_end_time": _t("2025-12-20T06:10:00"),
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
        },
        run
        | {
            "job_id": "22",
            "run_id": "2001",
            "run_name": "adhoc",
            "period_start_time": _t("2025-06-03T10:00:00"),
            "period_end_time": _t("2025-06-03T10:05:00"),
            "trigger_type": "ONETIME",
            "result_state": "SUCCESS_WITH_FAILURES",
            "termination_code": "RUN_EXECUTION_ERROR",
            "cluster_id": None,
        },
        run
        | {
            "job_id": "33",
            "run_id": "3001",
            "run_name": "old",
            "period_start_time": _t("2025-06-05T01:00:00"),
            "period_end_time": _t("2025-06-05T01:30:00"),
            "trigger_type": "CRON",
            "result_state": "FAILED",
            "termination_code": "RUN_EXECUTION_ERROR",
            "cluster_id": "0601-000000-shared01",
        },
    ]
    task = {"account_id": "acc", "workspace_id": "w1", "job_id": "11", "job_run_id": "1001"}
    load = task | {"run_id": "5002", "task_key": "load", "cluster_id": "1220-043000-abcd1234"}
    assert _built(system_home, "fact_job_task_run_timeline") == [
        task
        | {
            "job_id": "44",
            "job_run_id": None,
            "run_id": "4001",
            "task_key": "main",
            "period_start_time": _t("2024-08-01T10:00:00"),
            "period_end_time": _t("2024-08-01T10:30:00"),
            "result_state": "FAILED",
            "termination_code": "RUN_EXECUTION_ERROR",
            "cluster_id": None,
        },
        task
        | {
            "run_id": "5001",
            "task_key": "extract",
            "period_start_time": _t("2025-12-20T04:30:00"),
            "period_end_time": _t("2025-12-20T05:00:00"),
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
            "cluster_id": "1220-043000-abcd1234",
        },
        load
        | {
            "period_start_time": _t("2025-12-20T05:00:00"),
            "period_end_time": _t("2025-12-20T06:00:00"),
            "result_state": None,
            "termination_code": None,
        },
        load
        | {
            "period_start_time": _t("2025-12-20T06:00:00"),
            "period_end_time": _t("2025-12-20T06:10:00"),
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
        },
    ]
    assert _built(system_home, "dim_job_sla") == slas.to_pylist()


# ----------------------------------------------------------------------------- incremental, empty


def test_incremental_equals_full(system_home, tiny_account, tiny_config):
    """Built on the runs up to a day, then again with the rest: only the days since the last
    build minus the late window are rebuilt, and the result is the full Gold."""
    gold = tiny_account.gold
    tables = _system(gold, tiny_config)
    cut = dt.datetime.combine(tiny_config.end_date - dt.timedelta(days=6), dt.time(), UTC)
    early = {
        name: tables[name].filter(
            pc.less(tables[name]["period_start_time"], pa.scalar(cut, pa.timestamp("us", "UTC")))
        )
        for name in ("lakeflow.job_run_timeline", "lakeflow.job_task_run_timeline")
    }
    facts = ["fact_job_run_timeline", "fact_job_task_run_timeline"]
    system_home.load_system(early)
    assert build_gold(system_home, tables=facts, progress=False).ok
    system_home.load_system({name: tables[name] for name in early})
    report = build_gold(system_home, tables=facts, progress=False).by_table()
    for table in facts:
        assert report[table].status == "incremental"
        assert report[table].since == cut.date() - dt.timedelta(days=1 + 2)  # last built day - late_days
        assert _built(system_home, table) == sorted_rows(gold[table], KEYS[table])


def test_empty_sources_build_empty_tables(system_home):
    from health_monitor.system.reference import empty_table

    system_home.load_system({name: empty_table(name) for name in [*SOURCES, "compute.clusters"]})
    report = build_gold(system_home, tables=TABLES, progress=False)
    assert [(s.table, s.status, s.rows) for s in report.steps] == [(t, "built", 0) for t in TABLES]
