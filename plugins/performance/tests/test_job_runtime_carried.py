"""job_runtime_features asked for the rows from a day on (a daily run): its all-time figures go on
from each job's latest stored row before that day and its windows read only their days' runs, and
every row equals the whole computation's, over a history longer than the "days since" cap."""

import datetime as dt

import pytest

from health_monitor.sdk.featurekit import latest_stored
from health_monitor.testing.pointintime import GoldTables, rows_from_differ
from health_monitor_performance.job_features import (
    JOB_RUNTIME_FEATURES,
    NEVER_DAYS,
    job_runtime_features,
)

START = dt.datetime(2024, 1, 1)
DAYS = 420  # longer than NEVER_DAYS: "days since" reaches its cap
TABLE = "job_runtime_features"


def _day(n: int, hour: int = 2) -> dt.datetime:
    return START + dt.timedelta(days=n, hours=hour)


def _date(n: int) -> dt.date:
    return _day(n).date()


def _timeline() -> list[tuple]:
    """Job "a" daily on cluster c1 (runtime 13.3, 14.3 from day 398, 15.4 from day 410), failing on
    day 5 and days 396-400. Job "b" on c2 on days 0-20, then from day 395: c2 was upgraded on day
    200, while "b" did not run, so its runtime changes on day 395. Job "s" is serverless (no
    runtime) from day 380; job "n" starts on day 405, after most cuts."""
    rows = []

    def run(job, run_id, day, minutes, failed=False, cluster="c1"):
        start = _day(day)
        end = start + dt.timedelta(minutes=minutes)
        state = "FAILED" if failed else "SUCCEEDED"
        rows.append(("w", job, run_id, start, end, state, state, "PERIODIC", "JOB_RUN", cluster))

    for d in range(DAYS):
        run("a", f"a{d}", d, 20 + d % 7, failed=d == 5 or 396 <= d <= 400)
        if d <= 20 or d >= 395:
            run("b", f"b{d}", d, 30 + d % 3, cluster="c2")
        if d >= 380:
            run("s", f"s{d}", d, 5, failed=d % 4 == 0, cluster=None)
        if d >= 405:
            run("n", f"n{d}", d, 10, cluster="c2")
    return rows


@pytest.fixture(scope="module")
def gold(spark):
    timeline = spark.createDataFrame(
        _timeline(),
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string, "
        "run_type string, cluster_id string",
    )
    clusters = [("c1", START, "13.3.x-scala2.12"), ("c1", _day(398, 0), "14.3.x-scala2.12")]
    clusters += [("c1", _day(410, 0), "15.4.x-photon-scala2.12"), ("c2", START, "12.2.x-scala2.12")]
    clusters += [("c2", _day(200, 0), "14.3.x-scala2.12")]
    jobs = [
        ("a", START, 1, 1, 3600, "CRON"),
        ("b", START, 2, 0, 0, "CRON"),
        ("b", _day(396, 0), 3, 1, 600, "CRON"),
    ]
    jobs += [("s", _day(380, 0), 1, 0, 0, None), ("n", _day(405, 0), 1, 0, 600, "CRON")]
    return {
        "fact_job_run_timeline": timeline,
        "dim_cluster": spark.createDataFrame(
            clusters, "cluster_id string, change_time timestamp, dbr_version string"
        ),
        "dim_job": spark.createDataFrame(
            jobs,
            "job_id string, change_time timestamp, task_count int, max_retries int, timeout_seconds int, "
            "trigger_type string",
        ),
    }


@pytest.fixture(scope="module")
def whole(gold):
    return job_runtime_features(GoldTables(gold)).cache()


def test_the_whole_computation_counts_runtime_changes_and_caps_days_since(whole):
    rows = whole.toPandas().set_index(["job_id", "date"])
    a, b = rows.loc["a"], rows.loc["b"]
    assert (a.loc[_date(398), "days_since_dbr_change"], a.loc[_date(409), "days_since_dbr_change"]) == (0, 11)
    assert (a.loc[_date(410), "dbr_changes"], a.loc[_date(410), "last_dbr_version_num"]) == (2, 15.4)
    assert a.loc[_date(397), "days_since_dbr_change"] == NEVER_DAYS  # no change in its history yet
    assert (b.loc[_date(395), "days_since_dbr_change"], b.loc[_date(395), "job_age_days"]) == (0, 395)
    s = rows.loc["s"]
    assert s["last_dbr_version_num"].isna().all() and (s["days_since_dbr_change"] == NEVER_DAYS).all()
    assert a.loc[_date(400), "failures_all"] == 6 and a.loc[_date(400), "runs_all"] == 401


@pytest.mark.parametrize("cut", [395, 398, 400, 410])
def test_rows_asked_from_a_day_go_on_from_the_day_before(gold, whole, cut):
    """Cut at 395: job "b"'s runtime change is found against its stored row of day 20; at 398
    and 410 job "a"'s runtime changes on the first day asked for; at 400 its failures and 30-day
    windows run across the cut. Job "n" has no stored row before cuts 395-400."""
    since = _date(cut)
    stored = latest_stored(GoldTables(gold, {TABLE: whole}, since), TABLE, "job_id", "date", ["runs_all"])
    assert stored is not None  # the stored rows are used, not all of Gold
    assert rows_from_differ(JOB_RUNTIME_FEATURES, gold, whole, since) == {}


def test_a_table_written_by_an_older_release_is_computed_from_gold(gold, whole):
    """A stored table without the carried columns (written before they existed) is not carried
    from: every row asked for comes from Gold, equal to the whole's."""
    since = _date(400)
    older = whole.drop("runs_all", "failures_all", "last_dbr_version_num")
    assert (
        latest_stored(GoldTables(gold, {TABLE: older}, since), TABLE, "job_id", "date", ["runs_all"]) is None
    )
    assert rows_from_differ(JOB_RUNTIME_FEATURES, gold, whole, since, stored=older) == {}
