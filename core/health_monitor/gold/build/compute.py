"""Gold steps of the compute family: clusters and warehouses (SCD2), node metrics, warehouse events."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_monitor.gold.build import BuildContext, GoldStep

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_HOUR_US = 3_600_000_000
# Security modes under their legacy names (clusters created through the API or older UIs).
_LEGACY_MODES = {
    "SINGLE_USER": "DATA_SECURITY_MODE_DEDICATED",
    "USER_ISOLATION": "DATA_SECURITY_MODE_STANDARD",
}


def _since(ctx: BuildContext) -> dt.datetime:
    if ctx.since is None:
        raise ValueError("an incremental Gold step needs the day it recomputes from (BuildContext.since)")
    return dt.datetime.combine(ctx.since, dt.time(), tzinfo=dt.timezone.utc)


def _hour_of(expr: str) -> Column:
    """Clock hours since the epoch, in integers (no float rounding at hour boundaries)."""
    from pyspark.sql import functions as F

    return F.expr(f"({expr}) div {_HOUR_US}")


def _tags_or_empty(column: str) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(F.col(column), F.create_map().cast("map<string,string>")).alias(column)


def _security_mode(column: str) -> Column:
    from pyspark.sql import functions as F

    mode = F.col(column)
    (first, renamed), *rest = _LEGACY_MODES.items()
    out = F.when(mode == first, F.lit(renamed))
    for legacy, current in rest:
        out = out.when(mode == legacy, F.lit(current))
    return out.otherwise(mode).alias(column)


def dim_cluster(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cluster = Window.partitionBy("workspace_id", "cluster_id")
    return ctx.system("compute.clusters").select(
        "account_id",
        "workspace_id",
        "cluster_id",
        "cluster_name",
        "owned_by",
        F.min("create_time").over(cluster).alias("create_time"),
        "delete_time",
        "driver_node_type",
        "worker_node_type",
        "worker_count",
        "min_autoscale_workers",
        "max_autoscale_workers",
        "auto_termination_minutes",
        "cluster_source",
        "dbr_version",
        _security_mode("data_security_mode"),
        _tags_or_empty("tags"),
        "change_time",
        F.coalesce("change_date", F.to_date("change_time")).alias("change_date"),
        (F.col("change_time") == F.max("change_time").over(cluster)).alias("is_current"),
    )


def fact_node_timeline(ctx: BuildContext) -> DataFrame:
    """Per-minute (or any sub-hour) rows rolled up to one row per instance and clock hour.

    A row is attributed to every clock hour it overlaps (rows that straddle an hour are split by
    overlap): averages are weighted by the overlap, the peak is the largest value of any row that
    touches the hour, byte counts are shared out in proportion to the overlap.
    """
    from pyspark.sql import functions as F

    nodes = ctx.system("compute.node_timeline")
    if ctx.since is not None:
        nodes = nodes.where(F.col("end_time") > F.lit(_since(ctx)))
    s, e = F.unix_micros("start_time"), F.unix_micros("end_time")
    rows = nodes.select(
        "account_id",
        "workspace_id",
        "cluster_id",
        "instance_id",
        "driver",
        "node_type",
        "cpu_user_percent",
        "cpu_system_percent",
        "cpu_wait_percent",
        "mem_used_percent",
        "mem_swap_percent",
        "network_sent_bytes",
        "network_received_bytes",
        s.alias("s"),
        F.greatest(e, s).alias("e"),
    ).withColumn("hour", F.explode(F.sequence(_hour_of("s"), _hour_of("greatest(e - 1, s)"))))
    hs = F.col("hour") * _HOUR_US
    if ctx.since is not None:
        rows = rows.where(hs >= F.unix_micros(F.lit(_since(ctx))))
    lo, hi = F.greatest(F.col("s"), hs), F.least(F.col("e"), hs + _HOUR_US)
    duration = F.col("e") - F.col("s")
    # A zero-length row weighs one microsecond rather than nothing (no division by zero).
    weight = F.when(duration > 0, hi - lo).otherwise(F.lit(1))
    share = F.when(duration > 0, (hi - lo) / duration).otherwise(F.lit(1.0))

    def average(c: str) -> Column:
        return (F.sum(F.col(c) * weight) / F.sum(F.when(F.col(c).isNotNull(), weight))).alias(c)

    def total(c: str) -> Column:
        return F.round(F.sum(F.col(c) * share)).cast("bigint").alias(c)

    # account, role and node type are fixed per instance: as keys they keep the aggregation a hash
    # aggregate (a string max or first would fall back to sorting every row).
    keys = ("workspace_id", "cluster_id", "instance_id", "hour", "account_id", "driver", "node_type")
    return rows.groupBy(*keys).agg(
        F.timestamp_micros(F.min(lo)).alias("start_time"),
        F.timestamp_micros(F.max(hi)).alias("end_time"),
        average("cpu_user_percent"),
        average("cpu_system_percent"),
        average("cpu_wait_percent"),
        F.max("mem_used_percent").alias("mem_used_percent"),
        average("mem_swap_percent"),
        total("network_sent_bytes"),
        total("network_received_bytes"),
    )


def dim_warehouse(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    warehouse = Window.partitionBy("workspace_id", "warehouse_id")
    return ctx.system("compute.warehouses").select(
        "account_id",
        "workspace_id",
        "warehouse_id",
        "warehouse_name",
        "warehouse_type",
        "warehouse_channel",
        "warehouse_size",
        "min_clusters",
        "max_clusters",
        "auto_stop_minutes",
        _tags_or_empty("tags"),
        F.coalesce("created_by", F.max("created_by").over(warehouse)).alias("created_by"),
        "change_time",
        "delete_time",
        (F.col("change_time") == F.max("change_time").over(warehouse)).alias("is_current"),
    )


def fact_warehouse_events(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    events = ctx.system("compute.warehouse_events")
    if ctx.since is not None:
        events = events.where(F.col("event_time") >= F.lit(_since(ctx)))
    return events.select(
        "account_id", "workspace_id", "warehouse_id", "event_type", "cluster_count", "event_time"
    )


STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        table="dim_cluster",
        sources=("compute.clusters",),
        transform="Every SCD2 row of compute.clusters; is_current marks the latest change_time per workspace "
        "and cluster, create_time is the earliest of the cluster's rows, legacy security modes (SINGLE_USER, "
        "USER_ISOLATION) get their current names, NULL tags become an empty map.",
        build=dim_cluster,
    ),
    GoldStep(
        table="fact_node_timeline",
        sources=("compute.node_timeline",),
        transform="Per-minute (any sub-hour) rows grouped by workspace, cluster, instance and clock hour (a row "
        "straddling an hour is split by overlap): cpu and swap are duration-weighted averages, mem_used_percent "
        "the peak, network bytes the overlap-weighted sum, start/end the covered span within the hour.",
        build=fact_node_timeline,
        grain="start_time",
    ),
    GoldStep(
        table="dim_warehouse",
        sources=("compute.warehouses",),
        transform="Every SCD2 row of compute.warehouses (a resize is a new row); is_current marks the latest "
        "change_time per workspace and warehouse, created_by is filled from the warehouse's other rows where "
        "older rows lack it, NULL tags become an empty map.",
        build=dim_warehouse,
    ),
    GoldStep(
        table="fact_warehouse_events",
        sources=("compute.warehouse_events",),
        transform="compute.warehouse_events as is, one row per state or scaling event.",
        build=fact_warehouse_events,
        grain="event_time",
    ),
)
