"""reliability_features asked for the rows from a day on (a daily run): its all-time figures go
on from each job's latest stored row before that day, and equal the whole computation's, over a
history longer than the "days since" cap. failed_run_features, asked the same way, keeps the
failure streak and the retries that run across the day."""

import datetime as dt

import pytest

from health_monitor.testing.pointintime import GoldTables, rows_from_differ
from health_monitor_reliability.features import (
    FAILED_RUN_FEATURES,
    NEVER_DAYS,
    RELIABILITY_FEATURES,
    _carried,
    failed_run_features,
    reliability_features,
)

START = dt.datetime(2024, 1, 1)
DAYS = 420  # longer than NEVER_DAYS: "days since" reaches its cap


def _day(n: int, hour: int = 2) -> dt.datetime:
    return START + dt.timedelta(days=n, hours=hour)


def _timeline() -> list[tuple]:
    """Job "a" daily on cluster c1: fails on day 5 and on days 396-400 (a streak across the cuts
    at 398 and 400; a retry after each of those failures, which succeeds from day 398), runs 40
    minutes (over its 25-minute SLA) on days 100 and 399. Job "b" on c2 on days 0-20 (a failure
    on day 3) and again from day 395 without failing: its last failure is more than a year before
    the cuts. Job "n" starts on day 405, after every cut."""
    rows = []

    def run(job, run_id, start, minutes, state, trigger="CRON", cluster="c1"):
        end = start + dt.timedelta(minutes=minutes)
        rows.append(
            ("w", job, run_id, start, end, state, "X" if state == "FAILED" else "SUCCESS", trigger, cluster)
        )

    for d in range(DAYS):
        failed = d == 5 or 396 <= d <= 400
        run("a", f"a{d}", _day(d), 40 if d in (100, 399) else 20, "FAILED" if failed else "SUCCEEDED")
        if 396 <= d <= 400:
            retried = "SUCCEEDED" if d >= 398 else "FAILED"
            run("a", f"a{d}r", _day(d, 3), 20, retried, trigger="ONETIME_RETRY")
        if d <= 20 or d >= 395:
            run("b", f"b{d}", _day(d, 5), 30, "FAILED" if d == 3 else "SUCCEEDED", cluster="c2")
        if d >= 405:
            run("n", f"n{d}", _day(d, 7), 10, "SUCCEEDED", cluster="c2")
    return rows


@pytest.fixture(scope="module")
def gold(spark):
    timeline = spark.createDataFrame(
        _timeline(),
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string, "
        "cluster_id string",
    ).selectExpr("*", "'JOB_RUN' AS run_type")
    clusters = [("c1", START, "13.3.x-scala2.12"), ("c1", _day(398, 0), "14.3.x-scala2.12")]
    clusters += [("c1", _day(410, 0), "15.4.x-scala2.12"), ("c2", START, "14.3.x-scala2.12")]
    nodes = [
        ("c1", _day(d, 2), _day(d, 2) + dt.timedelta(minutes=1), 95.0 if d == 401 else 50.0, 5.0)
        for d in range(380, DAYS)
    ]
    jobs = [
        ("a", START, START, 1, 1, 3600),
        ("b", START, START, 2, 0, 3600),
        ("b", _day(10), START, 3, 0, 3600),
    ]
    jobs += [("n", _day(405, 0), _day(405, 0), 1, 0, 600)]
    return {
        "fact_job_run_timeline": timeline,
        "dim_cluster": spark.createDataFrame(
            clusters, "cluster_id string, change_time timestamp, dbr_version string"
        ),
        "fact_node_timeline": spark.createDataFrame(
            nodes,
            "cluster_id string, start_time timestamp, end_time timestamp, mem_used_percent double, "
            "cpu_wait_percent double",
        ),
        "dim_job": spark.createDataFrame(
            jobs,
            "job_id string, change_time timestamp, create_time timestamp, task_count int, max_retries int, "
            "timeout_seconds int",
        ),
        "dim_job_sla": spark.createDataFrame(
            [("a", 1500, None)], "job_id string, sla_duration_seconds int, sla_end_hour_utc int"
        ),
        "fact_table_lineage": spark.createDataFrame(
            [("JOB", "a", None, "c.s.t1", START.date()), ("JOB", "b", "c.s.t1", None, START.date())],
            "entity_type string, entity_id string, source_table_full_name string, "
            "target_table_full_name string, event_date date",
        ),
    }


@pytest.fixture(scope="module")
def whole(gold):
    return reliability_features(GoldTables(gold)).cache()


def test_the_whole_computation_caps_days_since_at_a_year(whole):
    rows = whole.toPandas().set_index(["job_id", "run_date"])
    b = rows.loc["b"]
    assert b.loc[(START + dt.timedelta(days=367)).date(), "days_since_last_failure"] == 364  # day 3's
    assert (b.loc[(START + dt.timedelta(days=368)).date() :, "days_since_last_failure"] == NEVER_DAYS).all()
    assert (b["days_since_job_change"].max(), rows.loc["n", "days_since_last_failure"].max()) == (
        NEVER_DAYS,
    ) * 2


@pytest.mark.parametrize("cut", [398, 400, 410])
def test_rows_asked_from_a_day_go_on_from_the_day_before(gold, whole, cut):
    """Cut at 398 and 400: job "a"'s failure streak, its retries and its SLA breaches go on
    across the cut; at 410 its runtime is upgraded on the first day asked for. Job "b"'s last
    failure is over a year before every cut; job "n" has no stored row at 398 and 400."""
    since = (START + dt.timedelta(days=cut)).date()
    assert _carried(GoldTables(gold, {"reliability_features": whole}, since)) is not None  # stored rows used
    assert rows_from_differ(RELIABILITY_FEATURES, gold, whole, since) == {}
    at = whole.toPandas().set_index(["job_id", "run_date"])
    assert at.loc[("a", (START + dt.timedelta(days=400)).date()), "consecutive_failed_days"] == 5
    assert at.loc[("a", (START + dt.timedelta(days=410)).date()), "days_since_dbr_upgrade"] == 0


def test_a_table_written_by_an_older_release_is_computed_from_gold(gold, whole):
    since = (START + dt.timedelta(days=400)).date()
    assert _carried(GoldTables(gold, {"reliability_features": whole.drop("repairs_all")}, since)) is None
    assert _carried(GoldTables(gold, {"reliability_features": whole})) is None  # every row kept
    assert _carried(GoldTables(gold, {}, since)) is None  # not written yet


@pytest.fixture(scope="module")
def failed_whole(gold):
    return failed_run_features(GoldTables(gold)).cache()


def test_the_whole_computation_counts_the_streak_and_retries_before_each_failure(failed_whole):
    at = failed_whole.toPandas().set_index("run_id")
    figures = ["consecutive_failed_runs", "retries_before", "last_retry_succeeded"]
    # a396, a396r, a397, a397r failed before a398; a398r succeeded and reset the streak.
    assert at.loc["a398", figures].tolist() == [5, 2, 0]
    assert at.loc["a400", figures].tolist() == [1, 4, 1]
    assert at.loc["a400", "retry_success_rate_before"] == 0.5


@pytest.mark.parametrize("cut", [397, 398, 400])
def test_failed_runs_asked_from_a_day_count_the_runs_before_it(gold, failed_whole, cut):
    """Job "a"'s failure streak and retries go on across each cut (two, four and no failed runs
    in a row before it; the retries before 398 all failed, later ones succeed); job "b"'s only
    failure is over a year before. The rows from the cut equal the whole computation's."""
    since = (START + dt.timedelta(days=cut)).date()
    assert rows_from_differ(FAILED_RUN_FEATURES, gold, failed_whole, since) == {}
