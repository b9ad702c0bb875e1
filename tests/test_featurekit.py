"""The SDK's feature helpers that several plugins share: a framed median, runtime version
numbers, the version of a dimension in force at a time, and job runs rebuilt from the
hourly-sliced run timeline."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window

from health_monitor.lakehouse.shared import shared, sharing
from health_monitor.sdk.featurekit import (
    FAILURE_STATES,
    JOB_RUN_COLUMNS,
    dbr_number,
    finished_job_runs,
    runs_from_timeline,
    timeline_runs,
    version_at,
    window_median,
)


def test_window_median_over_a_frame(spark):
    rows = [("a", 1, 5.0), ("a", 2, 1.0), ("a", 3, 3.0), ("a", 4, 10.0), ("a", 5, None), ("b", 1, None)]
    df = spark.createDataFrame(rows, "k string, t int, v double")
    so_far = Window.partitionBy("k").orderBy("t").rowsBetween(Window.unboundedPreceding, 0)
    got = {(r.k, r.t): r.m for r in df.select("k", "t", window_median("v", so_far).alias("m")).collect()}
    # 5 | 1,5 | 1,3,5 | 1,3,5,10 (twice: a null is not a value): the middle value, or the mean of
    # the two middle ones; none: null
    assert got == {("a", 1): 5.0, ("a", 2): 3.0, ("a", 3): 3.0, ("a", 4): 4.0, ("a", 5): 4.0, ("b", 1): None}


def test_dbr_number(spark):
    versions = ["15.4.x-scala2.12", "14.3.x-photon-scala2.12", "16.0.x-cpu-ml-scala2.12", None, "custom:x"]
    df = spark.createDataFrame([(v,) for v in versions], "dbr_version string")
    got = [r.n for r in df.select(dbr_number("dbr_version").alias("n")).collect()]
    assert got == [15.4, 14.3, 16.0, None, None]


def _t(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, 1, hour, minute)


def test_version_at_picks_the_version_in_force_at_each_rows_time(spark):
    versions = spark.createDataFrame(
        [
            ("c1", _t(1), "14.3.x-scala2.12"),
            ("c1", _t(3), "15.4.x-scala2.12"),
            ("c2", _t(5), "13.3.x-scala2.12"),
        ],
        "cluster_id string, change_time timestamp, dbr_version string",
    )
    rows = [
        ("before", "c1", _t(0)),  # before the cluster's first version: null, never a later one
        ("between", "c1", _t(2)),
        ("at_change", "c1", _t(3)),  # a version changed at the very time counts
        ("later", "c1", _t(9)),
        ("not_yet", "c2", _t(4)),
        ("unknown", "c9", _t(4)),
        ("no_cluster", None, _t(4)),
    ]
    runs = spark.createDataFrame(rows, "run_id string, cluster_id string, start_time timestamp")
    columns = {"dbr": dbr_number("dbr_version"), "dbr_version": "dbr_version"}
    out = version_at(runs, versions, "cluster_id", "start_time", "run_id", columns)
    assert out.columns == ["run_id", "cluster_id", "start_time", "dbr", "dbr_version"]
    got = {r.run_id: (r.dbr, r.dbr_version) for r in out.collect()}
    assert got == {
        "before": (None, None),
        "between": (14.3, "14.3.x-scala2.12"),
        "at_change": (15.4, "15.4.x-scala2.12"),
        "later": (15.4, "15.4.x-scala2.12"),
        "not_yet": (None, None),
        "unknown": (None, None),
        "no_cluster": (None, None),
    }


def test_runs_from_timeline_keeps_finished_runs_with_their_state_from_the_last_slice(spark):
    schema = (
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, cluster_id string"
    )
    slices = [
        # run 1 spans two hourly slices and failed; its state is on the last slice only
        ("w", "j", "r1", _t(9, 30), _t(10), None, "c1"),
        ("w", "j", "r1", _t(10), _t(10, 20), "TIMED_OUT", None),
        ("w", "j", "r2", _t(11), _t(11, 5), "SUCCEEDED", "c1"),
        ("w", "j", "r3", _t(12), _t(12, 10), None, "c2"),  # still running
    ]
    runs = runs_from_timeline(spark.createDataFrame(slices, schema), "cluster_id")
    got = {r.run_id: r.asDict() for r in runs.collect()}
    assert set(got) == {"r1", "r2"}
    assert got["r1"] | {"workspace_id": "w"} == {
        "workspace_id": "w",
        "job_id": "j",
        "run_id": "r1",
        "start_time": _t(9, 30),
        "end_time": _t(10, 20),
        "result_state": "TIMED_OUT",
        "cluster_id": "c1",
        "duration_sec": 50 * 60,
        "failed": 1,
    }
    assert (got["r2"]["failed"], got["r2"]["duration_sec"]) == (0, 300)
    assert "TIMED_OUT" in FAILURE_STATES and "SUCCEEDED" not in FAILURE_STATES


class _Timeline:
    """The part of ``Tables`` the job-run helpers read: Gold's run timeline, frames shared as a
    stage shares them."""

    def __init__(self, timeline):
        self.timeline = timeline

    def gold(self, table: str):
        assert table == "fact_job_run_timeline"
        return self.timeline

    def shared(self, df):
        return shared(df)


def test_timeline_runs_keeps_running_runs_with_their_first_slice_and_is_rebuilt_once_a_stage(spark):
    schema = (
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string, "
        "run_type string, cluster_id string"
    )
    slices = [
        # r1 moved to another cluster in its second hour, and failed
        ("w", "j", "r1", _t(9, 30), _t(10), None, None, "PERIODIC", "JOB_RUN", "c1"),
        ("w", "j", "r1", _t(10), _t(10, 20), "FAILED", "RUN_EXECUTION_ERROR", "PERIODIC", "JOB_RUN", "c2"),
        ("w", "j", "r2", _t(12), _t(12, 10), None, None, "ONETIME_RETRY", "JOB_RUN", "c3"),  # running
    ]
    tables = _Timeline(spark.createDataFrame(slices, schema))
    with sharing():
        assert timeline_runs(tables) is timeline_runs(tables)  # one rebuild a stage
        runs = {r.run_id: r for r in timeline_runs(tables).collect()}
        finished = finished_job_runs(tables)
        alone = runs_from_timeline(tables.timeline, *JOB_RUN_COLUMNS)
        assert finished.columns == alone.columns
        assert sorted(map(tuple, finished.collect())) == sorted(map(tuple, alone.collect()))
    assert set(runs) == {"r1", "r2"} and runs["r2"].result_state is None
    assert (runs["r1"].first_cluster_id, runs["r1"].cluster_id) == ("c1", "c2")  # its first slice's; max
    assert (runs["r2"].first_trigger_type, runs["r2"].start_time) == ("ONETIME_RETRY", _t(12))


def test_stored_days_are_the_tables_own_rows_of_the_days_before_the_first_kept(hm_runtime, spark):
    from health_monitor.pipelines.refresh import RecordingTables
    from health_monitor.sdk.featurekit import stored_days

    day = dt.date(2026, 1, 10)
    rows = [("u", day - dt.timedelta(days=n), n, float(n)) for n in range(0, 6)]
    stored = spark.createDataFrame(rows, "user_id string, event_date date, events long, other double")
    name = hm_runtime.settings.feature_table("activity")

    def days(tables, columns=("user_id", "event_date", "events")):
        got = stored_days(tables, "activity", "event_date", 3, list(columns))
        if got.rows is None:
            assert got.gold_days == 3  # the windows' days come from Gold
            return None
        assert got.gold_days == 0
        return sorted((r.event_date.day, r.events) for r in got.rows.collect())

    assert days(RecordingTables(hm_runtime, rows_from=day)) is None  # not written yet
    hm_runtime.lakehouse.write(name, stored, primary_keys=["user_id", "event_date"])
    assert days(RecordingTables(hm_runtime)) is None  # every row computed
    assert days(RecordingTables(hm_runtime, rows_from=day)) == [(7, 3), (8, 2), (9, 1)]  # not the 10th
    assert days(RecordingTables(hm_runtime, rows_from=day), ("user_id", "event_date", "renamed")) is None
    # with_stored adds the stored days to the days computed from Gold (and nothing when there are none)
    history = stored_days(
        RecordingTables(hm_runtime, rows_from=day),
        "activity",
        "event_date",
        3,
        ["user_id", "event_date", "events"],
    )
    today = spark.createDataFrame([("u", day, 99)], "user_id string, event_date date, events long")
    assert sorted(r.events for r in history.with_stored(today).collect()) == [1, 2, 3, 99]
    none = stored_days(
        RecordingTables(hm_runtime), "activity", "event_date", 3, ["user_id", "event_date", "events"]
    )
    assert [r.events for r in none.with_stored(today).collect()] == [99]
