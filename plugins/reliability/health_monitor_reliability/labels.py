"""Reliability labels, all from Gold facts: run results, durations, the SLA table and retries."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import Labels, Tables
from health_monitor.sdk.featurekit import day_number
from health_monitor_reliability.runs import job_runs, retried_failures, sla_runs

INCIDENT_HORIZON_DAYS = 7


def failure_labels(tables: Tables):
    return job_runs(tables).groupBy("job_id", "run_date").agg(F.max("failed").alias("label"))


def run_failure_labels(tables: Tables):
    """Per finished run, keyed by the job, the run and the day it started: 1 when it failed."""
    runs = job_runs(tables)
    return runs.select(
        "job_id", "run_id", F.col("run_date").alias("start_date"), F.col("failed").alias("label")
    )


def duration_labels(tables: Tables):
    ok = job_runs(tables).where(F.col("result_state") == "SUCCEEDED")
    return ok.groupBy("job_id", "run_date").agg(F.avg("duration_sec").alias("label"))


def run_duration_labels(tables: Tables):
    """Per successful run, keyed by the job, the run and the day it started: its duration in seconds."""
    ok = job_runs(tables).where(F.col("result_state") == "SUCCEEDED")
    return ok.select(
        "job_id",
        "run_id",
        F.col("run_date").alias("start_date"),
        F.col("duration_sec").cast("double").alias("label"),
    )


def sla_breach_labels(tables: Tables):
    return sla_runs(tables).groupBy("job_id", "run_date").agg(F.max("sla_breach").alias("label"))


def retry_labels(tables: Tables):
    return retried_failures(tables).select("run_id", F.col("retry_succeeded").alias("label"))


def health_labels(tables: Tables):
    """1 when the job has an incident day within the next INCIDENT_HORIZON_DAYS days (the day
    itself included); days whose horizon runs past the data are left unlabelled."""
    runs = job_runs(tables)
    breaches = sla_runs(tables, runs).groupBy("job_id", "run_date").agg(F.max("sla_breach").alias("breach"))
    days = (
        runs.groupBy("job_id", "run_date")
        .agg(F.max_by("failed", "start_time").alias("last_failed"))
        .join(breaches, ["job_id", "run_date"], "left")
        .withColumn(
            "incident", ((F.col("last_failed") == 1) | (F.coalesce("breach", F.lit(0)) == 1)).cast("int")
        )
    )
    ahead = F.max("incident").over(
        Window.partitionBy("job_id")
        .orderBy(day_number("run_date"))
        .rangeBetween(0, INCIDENT_HORIZON_DAYS - 1)
    )
    horizon = days.agg(F.max("run_date").alias("horizon"))
    return (
        days.select("job_id", "run_date", ahead.alias("label"))
        .crossJoin(horizon)
        .where(F.col("run_date") <= F.date_sub("horizon", INCIDENT_HORIZON_DAYS - 1))
        .drop("horizon")
    )


FAILURE_LABELS = Labels(
    model="job_failure_predictor",
    compute=failure_labels,
    description="1 when at least one run of the job ended FAILED, ERROR or TIMED_OUT that day.",
)
RUN_FAILURE_LABELS = Labels(
    model="run_failure_predictor",
    compute=run_failure_labels,
    description="1 when the run ended FAILED, ERROR or TIMED_OUT; runs still running have no label.",
)
DURATION_LABELS = Labels(
    model="job_duration_forecaster",
    compute=duration_labels,
    description="The mean duration (seconds) of the job's successful runs that started that day.",
)
RUN_DURATION_LABELS = Labels(
    model="run_duration_forecaster",
    compute=run_duration_labels,
    description=(
        "The run's duration in seconds, first clock-hour slice to last, for runs that SUCCEEDED; "
        "failed runs and runs still running have no label."
    ),
)
SLA_BREACH_LABELS = Labels(
    model="sla_breach_predictor",
    compute=sla_breach_labels,
    description=(
        "1 when a run of the job that started that day ran longer than dim_job_sla.sla_duration_seconds "
        "or ended after its deadline hour (sla_end_hour_utc)."
    ),
)
RETRY_LABELS = Labels(
    model="retry_success_predictor",
    compute=retry_labels,
    description="1 when the retry run (ONETIME_RETRY) that followed the failed run succeeded.",
)
HEALTH_LABELS = Labels(
    model="pipeline_health_scorer",
    compute=health_labels,
    description=(
        "1 when the job has an incident day (its last run of the day failed, or a run breached its SLA) "
        f"within the next {INCIDENT_HORIZON_DAYS} days, the day itself included."
    ),
)
