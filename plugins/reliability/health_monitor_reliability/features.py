"""Reliability feature tables: each job's day, with 7/30-day history up to and including it.

Rows include their own day's outcomes; models that predict a day look them up as of the day
before (``timestamp_lookup_key``), so no outcome of the predicted day leaks in. The table is
dense (every calendar day from a job's first run to the last day seen), so an as-of lookup
lands on the day before exactly, and "days since" features count calendar days.

A daily run recomputes the days from the first one whose Gold changed. The all-time figures of
those days (rates over the job's whole history, streaks, "days since") go on from the job's
latest stored row before them (:func:`_carried`), so the run reads only the runs of the days its
windows span (``HISTORY_DAYS``), however long the history is.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import (
    AllTime,
    calendar,
    dbr_number,
    kept_days,
    latest_stored,
    prior_days,
    ratio,
    version_as_of,
    version_at,
    window_median,
)
from health_monitor_reliability.runs import job_runs, sla_runs

MEMORY_PRESSURE_PERCENT = 90.0  # peak memory above this on a run's cluster makes it likelier to fail
# "Days since" counts up to this: a year or more, or never in the job's history. Capped, a day's
# count follows from the day before's, so a daily run can carry it (_carried).
NEVER_DAYS = 365
HISTORY_DAYS = 30  # the longest window of reliability_features: the 30 days up to a day
# The all-time figures a day's row goes on from: its job's latest stored row before it.
CARRIED = (
    "run_days_all",
    "failed_days_all",
    "consecutive_failed_days",
    "days_since_last_failure",
    "days_since_job_change",
    "days_since_dbr_upgrade",
    "last_success_duration_sec",
    "sla_breached_days_all",
    "days_since_sla_breach",
    "days_since_incident",
    "repairs_all",
    "repair_successes_all",
    "dbr_version_num",  # the runtime most recently used (dbr_current)
)


def _daily_sla(tables: Tables, runs):
    """Per job and day: SLA breaches and how close the runs came to the duration and deadline."""
    return (
        sla_runs(tables, runs)
        .groupBy("job_id", "run_date")
        .agg(
            F.sum("sla_breach").alias("sla_breaches"),
            F.max("duration_sla_ratio").alias("max_duration_sla_ratio"),
            F.min("end_margin_hours").alias("min_end_margin_hours"),
        )
    )


def _daily_runs(tables: Tables, runs):
    # The runtime a run used: the cluster's version in force when the run started.
    runtime = {"dbr_version": "dbr_version"}
    runs = version_at(runs, tables.gold("dim_cluster"), "cluster_id", "start_time", "run_id", runtime)
    # Memory and CPU wait feed only the windows (HISTORY_DAYS at most) and the day's own row: the
    # days before those are not read when only the kept days are asked for (rows_from).
    nodes = (
        kept_days(tables.gold("fact_node_timeline"), tables, "start_time", HISTORY_DAYS)
        .groupBy("cluster_id", F.to_date("start_time").alias("run_date"))
        .agg(
            F.avg("mem_used_percent").alias("avg_mem_used_percent"),
            F.max("mem_used_percent").alias("peak_mem_used_percent"),
            F.avg("cpu_wait_percent").alias("avg_cpu_wait_percent"),
        )
    )
    runs = runs.join(nodes, ["cluster_id", "run_date"], "left")
    end_hour = (
        F.hour("end_time")
        + F.minute("end_time") / 60.0
        + 24.0 * F.datediff(F.to_date("end_time"), F.col("run_date"))
    )
    return runs.groupBy("job_id", "run_date").agg(
        F.count(F.lit(1)).alias("total_runs"),
        F.sum("failed").alias("failures"),
        F.avg("duration_sec").alias("avg_duration_sec"),
        F.avg(F.when(F.col("result_state") == "SUCCEEDED", F.col("duration_sec"))).alias(
            "success_avg_duration_sec"
        ),
        F.max("duration_sec").alias("max_duration_sec"),
        F.stddev("duration_sec").alias("std_duration_sec"),
        F.sum("is_repair").alias("repair_runs"),
        F.sum(((F.col("is_repair") == 1) & (F.col("result_state") == "SUCCEEDED")).cast("int")).alias(
            "repair_successes"
        ),
        F.max_by("failed", "start_time").alias("last_run_failed"),
        F.avg("avg_mem_used_percent").alias("avg_mem_used_percent"),
        F.max("peak_mem_used_percent").alias("peak_mem_used_percent"),
        F.sum((F.col("peak_mem_used_percent") > MEMORY_PRESSURE_PERCENT).cast("int")).alias(
            "memory_pressure_runs"
        ),
        F.avg("avg_cpu_wait_percent").alias("avg_cpu_wait_percent"),
        F.max(dbr_number("dbr_version")).alias("dbr_version_num"),
        F.max(end_hour).alias("last_end_hour"),
    )


def _dense(daily, runs, first: dt.date | None = None):
    """Every calendar day from each job's first run (of ``runs``, all of them; or from ``first``
    when that is later) to the last day any job ran, with ``daily``'s figures of the day."""
    horizon = runs.agg(F.max("run_date").alias("horizon"))
    start = F.col("first_date") if first is None else F.greatest("first_date", F.lit(first))
    spine = (
        runs.groupBy("job_id")
        .agg(F.min("run_date").alias("first_date"))
        .crossJoin(horizon)
        .select("job_id", F.explode(F.sequence(start, "horizon")).alias("run_date"))
    )
    return spine.join(daily, ["job_id", "run_date"], "left").fillna(
        0, subset=["total_runs", "failures", "repair_runs", "repair_successes", "memory_pressure_runs"]
    )


def _job_changes(tables: Tables):
    """Days a job got a new version (an edit after its creation): deploys precede failure bursts."""
    return (
        tables.gold("dim_job")
        .where(F.col("change_time") > F.col("create_time"))
        .select("job_id", F.to_date("change_time").alias("run_date"))
        .distinct()
        .withColumn("job_changed", F.lit(True))
    )


def _upstream_jobs(tables: Tables):
    """(job_id, upstream_job_id, since): the jobs that write a table this job reads, from lineage,
    and the first day both edges had been seen (so the graph is known point in time). A few pairs
    from every day of lineage, read by the job-day and the per-run tables: computed once a stage
    (``Tables.shared``)."""
    lineage = tables.gold("fact_table_lineage").where(F.col("entity_type") == "JOB")
    reads = (
        lineage.where(F.col("source_table_full_name").isNotNull())
        .groupBy(F.col("entity_id").alias("job_id"), F.col("source_table_full_name").alias("table"))
        .agg(F.min("event_date").alias("read_since"))
    )
    writes = (
        lineage.where(F.col("target_table_full_name").isNotNull())
        .groupBy(F.col("entity_id").alias("upstream_job_id"), F.col("target_table_full_name").alias("table"))
        .agg(F.min("event_date").alias("write_since"))
    )
    return tables.shared(
        reads.join(writes, "table")
        .where(F.col("job_id") != F.col("upstream_job_id"))
        .groupBy("job_id", "upstream_job_id")
        .agg(F.min(F.greatest("read_since", "write_since")).alias("since"))
    )


def _carried(tables: Tables):
    """Each job's latest stored row before the first day kept, with the :data:`CARRIED` columns
    (``featurekit.latest_stored``); None when every day must come from Gold."""
    return latest_stored(tables, "reliability_features", "job_id", "run_date", list(CARRIED))


def _windows(day):
    """``day`` (dense job-days) with the windows of at most HISTORY_DAYS up to each day."""
    w7 = prior_days("job_id", "run_date", 7, include_today=True)
    w3 = prior_days("job_id", "run_date", 3, include_today=True)
    w30 = prior_days("job_id", "run_date", 30, include_today=True)
    w28 = prior_days("job_id", "run_date", 28, include_today=True)
    before = prior_days("job_id", "run_date", 7)
    return day.select(
        "*",
        F.min("dbr_version_num").over(before).alias("dbr_min_prior_7d"),
        (F.col("last_end_hour") - F.avg("last_end_hour").over(prior_days("job_id", "run_date", 14))).alias(
            "end_hour_delay"
        ),
        F.sum("failures").over(w7).alias("failures_7d"),
        F.sum("total_runs").over(w7).alias("runs_7d"),
        F.sum("failures").over(w30).alias("total_failures_30d"),
        F.sum("total_runs").over(w30).alias("runs_30d"),
        F.sum(F.col("failed_day").cast("int")).over(w3).alias("failed_days_3d"),
        F.sum(F.col("failed_day").cast("int")).over(w7).alias("failed_days_7d"),
        F.sum(F.col("failed_day").cast("int")).over(w30).alias("failed_days_30d"),
        F.sum(F.col("ran").cast("int")).over(w30).alias("run_days_30d"),
        F.avg("avg_duration_sec").over(w30).alias("rolling_avg_duration_30d"),
        F.sum("repair_runs").over(w30).alias("repairs_30d"),
        F.max("peak_mem_used_percent").over(w7).alias("peak_mem_7d"),
        F.sum("memory_pressure_runs").over(w7).alias("memory_pressure_runs_7d"),
        # Durations of successful runs: the usual one and its trend.
        window_median("success_avg_duration_sec", w7).alias("success_duration_median_7d"),
        window_median("success_avg_duration_sec", w28).alias("success_duration_median_28d"),
        F.avg("success_avg_duration_sec").over(w7).alias("success_duration_avg_7d"),
        F.stddev("success_avg_duration_sec").over(w28).alias("success_duration_std_28d"),
        F.avg("success_avg_duration_sec").over(w28).alias("success_duration_avg_28d"),
        # SLA history: breached days, and how close runs came to the duration limit and deadline.
        F.sum(F.col("breached_day").cast("int")).over(w7).alias("sla_breached_days_7d"),
        F.sum(F.col("breached_day").cast("int")).over(w30).alias("sla_breached_days_30d"),
        F.max("max_duration_sla_ratio").over(w7).alias("duration_sla_ratio_max_7d"),
        F.min("min_end_margin_hours").over(w7).alias("end_margin_hours_min_7d"),
        F.sum(F.col("incident_day").cast("int")).over(w7).alias("incident_days_7d"),
        F.sum(F.col("incident_day").cast("int")).over(w30).alias("incident_days_30d"),
    )


def _all_time(frame, carried=None):
    """``frame`` (dense job-days) with the all-time figures up to each day: over the job's whole
    history when ``carried`` is None (``frame`` holds every day), else over ``frame``'s days
    going on from ``carried`` (:func:`_carried`: each job's latest day before ``frame``'s first)."""
    if carried is not None:
        frame = frame.join(carried, "job_id", "left")
    at = AllTime("job_id", "run_date", carried is not None)
    days_since = lambda flag, name: at.days_since(F.col(flag), name, NEVER_DAYS)  # noqa: E731
    # The runtime most recently used, and whether it is newer than the one used before.
    frame = frame.withColumn("dbr_current", at.latest(F.col("dbr_version_num"), "dbr_version_num"))
    previous = at.latest(F.col("dbr_current"), "dbr_version_num", before=True)
    frame = frame.withColumn("dbr_upgraded", F.coalesce(F.col("dbr_current") > previous, F.lit(False)))
    # Consecutive days with a failure: failed days since the last day the job ran cleanly.
    frame = frame.withColumn("streak_group", F.sum(F.col("clean_day").cast("int")).over(at.upto))
    streak = F.sum(F.col("failed_day").cast("int")).over(
        Window.partitionBy("job_id", "streak_group")
        .orderBy("run_date")
        .rowsBetween(Window.unboundedPreceding, 0)
    )
    if carried is not None:  # until the first clean day, the carried streak goes on
        streak = streak + F.when(
            F.col("streak_group") == 0, F.coalesce(at.stored("consecutive_failed_days"), F.lit(0))
        ).otherwise(0)
    return frame.select(
        "*",
        # A job's base failure rate is stable: the whole history estimates it best.
        at.total(F.col("failed_day").cast("int"), "failed_days_all").alias("failed_days_all"),
        at.total(F.col("ran").cast("int"), "run_days_all").alias("run_days_all"),
        streak.alias("consecutive_failed_days"),
        days_since("failed_day", "days_since_last_failure").alias("days_since_last_failure"),
        days_since("job_changed", "days_since_job_change").alias("days_since_job_change"),
        days_since("dbr_upgraded", "days_since_dbr_upgrade").alias("days_since_dbr_upgrade"),
        # Durations of successful runs (failed runs stop early): the last one known.
        at.latest(F.col("success_avg_duration_sec"), "last_success_duration_sec").alias(
            "last_success_duration_sec"
        ),
        at.total(F.col("breached_day").cast("int"), "sla_breached_days_all").alias("sla_breached_days_all"),
        days_since("breached_day", "days_since_sla_breach").alias("days_since_sla_breach"),
        days_since("incident_day", "days_since_incident").alias("days_since_incident"),
        at.total(F.col("repair_runs"), "repairs_all").alias("repairs_all"),
        at.total(F.col("repair_successes"), "repair_successes_all").alias("repair_successes_all"),
    )


def reliability_features(tables: Tables):
    runs = job_runs(tables)
    rows_from, carried = tables.rows_from(), _carried(tables)
    # Carried on from the day before, the days kept read the runs of their windows only.
    first = None if carried is None else rows_from - dt.timedelta(days=HISTORY_DAYS)
    recent = runs if first is None else runs.where(F.col("run_date") >= F.lit(first))
    daily = (
        _dense(_daily_runs(tables, recent), runs, first)
        .join(_job_changes(tables), ["job_id", "run_date"], "left")
        .join(_daily_sla(tables, recent), ["job_id", "run_date"], "left")
        .fillna(0, subset=["sla_breaches"])
    )
    ran = F.col("total_runs") > 0
    day = daily.select(
        "*",
        ran.alias("ran"),
        (F.col("failures") > 0).alias("failed_day"),
        (ran & (F.col("failures") == 0)).alias("clean_day"),
        (F.col("sla_breaches") > 0).alias("breached_day"),
        # The day ended badly: its last run failed (not recovered that day) or a run breached its SLA.
        ((F.coalesce(F.col("last_run_failed"), F.lit(0)) == 1) | (F.col("sla_breaches") > 0)).alias(
            "incident_day"
        ),
    )
    if carried is None:  # the all-time figures over every day, then the windows over the days kept
        hist = _windows(kept_days(_all_time(day), tables, "run_date", HISTORY_DAYS))
    else:  # the windows over the days read, then the all-time figures of the days kept
        kept = _windows(day).where(F.col("run_date") >= F.lit(rows_from))
        hist = _all_time(kept, carried)
    # The job's definition as it stood that day (dim_job is SCD2): a later edit never leaks back.
    jobs = version_as_of(
        hist,
        tables.gold("dim_job"),
        "job_id",
        "run_date",
        {name: F.col(name) for name in ("task_count", "max_retries", "timeout_seconds")},
    )
    slas = tables.gold("dim_job_sla").select(
        "job_id",
        "sla_duration_seconds",
        F.col("sla_end_hour_utc").isNotNull().cast("int").alias("has_deadline"),
    )
    own = hist.join(jobs, ["job_id", "run_date"], "left").join(slas, "job_id", "left")
    # What the job's upstream jobs did on the same day: late or failed upstreams break readers.
    up = (
        _upstream_jobs(tables)
        .join(
            hist.select(
                F.col("job_id").alias("upstream_job_id"),
                "run_date",
                "failed_day",
                "failed_days_7d",
                "end_hour_delay",
            ),
            "upstream_job_id",
        )
        .where(F.col("run_date") >= F.col("since"))
        .groupBy("job_id", "run_date")
        .agg(
            F.count(F.lit(1)).alias("upstream_jobs"),
            F.max(F.col("failed_day").cast("int")).alias("upstream_failed"),
            F.max("failed_days_7d").alias("upstream_failed_days_7d"),
            F.max("end_hour_delay").alias("upstream_end_hour_delay"),
        )
    )
    out = own.join(up, ["job_id", "run_date"], "left")
    return out.select(
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
        (F.col("runs_7d") / 7.0).alias("runs_per_day_7d"),
        "failed_days_3d",
        "failed_days_7d",
        "failed_days_30d",
        ratio(F.col("failed_days_30d"), F.col("run_days_30d")).alias("failed_day_rate_30d"),
        ratio(F.col("failed_days_all"), F.col("run_days_all")).alias("failed_day_rate_all"),
        "run_days_all",
        "failed_days_all",
        "consecutive_failed_days",
        "days_since_last_failure",
        "rolling_avg_duration_30d",
        ratio(F.col("repairs_30d"), F.col("runs_30d")).alias("rolling_repair_rate_30d"),
        "avg_mem_used_percent",
        "peak_mem_7d",
        ratio(F.col("memory_pressure_runs_7d"), F.col("runs_7d")).alias("memory_pressure_rate_7d"),
        "avg_cpu_wait_percent",
        F.col("dbr_current").alias("dbr_version_num"),
        (F.col("dbr_version_num") > F.col("dbr_min_prior_7d")).cast("int").alias("dbr_upgraded_7d"),
        "days_since_dbr_upgrade",
        "days_since_job_change",
        "end_hour_delay",
        F.coalesce("upstream_jobs", F.lit(0)).alias("upstream_jobs"),
        "upstream_failed",
        "upstream_failed_days_7d",
        "upstream_end_hour_delay",
        "task_count",
        "max_retries",
        "timeout_seconds",
        "success_avg_duration_sec",
        "last_success_duration_sec",
        "success_duration_median_7d",
        "success_duration_median_28d",
        ratio(F.col("success_duration_avg_7d"), F.col("success_duration_avg_28d")).alias(
            "duration_trend_7d_28d"
        ),
        ratio(F.col("success_duration_std_28d"), F.col("success_duration_avg_28d")).alias("duration_cv_28d"),
        "sla_duration_seconds",
        "has_deadline",
        "sla_breaches",
        F.col("breached_day").cast("int").alias("sla_breached"),
        "sla_breached_days_7d",
        "sla_breached_days_30d",
        ratio(F.col("sla_breached_days_all"), F.col("run_days_all")).alias("sla_breach_day_rate_all"),
        "days_since_sla_breach",
        "max_duration_sla_ratio",
        "duration_sla_ratio_max_7d",
        "min_end_margin_hours",
        "end_margin_hours_min_7d",
        F.col("incident_day").cast("int").alias("incident"),
        "incident_days_7d",
        "incident_days_30d",
        "days_since_incident",
        ratio(F.col("repair_successes_all"), F.col("repairs_all")).alias("retry_success_rate_all"),
        "repairs_all",
        "repair_successes_all",
        "sla_breached_days_all",
        *calendar("run_date"),
        # Tomorrow's calendar is known today: month-end days carry more data.
        F.dayofweek(F.date_add("run_date", 1)).alias("next_day_of_week"),
        (F.datediff(F.last_day(F.date_add("run_date", 1)), F.date_add("run_date", 1)) <= 2)
        .cast("int")
        .alias("next_is_month_end"),
    )


RELIABILITY_FEATURES = FeatureTable(
    name="reliability_features",
    domain="reliability",
    primary_keys=("job_id", "run_date"),
    timestamp_key="run_date",
    compute=reliability_features,
    description=(
        "Per job and calendar day: runs, failures and failure streaks, durations, repairs, memory "
        "pressure, runtime upgrades, job edits and the health of upstream jobs; all-time counts "
        "(failed days, days run, SLA breaches, repairs) and days since events, counted up to 365 "
        "(a year or more, or never)."
    ),
    sources=(
        "fact_job_run_timeline",
        "dim_cluster",
        "fact_node_timeline",
        "dim_job",
        "dim_job_sla",
        "fact_table_lineage",
    ),
)


DAY_SECONDS = 86400
USUAL_DAYS = 14  # a failed run's usual duration: its job's runs of the 14 days before (the longest window)
TERMINATIONS = {  # termination codes a failure's cause shows in
    "term_execution_error": "RUN_EXECUTION_ERROR",
    "term_driver_error": "DRIVER_ERROR",
}


def _before(seconds: int | None):
    """Runs of the same job that ended before this one, within ``seconds`` (all when None)."""
    w = Window.partitionBy("job_id").orderBy("end_sec")
    return w.rangeBetween(Window.unboundedPreceding if seconds is None else -seconds, -1)


def with_failure_streak(runs, resets, carried: str | None = None):
    """``runs`` (``job_id``, ``run_id``, ``end_sec``, ``failed``) with ``consecutive_failed_runs``:
    the failed runs in a row up to each run in end order, counted again from 0 after each run
    where ``resets`` is 1. Two running sums: linear in a job's runs. ``carried`` names a column
    with the streak the job had before its first run here (``run_features.carried_streak``): it goes on
    until the first reset."""
    upto = Window.partitionBy("job_id").orderBy("end_sec", "run_id").rowsBetween(Window.unboundedPreceding, 0)
    streak = Window.partitionBy("job_id", "_streak_group").orderBy("end_sec", "run_id")
    counted = F.sum("failed").over(streak.rowsBetween(Window.unboundedPreceding, 0))
    if carried is not None:
        counted = counted + F.when(
            F.col("_streak_group") == 0, F.coalesce(F.col(carried), F.lit(0))
        ).otherwise(0)
    return (
        runs.withColumn("_streak_group", F.sum(resets).over(upto))
        .withColumn("consecutive_failed_runs", counted)
        .drop("_streak_group")
    )


def _sums_in_windows(runs, probed, sums: dict):
    """Per run of ``probed`` (``run_id``, ``job_id``, ``end_sec``): each ``sums`` entry
    ``name: (expression, seconds)`` is the sum of the expression over the job's runs (of ``runs``)
    that ended in the ``seconds`` before this run ended (``end_sec - seconds`` to ``end_sec - 1``,
    the frame of :func:`_before`).

    A sliding frame would cost each run the whole frame (Spark recomputes it for every row: the
    square of how often a job runs). Here each window is the difference of a running sum read at
    two probe times: one sort of the runs and the probes, linear in their number."""
    values = {name: expression.cast("long") for name, (expression, _) in sums.items()}
    lags = sorted({1} | {seconds + 1 for _, seconds in sums.values()})
    events = runs.select(
        "job_id",
        F.col("end_sec").alias("at"),
        F.lit(0).alias("probe"),
        *[value.alias(name) for name, value in values.items()],
        F.lit(None).cast("string").alias("run_id"),
        F.lit(None).cast("long").alias("lag"),
    )
    probes = probed.select(
        "job_id",
        "end_sec",
        "run_id",
        F.explode(F.array(*[F.lit(lag).cast("long") for lag in lags])).alias("lag"),
    ).select(
        "job_id",
        (F.col("end_sec") - F.col("lag")).alias("at"),
        F.lit(1).alias("probe"),
        *[F.lit(0).cast("long").alias(name) for name in values],
        "run_id",
        "lag",
    )
    # A run that ended at the probe's second sorts before it (probe 0 < 1), so it is counted.
    upto = Window.partitionBy("job_id").orderBy("at", "probe").rowsBetween(Window.unboundedPreceding, 0)
    running = events.unionByName(probes).select(
        "run_id", "lag", "probe", *[F.sum(name).over(upto).alias(name) for name in values]
    )
    read = (
        running.where(F.col("probe") == 1)
        .groupBy("run_id")
        .agg(
            *[
                F.max(F.when(F.col("lag") == lag, F.col(name))).alias(f"{name}_at_{lag}")
                for name in values
                for lag in lags
            ]
        )
    )
    return read.select(
        "run_id",
        *[
            (F.col(f"{name}_at_1") - F.col(f"{name}_at_{seconds + 1}")).alias(name)
            for name, (_, seconds) in sums.items()
        ],
    )


def _usual_duration(runs, probed, days: int):
    """Per run of ``probed``: the median duration of its job's runs that ended in the ``days``
    calendar days before the day it ended. Each run is counted for the ``days`` days after its
    own (linear in runs), then only the days with a probed run are kept. The median is exact
    (the lower middle value): ``percentile_approx`` gives that too while a job-day holds few
    runs, but merges its sketches by partition once a job-day holds thousands (a job that runs
    every minute), and the value then depends on how the runs were partitioned."""
    day = F.to_date("end_time")
    spread = runs.select(
        "job_id",
        F.explode(F.sequence(F.date_add(day, 1), F.date_add(day, days))).alias("day"),
        "duration_sec",
    )
    wanted = probed.select("job_id", day.alias("day")).distinct()
    usual = (
        spread.join(wanted, ["job_id", "day"])
        .groupBy("job_id", "day")
        .agg(
            F.expr("percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_sec)").alias(
                f"usual_duration_{days}d"
            )
        )
    )
    return (
        probed.select("run_id", "job_id", day.alias("day")).join(usual, ["job_id", "day"], "left").drop("day")
    )


def peak_memory(tables: Tables, runs, broadcast: bool = False):
    """Per finished run of ``runs``: the peak memory on its cluster while it ran (node rows that
    ended within the run), known once it ended. ``broadcast`` sends the runs to the tasks that read
    the node timeline instead of shuffling the timeline whole: for a few runs (a day's)."""
    nodes = tables.gold("fact_node_timeline").select(
        "cluster_id", F.col("end_time").alias("n_end"), "mem_used_percent"
    )
    runs = runs.select("run_id", "cluster_id", "start_time", "end_time")
    # driver-read: the runs the caller asks to broadcast (failed_run_features: one day's failures)
    probed = F.broadcast(runs) if broadcast else runs
    return (
        probed.join(nodes, "cluster_id")
        .where((F.col("n_end") <= F.col("end_time")) & (F.col("n_end") > F.col("start_time")))
        .groupBy("run_id")
        .agg(F.max("mem_used_percent").alias("peak_mem_used_percent"))
    )


def failed_run_features(tables: Tables):
    runs = job_runs(tables).withColumn("end_sec", F.unix_timestamp("end_time"))
    ok = (F.col("result_state") == "SUCCEEDED").cast("int")
    retry = F.col("is_repair") == 1
    # Running frames only (each row adds to the one before): linear in a job's runs.
    hist = runs.select(
        "*",
        F.sum(F.when(retry, 1).otherwise(0)).over(_before(None)).alias("retries_before"),
        F.sum(F.when(retry, ok).otherwise(0)).over(_before(None)).alias("retry_successes_before"),
        F.last(F.when(retry, ok), ignorenulls=True).over(_before(None)).alias("last_retry_succeeded"),
    )
    hist = with_failure_streak(hist, resets=ok)  # a success resets the count
    failed = hist.where(F.col("failed") == 1)
    # Only the kept days' rows: probe only their failures; their windows and usual duration read
    # the runs that ended in the USUAL_DAYS before (the streak and the retries above still count
    # every run).
    failed = kept_days(failed, tables, "end_time")
    recent = kept_days(runs, tables, "end_time", USUAL_DAYS)
    windows = _sums_in_windows(
        recent,
        failed,
        {
            "failures_24h": (F.col("failed"), DAY_SECONDS),
            "runs_24h": (F.lit(1), DAY_SECONDS),
            "retry_failures_7d": (F.when(retry, F.col("failed")).otherwise(0), 7 * DAY_SECONDS),
        },
    )
    usual = _usual_duration(recent, failed, USUAL_DAYS)
    failed = failed.join(windows, "run_id", "left").join(usual, ["run_id", "job_id"], "left")
    # Peak memory on the run's own cluster while it ran. Asked for recent days, their failed runs
    # go to the tasks that read the node timeline instead of the timeline being shuffled whole.
    memory = peak_memory(tables, failed, broadcast=tables.rows_from() is not None)
    # The job's last edit before the failure: bad deploys fail every run until reverted.
    edits = (
        tables.gold("dim_job")
        .where(F.col("change_time") > F.col("create_time"))
        .select("job_id", "change_time")
        .join(failed.select("run_id", "job_id", "end_time"), "job_id")
        .where(F.col("change_time") <= F.col("end_time"))
        .groupBy("run_id")
        .agg(F.max("change_time").alias("last_edit"))
    )
    out = failed.join(memory, "run_id", "left").join(edits, "run_id", "left")
    return out.select(
        "run_id",
        F.to_date("end_time").alias("failed_date"),
        "job_id",
        F.col("is_repair").alias("is_retry"),
        (F.col("result_state") == "TIMED_OUT").cast("int").alias("timed_out"),
        (F.col("result_state") == "ERROR").cast("int").alias("error_state"),
        *[(F.col("termination_code") == code).cast("int").alias(name) for name, code in TERMINATIONS.items()],
        "duration_sec",
        ratio(F.col("duration_sec"), F.col("usual_duration_14d")).alias("duration_vs_usual"),
        "peak_mem_used_percent",
        (F.col("peak_mem_used_percent") > MEMORY_PRESSURE_PERCENT).cast("int").alias("memory_pressure"),
        F.coalesce("failures_24h", F.lit(0)).alias("failures_24h"),
        F.coalesce("runs_24h", F.lit(0)).alias("runs_24h"),
        "consecutive_failed_runs",
        F.coalesce("retries_before", F.lit(0)).alias("retries_before"),
        ratio(F.col("retry_successes_before"), F.col("retries_before")).alias("retry_success_rate_before"),
        F.coalesce("retry_failures_7d", F.lit(0)).alias("retry_failures_7d"),
        "last_retry_succeeded",
        F.coalesce(
            (F.unix_timestamp("end_time") - F.unix_timestamp("last_edit")) / 3600.0,
            F.lit(float(NEVER_DAYS * 24)),
        ).alias("hours_since_job_edit"),
        F.hour("end_time").alias("hour_of_day"),
    )


FAILED_RUN_FEATURES = FeatureTable(
    name="failed_run_features",
    domain="reliability",
    # Keyed by the day the run ended (one row per run): a date key keeps as-of lookups exact and
    # compares equal across readers, where a timestamp key would carry a time zone.
    primary_keys=("run_id", "failed_date"),
    timestamp_key="failed_date",
    compute=failed_run_features,
    description=(
        "Per failed job run, as known when it ended: how it failed (state, termination code, duration "
        "against the job's median of the 14 days before, memory), the job's failures and retry outcomes "
        "before it, and how recently the job was edited."
    ),
    sources=("fact_job_run_timeline", "fact_node_timeline", "dim_job"),
)
