"""Per-run features as known when a run starts: the job's runs that had *ended* by then.

A job may run many times a day, and a run's outcome depends mostly on the runs just before it
(a failure streak, a bad deploy, a flaky job's base rate). The job-day table cannot see them: it
sums whole days, and a run that started before midnight and ended after it would hand its
result to the next day's row. Here each started run is a row keyed by the day it started, and
every history feature counts only runs whose end is before the run's start.

Windows are differences of running sums read at the start (``_sums_in_windows``), and "the
last run" and "the last N runs" are read from each job's ended runs numbered in end order at
the number of runs ended before the start: every step is a sort or an equi-join, linear in a
job's runs.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import dbr_number, kept_days, ratio, timeline_runs, version_at
from health_monitor_reliability.features import (
    DAY_SECONDS,
    MEMORY_PRESSURE_PERCENT,
    NEVER_DAYS,
    _sums_in_windows,
    _upstream_jobs,
    peak_memory,
    with_failure_streak,
)
from health_monitor_reliability.runs import job_runs

LAST_RUNS = 10  # "the last N runs": the failure rate of the job's 10 runs that ended last
WHOLE_HISTORY_SECONDS = 100 * 365 * DAY_SECONDS  # a window that holds every earlier run
NEVER_HOURS = float(NEVER_DAYS * 24)  # "hours since" when the event has not happened yet


# The upstream features read an upstream job's runs of the day before and of the same weekday a
# week before, and its failures in the 24 hours before a start: runs that ended within 8 days.
UPSTREAM_DAYS = 8
NEXT_RUN = "next"  # the run_id of a job's next run, which has not started yet
ACTIVE_DAYS = 7  # jobs that started a run within this many days of the data's last day get a next run
# Asked only for the rows from a day on (``rows_from``), the history of each run is read in detail
# from the runs that ended at most this many days before that day (the longest window before a
# start is 7 days) and each job's LAST_RUNS runs before them; every earlier run is carried as
# per-job totals (:func:`_carried_history`).
DETAIL_DAYS = 8


def started_runs(tables: Tables):
    """Every run whose first clock-hour slice is known, finished or not, plus each active job's
    next run (``run_id`` NEXT_RUN): ``job_id``, ``run_id``, ``start_time``, ``start_date``,
    ``start_hour`` and what is set when it starts (trigger, cluster). A run still running is here
    (it can be scored), and is in no other run's history until it ends.

    The next run starts, for its features, when the day after the data's last day begins (so it
    sits past any day a later load could change), at the hour the job last started at, on the
    cluster it last ran on."""
    runs = timeline_runs(tables).select(  # the runs' rebuild the other tables read, with its first slice
        "job_id",
        "run_id",
        "start_time",
        F.col("first_trigger_type").alias("trigger_type"),
        F.col("first_cluster_id").alias("cluster_id"),
        F.to_date("start_time").alias("start_date"),
        F.hour("start_time").alias("start_hour"),
    )
    horizon = runs.agg(F.max("start_date").alias("horizon"))
    upcoming = (
        runs.groupBy("job_id")
        .agg(
            F.max("start_date").alias("last_date"),
            F.max_by("start_hour", "start_time").alias("start_hour"),
            F.max_by("cluster_id", "start_time").alias("cluster_id"),
        )
        .crossJoin(horizon)
        .where(F.col("last_date") >= F.date_sub("horizon", ACTIVE_DAYS))
        .select(
            "job_id",
            F.lit(NEXT_RUN).alias("run_id"),
            F.date_add("horizon", 1).cast("timestamp").alias("start_time"),
            F.lit(None).cast("string").alias("trigger_type"),
            "cluster_id",
            F.date_add("horizon", 1).alias("start_date"),
            "start_hour",
        )
    )
    return tables.shared(runs.unionByName(upcoming))  # the features' rows and the per-run models' keys


def _carried_history(ended, tables: Tables):
    """``(detail, carried)``: without ``rows_from``, every ended run and no carried totals. With
    it, ``detail`` is the runs that ended from DETAIL_DAYS before that day on plus each job's
    LAST_RUNS runs before those, and ``carried`` sums, per job, every run before them: what
    :func:`_history_at_start` adds to the running sums over ``detail``, so that only the recent
    runs are sorted. ``carried`` has ``runs``, ``failures``, ``successes``, ``success_seconds``,
    ``last_failure_sec``, ``last_success_duration_sec`` and ``streak`` (the failed runs in a row
    at its end)."""
    rows_from = tables.rows_from()
    if rows_from is None:
        return ended, None
    recent = F.to_date("end_time") >= F.lit(rows_from - dt.timedelta(days=DETAIL_DAYS))
    old = ended.where(~recent)
    latest = Window.partitionBy("job_id").orderBy(F.desc("end_sec"), F.desc("run_id"))
    last_old = old.withColumn("_back", F.row_number().over(latest)).where(F.col("_back") <= LAST_RUNS)
    order = F.struct("end_sec", "run_id")  # the end order of with_failure_streak and numbering
    first_kept = last_old.groupBy("job_id").agg(F.min(order).alias("_first_kept"))
    summed = old.join(first_kept, "job_id").where(order < F.col("_first_kept"))
    ok = F.col("result_state") == "SUCCEEDED"
    totals = summed.groupBy("job_id").agg(
        F.count(F.lit(1)).alias("runs"),
        F.sum("failed").alias("failures"),
        F.sum(ok.cast("long")).alias("successes"),
        F.sum(F.when(ok, F.col("duration_sec")).otherwise(0)).alias("success_seconds"),
        F.max(F.when(F.col("failed") == 1, F.col("end_sec"))).alias("last_failure_sec"),
        F.max(F.when(ok, F.struct("end_sec", "run_id", "duration_sec")))
        .getField("duration_sec")
        .alias("last_success_duration_sec"),
    )
    carried = totals.join(carried_streak(summed, 1 - F.col("failed")), "job_id", "left").fillna(
        0, subset=["streak"]
    )
    detail = ended.where(recent).unionByName(last_old.drop("_back"))
    # Both are read several times below (windows, numbering, peak memory, the carried run): kept
    # once, they are computed once instead of sorting every earlier run again for each read.
    return tables.shared(detail), tables.shared(carried)


def carried_streak(runs, resets):
    """Per job (``job_id``, ``streak``): the failed runs in a row at the end of ``runs`` (in end
    order, after the last run where ``resets`` is 1), as :func:`with_failure_streak` counts them;
    its ``carried`` for the runs that come after. Two aggregates, no sort."""
    order = F.struct("end_sec", "run_id")
    last_reset = runs.groupBy("job_id").agg(F.max(F.when(resets == 1, order)).alias("_last_reset"))
    return (
        runs.join(last_reset, "job_id")
        .where(F.col("_last_reset").isNull() | (order > F.col("_last_reset")))
        .groupBy("job_id")
        .agg(F.sum("failed").cast("long").alias("streak"))
    )


CARRIED_SUMS = {  # the whole-history sums of _history_at_start, and the carried total each adds
    "runs_before": "runs",
    "failures_before": "failures",
    "successes_before": "successes",
    "success_seconds_before": "success_seconds",
}


def _history_at_start(ended, started, carried=None):
    """Per started run: the job's last ended run (outcome, failure streak, last failure) and the
    failures of its last LAST_RUNS ended runs, all among runs that ended before it started.
    ``ended`` and ``carried`` are :func:`_carried_history`'s: the whole-history figures are the
    running ones over ``ended`` plus the job's carried totals."""
    probed = started.select("job_id", F.col("key").alias("run_id"), F.col("start_sec").alias("end_sec"))
    retry = (F.col("is_repair") == 1).cast("int")
    ok = (F.col("result_state") == "SUCCEEDED").cast("int")  # the runs whose durations are forecast
    windows = _sums_in_windows(
        ended,
        probed,
        {
            "runs_before": (F.lit(1), WHOLE_HISTORY_SECONDS),
            "failures_before": (F.col("failed"), WHOLE_HISTORY_SECONDS),
            "runs_7d": (F.lit(1), 7 * DAY_SECONDS),
            "failures_7d": (F.col("failed"), 7 * DAY_SECONDS),
            "runs_24h": (F.lit(1), DAY_SECONDS),
            "failures_24h": (F.col("failed"), DAY_SECONDS),
            "retries_7d": (retry, 7 * DAY_SECONDS),
            "retry_failures_7d": (retry * F.col("failed"), 7 * DAY_SECONDS),
            "memory_pressure_runs_7d": (F.col("memory_pressure").cast("int"), 7 * DAY_SECONDS),
            "successes_before": (ok, WHOLE_HISTORY_SECONDS),
            "success_seconds_before": (ok * F.col("duration_sec"), WHOLE_HISTORY_SECONDS),
            "successes_7d": (ok, 7 * DAY_SECONDS),
            "success_seconds_7d": (ok * F.col("duration_sec"), 7 * DAY_SECONDS),
        },
    )
    order = Window.partitionBy("job_id").orderBy("end_sec", "run_id")
    upto = order.rowsBetween(Window.unboundedPreceding, 0)
    running = {  # name: (the running figure over `ended`, the carried total it goes on from)
        "n": (F.row_number().over(order).cast("long"), "runs"),
        "failures_upto": (F.sum("failed").over(upto), "failures"),
        "successes_upto": (F.sum(ok).over(upto), "successes"),
        "success_seconds_upto": (F.sum(ok * F.col("duration_sec")).over(upto), "success_seconds"),
    }
    latest = {  # name: (the latest value over `ended`, the carried one when there is none yet)
        "last_failure_sec": F.max(F.when(F.col("failed") == 1, F.col("end_sec"))).over(upto),
        "last_success_duration_sec": F.last(F.when(ok == 1, F.col("duration_sec")), ignorenulls=True).over(
            upto
        ),
    }
    zero = F.lit(0)
    if carried is None:
        base = ended
        figures = [F.coalesce(value, zero).alias(name) for name, (value, _) in running.items()]
        figures += [value.alias(name) for name, value in latest.items()]
        figures.append(zero.alias("carried_streak"))
    else:
        base = ended.join(carried, "job_id", "left")
        figures = [
            (F.coalesce(value, zero) + F.coalesce(F.col(total), zero)).alias(name)
            for name, (value, total) in running.items()
        ]
        figures += [F.coalesce(value, F.col(name)).alias(name) for name, value in latest.items()]
        figures.append(F.coalesce("streak", zero).alias("carried_streak"))
    numbered = base.select(
        "job_id", "run_id", "end_sec", "failed", "peak_mem_used_percent", "duration_sec", *figures
    )
    # A run that did not fail resets the streak; until one does, the carried streak goes on.
    numbered = with_failure_streak(numbered, resets=1 - F.col("failed"), carried="carried_streak")
    # Runs ended before the start are exactly the first `runs_before` in end order (ties on the
    # end second are all in or all out), so the last of them is number `runs_before`.
    last = numbered.select(
        "job_id",
        F.col("n").alias("runs_before"),
        F.col("failed").alias("last_run_failed"),
        F.col("peak_mem_used_percent").alias("last_run_peak_mem"),
        F.col("duration_sec").alias("last_run_duration_sec"),
        "last_success_duration_sec",
        "consecutive_failed_runs",
        "last_failure_sec",
        F.col("end_sec").alias("last_end_sec"),
        F.col("failures_upto").alias("failures_upto_last"),
        F.col("successes_upto").alias("successes_upto_last"),
        F.col("success_seconds_upto").alias("success_seconds_upto_last"),
    )
    counted = ("failures", "successes", "success_seconds")  # ..._before_last_runs: up to LAST_RUNS ago
    earlier = numbered.select(
        "job_id",
        (F.col("n") + LAST_RUNS).alias("runs_before"),
        *[F.col(f"{c}_upto").alias(f"{c}_before_last_runs") for c in counted],
    )
    at_start = started.join(windows.withColumnRenamed("run_id", "key"), "key", "left")
    if carried is not None:
        earlier = earlier.unionByName(  # the last carried run, when the last LAST_RUNS runs are all in detail
            carried.where(F.col("runs") > 0).select(
                "job_id",
                (F.col("runs") + LAST_RUNS).alias("runs_before"),
                *[F.col(c).alias(f"{c}_before_last_runs") for c in counted],
            )
        )
        at_start = at_start.join(carried.select("job_id", *CARRIED_SUMS.values()), "job_id", "left")
    carried_total = lambda total: zero if carried is None else F.coalesce(F.col(total), zero)  # noqa: E731
    at_start = at_start.select(
        *[c for c in at_start.columns if c not in CARRIED_SUMS and c not in CARRIED_SUMS.values()],
        *[
            (F.coalesce(F.col(name), zero) + carried_total(total)).cast("long").alias(name)
            for name, total in CARRIED_SUMS.items()
        ],
    )
    return at_start.join(last, ["job_id", "runs_before"], "left").join(
        earlier, ["job_id", "runs_before"], "left"
    )


def _job_at_start(tables: Tables, started):
    """Per started run: the job's definition and last edit as they stood at the start (dim_job is
    SCD2; later versions never leak back)."""
    return (
        tables.gold("dim_job")
        .select("job_id", "change_time", "create_time", "max_retries", "task_count")
        .join(started.select("key", "job_id", "start_time"), "job_id")
        .where(F.col("change_time") <= F.col("start_time"))
        .groupBy("key")
        .agg(
            F.max_by("max_retries", "change_time").alias("max_retries"),
            F.max_by("task_count", "change_time").alias("task_count"),
            F.max(F.when(F.col("change_time") > F.col("create_time"), F.col("change_time"))).alias(
                "last_edit"
            ),
        )
    )


def _with_runtime(tables: Tables, started):
    """``started`` with ``dbr_version_num``: its cluster's runtime as it stood at the start
    (dim_cluster is SCD2), as a number (``dbr_number``; a number, not text, is picked by a hash
    aggregate instead of a sort), null when unknown."""
    runtime = {"dbr_version_num": dbr_number("dbr_version")}
    return version_at(started, tables.gold("dim_cluster"), "cluster_id", "start_time", "key", runtime)


def _time_on_runtime(started, asked):
    """Per asked run: hours since the job's first run on the runtime this run uses, or
    NEVER_HOURS when the job has known no other runtime. The first run on a runtime started at
    or before this one, so later runs never move it. Both frames have ``dbr_version_num``
    (:func:`_with_runtime`); ``started`` holds every started run."""
    first_on = started.groupBy("job_id", "dbr_version_num").agg(F.min("start_sec").alias("first_on_sec"))
    first_ever = started.groupBy("job_id").agg(F.min("start_sec").alias("first_sec"))
    hours = (F.col("start_sec") - F.col("first_on_sec")) / 3600.0
    return (
        asked.join(first_on, ["job_id", "dbr_version_num"], "left")
        .join(first_ever, "job_id")
        .select(
            "key",
            F.when(F.col("first_on_sec") > F.col("first_sec"), hours)
            .otherwise(F.lit(NEVER_HOURS))
            .alias("hours_on_runtime"),
        )
    )


def _upstream_at_start(tables: Tables, ended, started):
    """Per started run: how the jobs that write the tables it reads stood at its start.

    ``upstreams_waiting`` counts the upstream jobs that are due (they ran the day before, or on
    the same weekday a week before) and have not yet finished a successful run that day: the run
    would read yesterday's data, or none. ``upstream_failures_24h`` sums their failed runs that
    ended in the 24 hours before the start. Only what had ended by the start is counted."""
    pairs = (
        started.select("key", "job_id", "start_date", "start_sec")
        .join(_upstream_jobs(tables), "job_id")
        .where(F.col("start_date") >= F.col("since"))
        .withColumn("probe", F.concat_ws("|", "key", "upstream_job_id"))
    )
    up = ended.withColumnRenamed("job_id", "upstream_job_id")
    first_ok = (
        up.where(F.col("failed") == 0)
        .groupBy("upstream_job_id", F.to_date("end_time").alias("start_date"))
        .agg(F.min("end_sec").alias("first_ok_sec"))
    )
    # Due on the day after a day it ran, and on the same weekday a week later (equi-joins on the day).
    ran = up.select("upstream_job_id", "run_date").distinct()
    due = (
        ran.select("upstream_job_id", F.date_add("run_date", 1).alias("start_date"))
        .unionByName(ran.select("upstream_job_id", F.date_add("run_date", 7).alias("start_date")))
        .distinct()
        .withColumn("due", F.lit(1))
    )
    windows = _sums_in_windows(
        ended,
        pairs.select(
            F.col("upstream_job_id").alias("job_id"),
            F.col("probe").alias("run_id"),
            F.col("start_sec").alias("end_sec"),
        ),
        {"failures_24h": (F.col("failed"), DAY_SECONDS)},
    ).withColumnRenamed("run_id", "probe")
    ready = F.coalesce(F.col("first_ok_sec") < F.col("start_sec"), F.lit(False))
    return (
        pairs.join(first_ok, ["upstream_job_id", "start_date"], "left")
        .join(due, ["upstream_job_id", "start_date"], "left")
        .join(windows, "probe", "left")
        .groupBy("key")
        .agg(
            F.count(F.lit(1)).alias("upstream_jobs"),
            F.sum(F.when(F.col("due").isNotNull() & ~ready, 1).otherwise(0)).alias("upstreams_waiting"),
            F.sum(F.coalesce("failures_24h", F.lit(0))).alias("upstream_failures_24h"),
        )
    )


def run_start_features(tables: Tables):
    runs = job_runs(tables).withColumn("end_sec", F.unix_timestamp("end_time"))
    # Asked for the rows of recent days, the runs before them are carried as per-job totals.
    ended, carried = _carried_history(runs, tables)
    peak = peak_memory(tables, ended)
    ended = ended.join(peak, "run_id", "left").withColumn(
        "memory_pressure", F.coalesce(F.col("peak_mem_used_percent") > MEMORY_PRESSURE_PERCENT, F.lit(False))
    )
    started = started_runs(tables).select(
        "*",
        F.unix_timestamp("start_time").alias("start_sec"),
        F.concat_ws("/", "job_id", "run_id").alias("key"),  # run_id alone repeats NEXT_RUN per job
    )
    # The rows asked for (the daily run's recent days) are the only ones probed, each with its
    # runtime. The upstream features look back at most a week.
    asked = _with_runtime(tables, kept_days(started, tables, "start_date"))
    recent_ends = kept_days(runs, tables, "end_time", UPSTREAM_DAYS)
    out = (
        _history_at_start(ended, asked, carried)
        .join(_job_at_start(tables, asked), "key", "left")
        # The hours on a runtime count from the job's first run on it: every started run's runtime.
        .join(_time_on_runtime(_with_runtime(tables, started), asked), "key", "left")
        .join(_upstream_at_start(tables, recent_ends, asked), "key", "left")
    )
    hours_since = lambda sec: (F.col("start_sec") - sec) / 3600.0  # noqa: E731
    failures_last = F.col("failures_upto_last") - F.coalesce("failures_before_last_runs", F.lit(0))
    successes_last = F.col("successes_upto_last") - F.coalesce("successes_before_last_runs", F.lit(0))
    success_seconds_last = F.col("success_seconds_upto_last") - F.coalesce(
        "success_seconds_before_last_runs", F.lit(0)
    )
    return out.select(
        "job_id",
        "run_id",
        "start_date",
        F.coalesce(F.col("trigger_type").contains("RETRY").cast("int"), F.lit(0)).alias("is_retry"),
        F.col("start_hour").alias("hour_of_day"),
        F.dayofweek("start_date").alias("day_of_week"),
        F.datediff(F.last_day("start_date"), "start_date").alias("days_to_month_end"),
        "runs_before",
        ratio(F.col("failures_before"), F.col("runs_before")).alias("failure_rate_all"),
        ratio(failures_last, F.least(F.col("runs_before"), F.lit(LAST_RUNS))).alias("failure_rate_last_runs"),
        ratio(F.col("failures_7d"), F.col("runs_7d")).alias("failure_rate_7d"),
        F.coalesce("runs_7d", F.lit(0)).alias("runs_7d"),
        F.coalesce("failures_7d", F.lit(0)).alias("failures_7d"),
        F.coalesce("runs_24h", F.lit(0)).alias("runs_24h"),
        F.coalesce("failures_24h", F.lit(0)).alias("failures_24h"),
        F.coalesce("retries_7d", F.lit(0)).alias("retries_7d"),
        F.coalesce("retry_failures_7d", F.lit(0)).alias("retry_failures_7d"),
        "last_run_failed",
        F.coalesce("consecutive_failed_runs", F.lit(0)).alias("consecutive_failed_runs"),
        F.coalesce(hours_since(F.col("last_failure_sec")), F.lit(NEVER_HOURS)).alias("hours_since_failure"),
        F.coalesce(hours_since(F.col("last_end_sec")), F.lit(NEVER_HOURS)).alias("hours_since_last_run"),
        F.coalesce(hours_since(F.unix_timestamp("last_edit")), F.lit(NEVER_HOURS)).alias(
            "hours_since_job_edit"
        ),
        "max_retries",
        "task_count",
        "dbr_version_num",
        "hours_on_runtime",
        "last_run_peak_mem",
        ratio(F.col("memory_pressure_runs_7d"), F.col("runs_7d")).alias("memory_pressure_rate_7d"),
        F.coalesce("upstream_jobs", F.lit(0)).alias("upstream_jobs"),
        F.coalesce("upstreams_waiting", F.lit(0)).alias("upstreams_waiting"),
        F.coalesce("upstream_failures_24h", F.lit(0)).alias("upstream_failures_24h"),
        "last_run_duration_sec",
        "last_success_duration_sec",
        ratio(success_seconds_last, successes_last).alias("success_duration_avg_last_runs"),
        ratio(F.col("success_seconds_7d"), F.col("successes_7d")).alias("success_duration_avg_7d"),
        ratio(F.col("success_seconds_before"), F.col("successes_before")).alias("success_duration_avg_all"),
    )


RUN_START_FEATURES = FeatureTable(
    name="run_start_features",
    domain="reliability",
    # Keyed by the day the run started (one row per run): a date key keeps as-of lookups exact.
    primary_keys=("job_id", "run_id", "start_date"),
    timestamp_key="start_date",
    compute=run_start_features,
    description=(
        "Per job run, as known when it started: the job's runs that had ended by then (failure rate "
        "over its history, 7 days, 24 hours and its last 10 runs, last outcome, failure streak, hours "
        "since the last failure and run, retries, memory pressure), its last edit and definition, the "
        "cluster's runtime and how long the job has run on it, hour, weekday and days to the month's end, and its upstream jobs "
        "(from lineage): how many, how many were due and had not yet succeeded that day, and their "
        "failures in the 24 hours before; and how long its runs took: the last run, the last "
        "successful one, and the mean of its successful runs among the last 10, over 7 days and "
        "over its history."
    ),
    sources=("fact_job_run_timeline", "fact_node_timeline", "dim_job", "dim_cluster", "fact_table_lineage"),
)
