"""A statement's history counts only the runs of its fingerprint that had finished when it started."""

from __future__ import annotations

import datetime as dt

from health_monitor_performance.features import _history


def test_history_sees_only_runs_finished_before_the_start(spark):
    def at(minute: int) -> dt.datetime:
        return dt.datetime(2026, 1, 1, 10, 0) + dt.timedelta(minutes=minute)

    runs = [  # statement, start, end (None: still running), duration in seconds
        ("s1", at(0), at(10), 600),
        ("s2", at(5), at(6), 60),  # started after s1, finished first
        ("s3", at(7), None, None),
        ("s4", at(10), at(12), 120),  # starts the instant s1 ends: s1 is not yet known
        ("s5", at(11), at(13), 30),
    ]
    q = spark.createDataFrame(
        [
            ("fp", sid, start, end, None if d is None else d * 1000, 100, 0, False, 0, 0, 0.0)
            for sid, start, end, d in runs
        ],
        "fingerprint string, statement_id string, start_time timestamp, end_time timestamp, "
        "total_duration_ms long, read_bytes long, spilled_local_bytes long, from_result_cache boolean, "
        "spilled int, full_scan int, queue_s double",
    )
    got = {r.statement_id: r for r in _history(q, q).collect()}
    assert {s: got[s].query_history_count for s in got} == {"s1": 0, "s2": 0, "s3": 1, "s4": 1, "s5": 2}
    assert got["s2"].prev_duration_s is None  # s1 was still running
    assert got["s3"].prev_duration_s == 60.0 and got["s4"].prev_duration_s == 60.0
    assert got["s5"].prev_duration_s == 600.0  # the latest to finish, not the latest to start
    assert got["s5"].query_historical_avg_s == 330.0 and got["s5"].historical_max_duration_s == 600.0
    # Asked for the latest two only (the daily run's recent days): the same answers, from every run.
    some = {r.statement_id: r for r in _history(q, q.where(q.statement_id.isin("s4", "s5"))).collect()}
    assert some == {s: got[s] for s in ("s4", "s5")}
