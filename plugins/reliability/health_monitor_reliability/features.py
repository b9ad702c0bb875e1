"""Reliability feature tables: each job's day, with 7/30-day history up to and including it.

Rows include their own day's outcomes; models that predict a day look them up as of the day
before (``timestamp_lookup_key``), so no outcome of the predicted day leaks in.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.featurekit import calendar, prior_days, ratio
from health_monitor.specs import FeatureTable, Tables
from health_monitor_reliability.runs import job_runs


def _dbr_number(column: str):
    # "15.4.x-scala2.12" -> 15.4; photon/ml variants keep their numeric prefix.
    return F.regexp_extract(F.col(column), r"^(\d+\.\d+)", 1).cast("double")


def reliability_features(tables: Tables):
    runs = job_runs(tables)
    clusters = tables.gold("dim_cluster").select("cluster_id", "dbr_version", "change_time")
    # The runtime a run used: the cluster's version in force when the run started.
    versions = (
        runs.select("run_id", "cluster_id", "start_time")
        .join(clusters, "cluster_id", "left")
        .where(F.col("change_time").isNull() | (F.col("change_time") <= F.col("start_time")))
        .groupBy("run_id")
        .agg(F.max_by("dbr_version", "change_time").alias("dbr_version"))
    )
    nodes = (
        tables.gold("fact_node_timeline")
        .groupBy("cluster_id", F.to_date("start_time").alias("run_date"))
        .agg(
            F.avg("mem_used_percent").alias("avg_mem_used_percent"),
            F.max("mem_used_percent").alias("peak_mem_used_percent"),
            F.avg("cpu_wait_percent").alias("avg_cpu_wait_percent"),
        )
    )
    runs = runs.join(versions, "run_id", "left").join(nodes, ["cluster_id", "run_date"], "left")
    daily = runs.groupBy("job_id", "run_date").agg(
        F.count(F.lit(1)).alias("total_runs"),
        F.sum("failed").alias("failures"),
        F.avg("duration_sec").alias("avg_duration_sec"),
        F.max("duration_sec").alias("max_duration_sec"),
        F.stddev("duration_sec").alias("std_duration_sec"),
        F.sum("is_repair").alias("repair_runs"),
        F.max_by("failed", "start_time").alias("last_run_failed"),
        F.avg("avg_mem_used_percent").alias("avg_mem_used_percent"),
        F.max("peak_mem_used_percent").alias("peak_mem_used_percent"),
        F.avg("avg_cpu_wait_percent").alias("avg_cpu_wait_percent"),
        F.max(_dbr_number("dbr_version")).alias("dbr_version_num"),
    )
    w7 = prior_days("job_id", "run_date", 7, include_today=True)
    w30 = prior_days("job_id", "run_date", 30, include_today=True)
    before = prior_days("job_id", "run_date", 7)
    jobs = (
        tables.gold("dim_job")
        .where("is_current")
        .select("job_id", "task_count", "max_retries", "timeout_seconds")
    )
    hist = daily.select(
        "*",
        F.sum("failures").over(w7).alias("failures_7d"),
        F.sum("total_runs").over(w7).alias("runs_7d"),
        F.sum("failures").over(w30).alias("total_failures_30d"),
        F.sum("total_runs").over(w30).alias("runs_30d"),
        F.avg("avg_duration_sec").over(w30).alias("rolling_avg_duration_30d"),
        F.sum("repair_runs").over(w30).alias("repairs_30d"),
        F.max("peak_mem_used_percent").over(w7).alias("peak_mem_7d"),
        F.min("dbr_version_num").over(before).alias("dbr_min_prior_7d"),
    ).join(jobs, "job_id", "left")
    return hist.select(
        "job_id",
        "run_date",
        "total_runs",
        "failures",
        ratio(F.col("failures"), F.col("total_runs")).alias("failure_rate"),
        ratio(F.col("total_runs") - F.col("failures"), F.col("total_runs")).alias("success_rate"),
        "avg_duration_sec",
        "max_duration_sec",
        ratio(F.col("std_duration_sec"), F.col("avg_duration_sec")).alias("duration_cv"),
        "repair_runs",
        F.col("last_run_failed").alias("prev_day_failed"),
        ratio(F.col("failures_7d"), F.col("runs_7d")).alias("recent_failure_rate_7d"),
        ratio(F.col("total_failures_30d"), F.col("runs_30d")).alias("rolling_failure_rate_30d"),
        "total_failures_30d",
        "rolling_avg_duration_30d",
        ratio(F.col("repairs_30d"), F.col("runs_30d")).alias("rolling_repair_rate_30d"),
        "avg_mem_used_percent",
        "peak_mem_7d",
        "avg_cpu_wait_percent",
        "dbr_version_num",
        (F.col("dbr_version_num") > F.col("dbr_min_prior_7d")).cast("int").alias("dbr_upgraded_7d"),
        "task_count",
        "max_retries",
        "timeout_seconds",
        *calendar("run_date"),
    )


RELIABILITY_FEATURES = FeatureTable(
    name="reliability_features",
    primary_keys=("job_id", "run_date"),
    timestamp_key="run_date",
    compute=reliability_features,
    description="Per job and day: runs, failures, durations, repairs, memory pressure, runtime upgrades.",
    sources=("fact_job_run_timeline", "dim_cluster", "fact_node_timeline", "dim_job"),
)
