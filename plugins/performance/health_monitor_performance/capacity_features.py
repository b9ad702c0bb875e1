"""Workspace-day capacity features: how many worker nodes the workspace's classic clusters ran
at its busiest hour, and their utilisation, with the history a forecast of the next day needs.

The table is dense (every calendar day from a workspace's first node hour to the last day seen,
zero on days without nodes), so "6 days ago" is the same weekday as the day after the row.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import day_number, kept_days, prior_days, stored_days

# The days before a row its features read: the 28-day window (the row's day included) and the
# value 27 days before it.
HISTORY_DAYS = 28
DAILY = ["peak_workers", "avg_workers", "worker_hours", "peak_clusters", "avg_cpu_percent"]
DAILY += ["peak_mem_percent", "active_hours"]


def workspace_days(tables: Tables, days_before: int | None = None):
    """Per workspace and day: peak and average worker nodes per clock hour, node hours, utilisation;
    with ``days_before``, only the days from that many days before the first day the caller keeps
    (``tables.rows_from()``)."""
    nodes = tables.gold("fact_node_timeline").where(~F.col("driver"))
    if days_before is not None:
        nodes = kept_days(nodes, tables, "start_time", days_before)
    hourly = nodes.groupBy("workspace_id", F.date_trunc("hour", "start_time").alias("hour")).agg(
        F.countDistinct("instance_id").alias("workers"),
        F.countDistinct("cluster_id").alias("clusters"),
        F.avg(F.col("cpu_user_percent") + F.col("cpu_system_percent")).alias("cpu"),
        F.max("mem_used_percent").alias("mem"),
    )
    return hourly.groupBy("workspace_id", F.to_date("hour").alias("date")).agg(
        F.max("workers").alias("peak_workers"),
        F.avg("workers").alias("avg_workers"),
        F.sum("workers").alias("worker_hours"),
        F.max("clusters").alias("peak_clusters"),
        F.avg("cpu").alias("avg_cpu_percent"),
        F.max("mem").alias("peak_mem_percent"),
        F.count(F.lit(1)).alias("active_hours"),
    )


def _dense(daily):
    bounds = daily.groupBy("workspace_id").agg(F.min("date").alias("first"))
    last = daily.agg(F.max("date").alias("last"))
    calendar = bounds.crossJoin(last).select(
        "workspace_id", F.explode(F.sequence("first", "last")).alias("date")
    )
    filled = calendar.join(daily, ["workspace_id", "date"], "left")
    return filled.fillna(0, subset=[c for c in daily.columns if c not in ("workspace_id", "date")])


def workspace_capacity_features(tables: Tables):
    # Asked for the rows from a day on (a daily run), the windows' earlier days come from the
    # table's own rows. Those are dense from each workspace's first day, so on every day the
    # windows read, a workspace has the rows the whole computation gives it (zeros included).
    # Without stored rows every day comes from Gold: a workspace's first day may be long before.
    history = stored_days(
        tables, "workspace_capacity_features", "date", HISTORY_DAYS, ["workspace_id", "date", *DAILY]
    )
    daily = workspace_days(tables, None if history.rows is None else history.gold_days)
    df = _dense(history.with_stored(daily))
    week = prior_days("workspace_id", "date", 7, include_today=True)
    month = prior_days("workspace_id", "date", 28, include_today=True)
    order = Window.partitionBy("workspace_id").orderBy(day_number("date"))

    def ago(days: int):
        return F.first("peak_workers").over(order.rangeBetween(-days, -days))

    # The same weekday as the day after the row, one to four weeks back.
    same_weekday = [ago(6), ago(13), ago(20), ago(27)]
    return df.select(
        "workspace_id",
        "date",
        "peak_workers",
        "avg_workers",
        "worker_hours",
        "peak_clusters",
        "avg_cpu_percent",
        "peak_mem_percent",
        "active_hours",
        same_weekday[0].alias("peak_workers_6d_ago"),
        same_weekday[1].alias("peak_workers_13d_ago"),
        F.avg("peak_workers").over(week).alias("peak_workers_7d"),
        F.max("peak_workers").over(week).alias("peak_workers_max_7d"),
        F.stddev("peak_workers").over(week).alias("peak_workers_std_7d"),
        F.avg("peak_workers").over(month).alias("peak_workers_28d"),
        F.percentile_approx("peak_workers", 0.5, 1000).over(month).alias("peak_workers_median_28d"),
        F.avg("worker_hours").over(week).alias("worker_hours_7d"),
        ((same_weekday[0] + same_weekday[1] + same_weekday[2] + same_weekday[3]) / 4.0).alias(
            "peak_workers_same_weekday_4w"
        ),
        F.dayofweek(F.date_add("date", 1)).alias("next_day_of_week"),
        F.dayofweek(F.date_add("date", 1)).isin(1, 7).cast("int").alias("next_is_weekend"),
        (F.dayofmonth(F.date_add("date", 1)) >= 25).cast("int").alias("next_is_month_end"),
    )


WORKSPACE_CAPACITY_FEATURES = FeatureTable(
    name="workspace_capacity_features",
    domain="performance",
    primary_keys=("workspace_id", "date"),
    timestamp_key="date",
    compute=workspace_capacity_features,
    description=(
        "Per workspace and calendar day: peak and average worker nodes per clock hour over its "
        "classic clusters, node hours, CPU and memory, with 7/28-day and same-weekday history."
    ),
    sources=("fact_node_timeline",),
)
