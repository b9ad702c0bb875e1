"""Labels and run helpers of the reliability plugin on hand-made runs and on the simulated account."""

import datetime as dt

import pytest
from pyspark.sql import functions as F

from health_monitor.testing.pointintime import GoldTables
from health_monitor_reliability.labels import health_labels, run_failure_labels, sla_breach_labels
from health_monitor_reliability.runs import retried_failures, sla_runs

T = dt.datetime


def _slices(spark, rows):
    cols = [
        "job_id",
        "run_id",
        "period_start_time",
        "period_end_time",
        "result_state",
        "termination_code",
        "trigger_type",
    ]
    df = spark.createDataFrame(rows, cols)
    return df.select(
        F.lit("w").alias("workspace_id"),
        *cols,
        F.lit("JOB_RUN").alias("run_type"),
        F.lit(None).cast("string").alias("cluster_id"),
    )


@pytest.fixture(scope="module")
def tiny(spark):
    runs = [
        # Daily job "d" scheduled 04:00, deadline 07:00, max 1 h.
        ("d", "1", T(2025, 1, 1, 4), T(2025, 1, 1, 4, 30), "SUCCEEDED", "SUCCESS", "CRON"),
        ("d", "2", T(2025, 1, 2, 4), T(2025, 1, 2, 5, 30), "SUCCEEDED", "SUCCESS", "CRON"),  # too long
        ("d", "3", T(2025, 1, 3, 7, 30), T(2025, 1, 3, 8), "SUCCEEDED", "SUCCESS", "CRON"),  # queued: late
        ("d", "4", T(2025, 1, 4, 4), T(2025, 1, 4, 4, 10), "FAILED", "RUN_EXECUTION_ERROR", "CRON"),
        ("d", "5", T(2025, 1, 4, 4, 13), T(2025, 1, 4, 4, 40), "SUCCEEDED", "SUCCESS", "ONETIME_RETRY"),
        # Daily job "n" at 22:00 with a deadline after midnight (02:00).
        ("n", "6", T(2025, 1, 1, 22), T(2025, 1, 1, 23), "SUCCEEDED", "SUCCESS", "CRON"),
        ("n", "7", T(2025, 1, 2, 22), T(2025, 1, 3, 2, 30), "FAILED", "RUN_EXECUTION_ERROR", "CRON"),
        (
            "n",
            "8",
            T(2025, 1, 3, 2, 33),
            T(2025, 1, 3, 2, 50),
            "FAILED",
            "RUN_EXECUTION_ERROR",
            "ONETIME_RETRY",
        ),
    ]
    sla = spark.createDataFrame(
        [("w", "d", 3600, 7, "o"), ("w", "n", 36000, 2, "o")],
        "workspace_id string, job_id string, sla_duration_seconds long, sla_end_hour_utc int, sla_owner string",
    )
    return GoldTables({"fact_job_run_timeline": _slices(spark, runs), "dim_job_sla": sla})


def test_sla_breaches_count_duration_and_deadline(tiny):
    got = {r.run_id: r.sla_breach for r in sla_runs(tiny).collect()}
    assert got == {"1": 0, "2": 1, "3": 1, "4": 0, "5": 0, "6": 0, "7": 1, "8": 1}
    deadline = {r.run_id: r.deadline for r in sla_runs(tiny).collect()}
    assert deadline["7"] == T(2025, 1, 3, 2)  # the deadline after midnight, not the same day's 02:00


def test_sla_breach_labels_are_per_job_day(tiny):
    got = {(r.job_id, str(r.run_date)): r.label for r in sla_breach_labels(tiny).collect()}
    assert got[("d", "2025-01-02")] == 1 and got[("d", "2025-01-01")] == 0 and got[("n", "2025-01-02")] == 1


def test_run_failure_labels_are_per_run_on_the_day_it_started(tiny):
    got = {(r.job_id, r.run_id, str(r.start_date)): r.label for r in run_failure_labels(tiny).collect()}
    assert got == {
        ("d", "1", "2025-01-01"): 0,
        ("d", "2", "2025-01-02"): 0,
        ("d", "3", "2025-01-03"): 0,
        ("d", "4", "2025-01-04"): 1,
        ("d", "5", "2025-01-04"): 0,
        ("n", "6", "2025-01-01"): 0,
        ("n", "7", "2025-01-02"): 1,  # failed after midnight: labelled on the day it started
        ("n", "8", "2025-01-03"): 1,
    }


def test_retries_pair_with_the_failure_they_repeat(tiny):
    got = {r.run_id: r.retry_succeeded for r in retried_failures(tiny).collect()}
    assert got == {"4": 1, "7": 0}


def test_health_labels_look_seven_days_ahead_and_stop_at_the_horizon(tiny):
    got = {(r.job_id, str(r.run_date)): r.label for r in health_labels(tiny).collect()}
    # The data ends 2025-01-04: no day has a full 7-day horizon, so nothing is labelled.
    assert got == {}


def test_sla_labels_on_the_simulated_account_see_the_breach_incidents(simulated_home):
    tables = simulated_home.tables
    incidents = tables.ground_truth("incidents").where(F.col("incident_type") == "sla_breach").collect()
    labels = sla_breach_labels(tables)
    for incident in incidents:
        days = labels.where(
            (F.col("job_id") == incident.entity_id)
            & (F.col("run_date") >= F.to_date(F.lit(incident.start_time)))
            & (F.col("run_date") < F.to_date(F.lit(incident.end_time)))
        )
        assert days.agg(F.max("label")).first()[0] == 1
