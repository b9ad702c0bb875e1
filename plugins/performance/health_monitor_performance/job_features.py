"""Job-day features for runtime (DBR) migration risk: each job's stability and runtime history.

A run belongs to the day it ended (when its result became known). Rows are the days a job had
finished runs; a model looks the latest row up as of the day before the day it scores.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, prior_days, ratio, version_as_of
from health_monitor_performance.gold import finished_runs

NEVER_DAYS = 365  # "days since" when the event has not happened in the job's history
HISTORY_DAYS = 30  # the longest window: the 30 days up to a day


def job_days(tables: Tables):
    runs = finished_runs(tables)
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


def job_runtime_features(tables: Tables):
    days = job_days(tables)
    upto = Window.partitionBy("job_id").orderBy("date").rowsBetween(Window.unboundedPreceding, 0)
    by_day = Window.partitionBy("job_id").orderBy("date")
    previous_dbr = F.last("dbr_version_num", ignorenulls=True).over(
        by_day.rowsBetween(Window.unboundedPreceding, -1)
    )
    days = days.withColumn(
        "dbr_changed",
        (previous_dbr.isNotNull() & F.col("dbr_version_num").isNotNull())
        & ((F.col("min_dbr_today") != previous_dbr) | (F.col("dbr_version_num") != previous_dbr)),
    )
    last_change = F.max(F.when(F.col("dbr_changed"), F.col("date"))).over(upto)
    # The all-time features over every day of the job's history...
    ever = days.select(
        "*",
        ratio(F.sum("failures").over(upto), F.sum("runs").over(upto)).alias("failure_rate_all"),
        F.coalesce(F.datediff("date", last_change), F.lit(NEVER_DAYS)).alias("days_since_dbr_change"),
        F.sum(F.col("dbr_changed").cast("int")).over(upto).alias("dbr_changes"),
        F.datediff("date", F.min("date").over(upto)).alias("job_age_days"),
    )
    # ...then the windows of at most HISTORY_DAYS over the days kept and those before them.
    ever = kept_days(ever, tables, "date", HISTORY_DAYS)
    month = prior_days("job_id", "date", 30, include_today=True)
    runs_30 = F.sum("runs").over(month)
    mean_30 = F.sum("duration_sum").over(month) / runs_30
    var_30 = F.sum("duration_sq_sum").over(month) / runs_30 - mean_30 * mean_30
    df = ever.join(_job_configuration(tables, ever), ["job_id", "date"], "left")
    return df.select(
        "job_id",
        "date",
        "workspace_id",
        "runs",
        "failures",
        "median_duration_s",
        "dbr_version_num",
        F.coalesce(F.col("dbr_version_num").isNotNull().cast("int"), F.lit(0)).alias("is_classic"),
        runs_30.alias("runs_30d"),
        ratio(F.sum("failures").over(month), runs_30).alias("failure_rate_30d"),
        "failure_rate_all",
        F.sum("failures").over(prior_days("job_id", "date", 7, include_today=True)).alias("failures_7d"),
        ratio(F.sqrt(F.greatest(var_30, F.lit(0.0))), mean_30).alias("duration_cv_30d"),
        F.log1p(mean_30).alias("log_mean_duration_30d"),
        "days_since_dbr_change",
        "dbr_changes",
        "job_age_days",
        "task_count",
        "max_retries",
        "has_timeout",
        "is_scheduled",
        "job_versions",
    )


JOB_RUNTIME_FEATURES = FeatureTable(
    name="job_runtime_features",
    domain="performance",
    primary_keys=("job_id", "date"),
    timestamp_key="date",
    compute=job_runtime_features,
    description=(
        "Per job and day its runs ended: runs, failures, duration spread, the runtime version its "
        "clusters ran, days since its last runtime change, and its configuration at day end."
    ),
    sources=("fact_job_run_timeline", "dim_cluster", "dim_job"),
)
