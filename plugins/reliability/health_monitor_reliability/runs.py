"""Job runs rebuilt from the hourly-sliced run timeline (result state lives on the final slice),
with their SLA verdicts and the retries that followed failed attempts."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.sdk import Tables
from health_monitor.sdk.featurekit import finished_job_runs

RETRY_TRIGGER = "ONETIME_RETRY"
RETRY_WITHIN_MINUTES = 15  # a retry run starts this soon after the failed attempt it repeats
# A run belongs to the first deadline hour after its start minus this much: schedules put the
# deadline 2-8 h after the start, and a queued or late run may start hours past it.
DEADLINE_LOOKBACK_HOURS = 12


def job_runs(tables: Tables):
    """One row per finished job run: start, end, duration, result and whether it failed, the day
    it started (``run_date``) and whether a retry trigger started it (``is_repair``)."""
    # Read by most reliability tables, labels and bases; the runs beneath are rebuilt once per
    # stage and shared with the other plugins that read them (finished_job_runs).
    return (
        finished_job_runs(tables)
        .withColumn("run_date", F.to_date("start_time"))
        .withColumn("is_repair", F.col("trigger_type").contains("RETRY").cast("int"))
    )


def sla_runs(tables: Tables, runs=None):
    """Runs of jobs with an SLA and whether each breached it: it ran longer than
    ``sla_duration_seconds``, or (jobs with a deadline hour) it ended after its deadline, the first
    ``sla_end_hour_utc`` after the run's start minus DEADLINE_LOOKBACK_HOURS.

    Adds ``sla_duration_seconds``, ``deadline``, ``duration_sla_ratio``, ``end_margin_hours``
    (deadline minus end; negative when late) and ``sla_breach`` (0/1)."""
    runs = job_runs(tables) if runs is None else runs
    sla = tables.gold("dim_job_sla").select("job_id", "sla_duration_seconds", "sla_end_hour_utc")
    anchor = F.col("start_time") - F.expr(f"INTERVAL {DEADLINE_LOOKBACK_HOURS} HOURS")
    same_day = F.timestamp_add("HOUR", F.col("sla_end_hour_utc"), F.to_date(anchor).cast("timestamp"))
    deadline = F.when(same_day > anchor, same_day).otherwise(F.timestamp_add("DAY", F.lit(1), same_day))
    margin = (F.unix_timestamp("deadline") - F.unix_timestamp("end_time")) / 3600.0
    return (
        runs.join(sla, "job_id")
        .withColumn("deadline", F.when(F.col("sla_end_hour_utc").isNotNull(), deadline))
        .withColumn("duration_sla_ratio", F.col("duration_sec") / F.col("sla_duration_seconds"))
        .withColumn("end_margin_hours", margin)
        .withColumn(
            "sla_breach",
            (
                (F.col("duration_sec") > F.col("sla_duration_seconds"))
                | F.coalesce(F.col("end_time") > F.col("deadline"), F.lit(False))
            ).cast("int"),
        )
    )


def retried_failures(tables: Tables, runs=None):
    """(run_id of a failed attempt, retry_succeeded): each retry run paired with the latest failed
    run of the same job that ended at most RETRY_WITHIN_MINUTES before the retry started."""
    runs = job_runs(tables) if runs is None else runs
    failed = runs.where(F.col("failed") == 1).select(
        "job_id", F.col("run_id").alias("failed_run_id"), F.col("end_time").alias("failed_end")
    )
    retries = runs.where(F.col("trigger_type") == RETRY_TRIGGER).select(
        "job_id",
        F.col("run_id").alias("retry_run_id"),
        F.col("start_time").alias("retry_start"),
        (F.col("result_state") == "SUCCEEDED").cast("int").alias("retry_succeeded"),
    )
    window_start = F.col("retry_start") - F.expr(f"INTERVAL {RETRY_WITHIN_MINUTES} MINUTES")
    pairs = (
        retries.join(failed, "job_id")
        .where((F.col("failed_end") <= F.col("retry_start")) & (F.col("failed_end") >= window_start))
        .groupBy("retry_run_id", "retry_succeeded")
        .agg(F.max_by("failed_run_id", "failed_end").alias("run_id"))
    )
    # One retry per failed attempt: the first one.
    return pairs.groupBy("run_id").agg(F.min_by("retry_succeeded", "retry_run_id").alias("retry_succeeded"))
