"""Job runs rebuilt from the hourly-sliced run timeline (result state lives on the final slice)."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Tables

FAILURE_STATES = ("FAILED", "ERROR", "TIMED_OUT")


def job_runs(tables: Tables):
    """One row per finished job run: start, end, duration, result and whether it failed."""
    slices = tables.gold("fact_job_run_timeline")
    return (
        slices.groupBy("workspace_id", "job_id", "run_id")
        .agg(
            F.min("period_start_time").alias("start_time"),
            F.max("period_end_time").alias("end_time"),
            F.max("result_state").alias("result_state"),  # non-null on the final slice only
            F.max("trigger_type").alias("trigger_type"),
            F.max("run_type").alias("run_type"),
            F.max("cluster_id").alias("cluster_id"),
        )
        .where(F.col("result_state").isNotNull())
        .withColumn("run_date", F.to_date("start_time"))
        .withColumn("duration_sec", F.unix_timestamp("end_time") - F.unix_timestamp("start_time"))
        .withColumn("failed", F.col("result_state").isin(*FAILURE_STATES).cast("int"))
        .withColumn("is_repair", F.col("trigger_type").contains("RETRY").cast("int"))
    )
