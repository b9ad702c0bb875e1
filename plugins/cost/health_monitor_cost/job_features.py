"""Job-day cost features: what a job cost, ran and used, as known at the end of each day."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import calendar, day_number, kept_days, prior_days, ratio
from health_monitor_cost.billing import (
    LAG,
    anchored_days,
    billing_lag,
    dense_days,
    first_report,
    lag_views,
    lags_in_use,
    settled,
    view_days,
)

JOB_KEYS = ["workspace_id", "job_id"]
CPU_DAYS = 7  # avg_cpu_7d: the 7 days before a day
HISTORY_DAYS = 28  # the longest window over a job's billed days (before the anchor)


def job_usage(tables: Tables):
    """Billing rows of jobs: those carrying a job_id, plus the usage of API-created all-purpose
    clusters on the days they ran exactly one job (Databricks bills those without a job_id;
    ``on_all_purpose`` marks them)."""
    usage = tables.gold("fact_usage")
    api = tables.gold("dim_cluster").where(F.col("cluster_source") == "API").select("cluster_id").distinct()
    ran = (
        tables.gold("fact_job_run_timeline")
        .where(F.col("cluster_id").isNotNull())
        .join(api, "cluster_id")
        .groupBy("cluster_id", F.to_date("period_start_time").alias("usage_date"))
        .agg(F.min("job_id").alias("__job"), F.countDistinct("job_id").alias("__jobs"))
        .where(F.col("__jobs") == 1)
        .drop("__jobs")
    )
    usage = usage.join(ran, ["cluster_id", "usage_date"], "left")
    return (
        usage.select(
            "*",
            (F.col("job_id").isNull() & F.col("__job").isNotNull()).alias("on_all_purpose"),
            F.coalesce("job_id", "__job").alias("__job_id"),
        )
        .where(F.col("__job_id").isNotNull())
        .drop("job_id")
        .withColumnRenamed("__job_id", "job_id")
    )


def _runs(tables: Tables, cpu: bool = True):
    """Runs started, run hours and (``cpu``) average CPU of the job's classic clusters, per
    job-day. Run slices and node hours are known at their end, by midnight of the day they start."""
    slices = tables.gold("fact_job_run_timeline").select(
        "workspace_id",
        "job_id",
        "run_id",
        "cluster_id",
        F.to_date("period_start_time").alias("usage_date"),
        (F.unix_timestamp("period_end_time") - F.unix_timestamp("period_start_time")).alias("__secs"),
    )
    runs = slices.groupBy(*JOB_KEYS, "usage_date").agg(
        F.countDistinct("run_id").alias("runs"), (F.sum("__secs") / 3600.0).alias("run_hours")
    )
    if not cpu:
        return runs
    # CPU feeds only the 7-day window up to each day: the node hours of the days before it are
    # not read when only the kept days are asked for (rows_from).
    nodes = (
        kept_days(tables.gold("fact_node_timeline"), tables, "start_time", CPU_DAYS)
        .where(~F.col("driver"))
        .groupBy("cluster_id", F.to_date("start_time").alias("usage_date"))
        .agg(F.avg(F.col("cpu_user_percent") + F.col("cpu_system_percent")).alias("__cpu"))
    )
    cpu = (
        slices.where(F.col("cluster_id").isNotNull())
        .select(*JOB_KEYS, "cluster_id", "usage_date")
        .distinct()
        .join(nodes, ["cluster_id", "usage_date"])
        .groupBy(*JOB_KEYS, "usage_date")
        .agg(F.avg("__cpu").alias("cpu_percent"))
    )
    return runs.join(cpu, [*JOB_KEYS, "usage_date"], "left")


def job_cost_features(tables: Tables):
    """Per job and day ``d`` as known at its end. Billing is known up to the anchor ``d - k``
    (``k``, the workspace's billing lag): the anchor's first report and the settled days before
    it, as with a feed that lands on time on the anchor's own day. Runs and CPU come from the
    run and node timelines, known on ``d`` itself."""
    usage = job_usage(tables)
    ws = ["workspace_id"]
    # The lag per workspace-day, from all of the billing: measured once a stage (spend_features too).
    rows = anchored_days(tables.shared(billing_lag(tables.gold("fact_usage"), ws)), ws)
    lags = lags_in_use(rows)
    views = lag_views(usage, lags)
    series = [*JOB_KEYS, LAG]
    cost = F.col("list_cost")
    daily = views.groupBy(*series, "usage_date").agg(
        F.sum(first_report(cost)).alias("cost_same"),
        F.sum(settled(cost)).alias("cost_settled"),
        F.sum(settled(F.when(F.col("on_all_purpose"), cost).otherwise(0.0))).alias("ap_settled"),
        F.sum(settled(F.when(F.col("product_features_is_serverless"), cost).otherwise(0.0))).alias(
            "serverless_settled"
        ),
    )
    b = (
        view_days(usage, lags, JOB_KEYS)
        .join(daily, [*series, "usage_date"], "left")
        .join(_runs(tables, cpu=False), [*JOB_KEYS, "usage_date"], "left")
        .fillna(
            0.0, subset=["cost_same", "cost_settled", "ap_settled", "serverless_settled", "runs", "run_hours"]
        )
    )
    active = F.when(F.col("cost_settled") > 0, F.col("cost_settled"))
    # Asked for the rows from a day on, the windows read only the anchors those rows need (the
    # longest lag and HISTORY_DAYS before that day); each series' last active day before them is
    # carried, one aggregate instead of a sort of its whole history.
    rows_from = tables.rows_from()
    carried_cost, carried_day = F.lit(None), F.lit(None)
    if rows_from is not None:
        first = F.lit(rows_from - dt.timedelta(days=max(lags) + HISTORY_DAYS))
        carried = (
            b.where((F.col("usage_date") < first) & (F.col("cost_settled") > 0))
            .groupBy(*series)
            .agg(
                F.max_by("cost_settled", "usage_date").alias("__carried_cost"),
                F.max("usage_date").alias("__carried_day"),
            )
        )
        b = b.where(F.col("usage_date") >= first).join(carried, series, "left")
        carried_cost, carried_day = F.col("__carried_cost"), F.col("__carried_day")
    w7, w28 = prior_days(series, "usage_date", 7), prior_days(series, "usage_date", 28)
    earlier = (
        Window.partitionBy(*series)
        .orderBy(day_number("usage_date"))
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    b = b.select(
        *series,
        "usage_date",
        "cost_same",
        F.coalesce(F.last(active, ignorenulls=True).over(earlier), carried_cost).alias("last_active_cost"),
        F.coalesce(
            F.last(F.when(F.col("cost_settled") > 0, F.col("usage_date")), ignorenulls=True).over(earlier),
            carried_day,
        ).alias("__last_active_day"),
        F.sum("cost_settled").over(w7).alias("cost_7d"),
        F.avg(active).over(w7).alias("avg_active_cost_7d"),
        F.avg(active).over(w28).alias("avg_active_cost_28d"),
        F.max("cost_settled").over(w28).alias("max_cost_28d"),
        F.stddev(active).over(w28).alias("__std_28d"),
        F.count(active).over(w7).alias("active_days_7d"),
        F.count(active).over(w28).alias("active_days_28d"),
        F.sum("run_hours").over(w28).alias("__hours_28d"),
        F.sum("cost_settled").over(w28).alias("__cost_28d"),
        F.sum("runs").over(w28).alias("__runs_28d"),
        F.sum("ap_settled").over(w7).alias("all_purpose_cost_7d"),
        F.sum("serverless_settled").over(w7).alias("__serverless_7d"),
    )
    # The days themselves (the timelines know them on the day): runs, 7-day runs and CPU.
    jobs = JOB_KEYS
    k7 = prior_days(jobs, "usage_date", 7)
    k7_today = prior_days(jobs, "usage_date", 7, include_today=True)
    d = (
        kept_days(dense_days(usage, jobs), tables, "usage_date", CPU_DAYS)
        .join(_runs(tables), [*jobs, "usage_date"], "left")
        .fillna(0.0, subset=["runs"])
        .select(
            *jobs,
            "usage_date",
            "runs",
            F.avg("runs").over(k7).alias("avg_runs_7d"),
            F.avg("cpu_percent").over(k7_today).alias("avg_cpu_7d"),  # CPU_DAYS
        )
    )
    anchors = rows.select(
        *ws, F.col("as_of_date").alias("usage_date"), LAG, F.col("usage_date").alias("__anchor")
    )
    d = d.join(anchors, [*ws, "usage_date"]).join(
        b.withColumnRenamed("usage_date", "__anchor"), [*series, "__anchor"]
    )
    return d.select(
        *JOB_KEYS,
        "usage_date",
        LAG,
        F.col("cost_same").alias("cost_today_reported"),
        "runs",
        "last_active_cost",
        "cost_7d",
        "avg_active_cost_7d",
        "avg_active_cost_28d",
        "max_cost_28d",
        ratio(F.col("__std_28d"), F.col("avg_active_cost_28d")).alias("cost_cv_28d"),
        ratio(F.col("avg_active_cost_7d"), F.col("avg_active_cost_28d")).alias("cost_trend_7d_28d"),
        ratio(F.col("last_active_cost"), F.col("avg_active_cost_28d")).alias("last_vs_28d"),
        "active_days_7d",
        "active_days_28d",
        F.datediff("__anchor", "__last_active_day").alias("days_since_active"),
        "avg_runs_7d",
        ratio(F.col("__hours_28d"), F.col("__runs_28d")).alias("avg_run_hours_28d"),
        ratio(F.col("__cost_28d"), F.col("__hours_28d")).alias("cost_per_run_hour_28d"),
        ratio(F.col("__cost_28d"), F.col("__runs_28d")).alias("cost_per_run_28d"),
        "avg_cpu_7d",
        "all_purpose_cost_7d",
        ratio(F.col("__serverless_7d"), F.col("cost_7d")).alias("serverless_share_7d"),
        *calendar("usage_date"),
    )


JOB_COST_FEATURES = FeatureTable(
    name="job_cost_features",
    domain="cost",
    primary_keys=("workspace_id", "job_id", "usage_date"),
    timestamp_key="usage_date",
    compute=job_cost_features,
    description=(
        "Per job and calendar day, as known at the end of the day: its runs and 7-day runs and CPU "
        "of its clusters; billing up to the day minus the workspace's billing lag "
        "(billing_lag_days, 0 when billing lands on the usage day): that day's first-reported cost "
        "and 7/28-day history of settled cost, run hours and cost billed on all-purpose compute."
    ),
    sources=("fact_usage", "dim_cluster", "fact_job_run_timeline", "fact_node_timeline"),
)
