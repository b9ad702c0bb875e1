"""Job-day features for runtime (DBR) migration risk: each job's stability and runtime history.

A run belongs to the day it ended (when its result became known). Rows are the days a job had
finished runs; a model looks the latest row up as of the day before the day it scores. A daily
run's all-time figures go on from each job's latest stored row (:func:`_all_time`), so it reads
the runs of its windows' days only.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import AllTime, kept_days, latest_stored, prior_days, ratio, version_as_of
from health_monitor_performance.gold import finished_runs

# "Days since" counts up to this: a year or more, or never in the job's history. Capped, a day's
# count follows from the job's stored one, so a daily run can carry it.
NEVER_DAYS = 365
HISTORY_DAYS = 30  # the longest window: the 30 days up to a day
# The all-time figures a day's row goes on from: the job's latest stored row before it.
CARRIED = (
    "runs_all",
    "failures_all",
    "dbr_changes",
    "days_since_dbr_change",
    "job_age_days",
    "last_dbr_version_num",
)


def job_days(tables: Tables, ended_from: dt.date | None = None):
    runs = finished_runs(tables, ended_from)
    return runs.groupBy("job_id", F.col("end_date").alias("date")).agg(
        F.count(F.lit(1)).alias("runs"),
        F.sum("failed").alias("failures"),
        F.sum("duration_s").alias("duration_sum"),
        F.sum(F.col("duration_s") * F.col("duration_s")).alias("duration_sq_sum"),
        F.percentile("duration_s", 0.5).alias("median_duration_s"),
        F.max_by("dbr", "end_time").alias("dbr_version_num"),
        F.min("dbr").alias("min_dbr_today"),
        F.max("workspace_id").alias("workspace_id"),
    )


def _job_configuration(tables: Tables, days):
    return version_as_of(
        days,
        tables.gold("dim_job"),
        "job_id",
        "date",
        {
            "task_count": F.col("task_count"),
            "max_retries": F.col("max_retries"),
            "has_timeout": (F.col("timeout_seconds") > 0).cast("int"),
            "is_scheduled": (F.col("trigger_type") == "CRON").cast("int"),
        },
        count_as="job_versions",
    )


def _windows(days):
    """``days`` with the windows of at most HISTORY_DAYS up to each day."""
    month = prior_days("job_id", "date", 30, include_today=True)
    runs_30 = F.sum("runs").over(month)
    mean_30 = F.sum("duration_sum").over(month) / runs_30
    var_30 = F.sum("duration_sq_sum").over(month) / runs_30 - mean_30 * mean_30
    return days.select(
        "*",
        runs_30.alias("runs_30d"),
        ratio(F.sum("failures").over(month), runs_30).alias("failure_rate_30d"),
        F.sum("failures").over(prior_days("job_id", "date", 7, include_today=True)).alias("failures_7d"),
        ratio(F.sqrt(F.greatest(var_30, F.lit(0.0))), mean_30).alias("duration_cv_30d"),
        F.log1p(mean_30).alias("log_mean_duration_30d"),
    )


def _all_time(days, carried=None):
    """``days`` with the all-time figures up to each day: over the job's whole history when
    ``carried`` is None (``days`` holds every day), else over ``days`` going on from ``carried``
    (``featurekit.latest_stored``: each job's latest stored row before them)."""
    if carried is not None:
        days = days.join(carried, "job_id", "left")
    at = AllTime("job_id", "date", carried is not None)
    dbr = F.col("dbr_version_num")
    previous_dbr = at.latest(dbr, "last_dbr_version_num", before=True)
    days = days.withColumn(
        "dbr_changed",
        (previous_dbr.isNotNull() & dbr.isNotNull())
        & ((F.col("min_dbr_today") != previous_dbr) | (dbr != previous_dbr)),
    )
    age = F.datediff("date", F.min("date").over(at.upto))
    if carried is not None:  # the stored age, a day more each day
        age = F.coalesce(at.stored("job_age_days") + at.days_since_stored(), age)
    runs_all, failures_all = at.total(F.col("runs"), "runs_all"), at.total(F.col("failures"), "failures_all")
    return days.select(
        "*",
        runs_all.alias("runs_all"),
        failures_all.alias("failures_all"),
        ratio(failures_all, runs_all).alias("failure_rate_all"),
        at.days_since(F.col("dbr_changed"), "days_since_dbr_change", NEVER_DAYS).alias(
            "days_since_dbr_change"
        ),
        at.total(F.col("dbr_changed").cast("int"), "dbr_changes").alias("dbr_changes"),
        age.alias("job_age_days"),
        at.latest(dbr, "last_dbr_version_num").alias("last_dbr_version_num"),
    )


def job_runtime_features(tables: Tables):
    rows_from = tables.rows_from()
    carried = latest_stored(tables, "job_runtime_features", "job_id", "date", list(CARRIED))
    if carried is None:  # the all-time figures over every day, then the windows over the days kept
        days = _windows(kept_days(_all_time(job_days(tables)), tables, "date", HISTORY_DAYS))
    else:  # the windows over the runs of their days, then the all-time figures of the days kept
        recent = job_days(tables, rows_from - dt.timedelta(days=HISTORY_DAYS))
        days = _all_time(_windows(recent).where(F.col("date") >= F.lit(rows_from)), carried)
    df = days.join(_job_configuration(tables, days), ["job_id", "date"], "left")
    return df.select(
        "job_id",
        "date",
        "workspace_id",
        "runs",
        "failures",
        "median_duration_s",
        "dbr_version_num",
        F.coalesce(F.col("dbr_version_num").isNotNull().cast("int"), F.lit(0)).alias("is_classic"),
        "runs_30d",
        "failure_rate_30d",
        "failure_rate_all",
        "failures_7d",
        "duration_cv_30d",
        "log_mean_duration_30d",
        "days_since_dbr_change",
        "dbr_changes",
        "job_age_days",
        "task_count",
        "max_retries",
        "has_timeout",
        "is_scheduled",
        "job_versions",
        "runs_all",
        "failures_all",
        "last_dbr_version_num",
    )


JOB_RUNTIME_FEATURES = FeatureTable(
    name="job_runtime_features",
    domain="performance",
    primary_keys=("job_id", "date"),
    timestamp_key="date",
    compute=job_runtime_features,
    description=(
        "Per job and day its runs ended: runs, failures, duration spread, the runtime version its "
        "clusters ran (and the last one known), days since its last runtime change (up to 365: a "
        "year or more, or never), all-time runs and failures, and its configuration at day end."
    ),
    sources=("fact_job_run_timeline", "dim_cluster", "dim_job"),
)
