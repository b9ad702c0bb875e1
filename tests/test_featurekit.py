"""The SDK's feature helpers that several plugins share: a framed median, runtime version
numbers, and job runs rebuilt from the hourly-sliced run timeline."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window

from health_monitor.sdk.featurekit import FAILURE_STATES, dbr_number, runs_from_timeline, window_median


def test_window_median_over_a_frame(spark):
    rows = [("a", 1, 5.0), ("a", 2, 1.0), ("a", 3, 3.0), ("a", 4, 10.0), ("b", 1, None)]
    df = spark.createDataFrame(rows, "k string, t int, v double")
    so_far = Window.partitionBy("k").orderBy("t").rowsBetween(Window.unboundedPreceding, 0)
    got = {(r.k, r.t): r.m for r in df.select("k", "t", window_median("v", so_far).alias("m")).collect()}
    # 5 | 1,5 | 1,3,5 | 1,3,5,10: the middle value, or the mean of the two middle ones; none: null
    assert got == {("a", 1): 5.0, ("a", 2): 3.0, ("a", 3): 3.0, ("a", 4): 4.0, ("b", 1): None}


def test_dbr_number(spark):
    versions = ["15.4.x-scala2.12", "14.3.x-photon-scala2.12", "16.0.x-cpu-ml-scala2.12", None, "custom:x"]
    df = spark.createDataFrame([(v,) for v in versions], "dbr_version string")
    got = [r.n for r in df.select(dbr_number("dbr_version").alias("n")).collect()]
    assert got == [15.4, 14.3, 16.0, None, None]


def _t(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, 1, hour, minute)


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
