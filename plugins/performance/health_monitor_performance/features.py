"""Performance feature tables: what is known about a SQL statement before it runs.

A statement's history features (its fingerprint's earlier durations and bytes, the warehouse's
recent load) use only statements that started before it; the warehouse size is the one in
force at its start, not today's.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.specs import FeatureTable, Tables
from health_monitor_performance.gold import FULL_SCAN_MIN_FILES, SIZES, code, fingerprint

STATEMENT_TYPES = ["SELECT", "INSERT", "MERGE", "UPDATE", "DELETE", "CREATE", "COPY", "OPTIMIZE", "OTHER"]


def query_features(tables: Tables):
    queries = tables.gold("fact_query_history").where(F.col("warehouse_id").isNotNull())
    text = F.upper(F.coalesce(F.col("statement_text"), F.lit("")))
    q = queries.select(
        "statement_id",
        "warehouse_id",
        "start_time",
        "statement_type",
        "total_duration_ms",
        "read_bytes",
        "spilled_local_bytes",
        "from_result_cache",
        # Literals differ between runs of one query; the fingerprint ignores them.
        fingerprint(text).alias("fingerprint"),
        (F.col("spilled_local_bytes") > 0).cast("int").alias("spilled"),
        F.when(
            ~F.col("from_result_cache"),
            ((F.col("pruned_files") == 0) & (F.col("read_files") >= FULL_SCAN_MIN_FILES)).cast("int"),
        ).alias("full_scan"),
        (F.col("waiting_at_capacity_duration_ms") / 1000.0).alias("queue_s"),
        F.length(text).alias("query_text_length"),
        (F.size(F.split(text, r"\bJOIN\b")) - 1).alias("join_count"),
        (F.size(F.split(text, r"\bSELECT\b")) - 2).alias("subquery_count"),
        text.contains("GROUP BY").cast("int").alias("has_aggregation"),
        text.contains(" OVER").cast("int").alias("has_window_function"),
        code("statement_type", STATEMENT_TYPES).alias("statement_type_code"),
        F.hour("start_time").alias("hour_of_day"),
        F.dayofweek("start_time").alias("day_of_week"),
    )
    earlier = (
        Window.partitionBy("fingerprint")
        .orderBy("start_time", "statement_id")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    by_fp = Window.partitionBy("fingerprint").orderBy("start_time", "statement_id")
    seconds = F.col("start_time").cast("long")
    recent = Window.partitionBy("warehouse_id").orderBy(seconds).rangeBetween(-600, -1)
    q = q.select(
        "*",
        (F.avg("total_duration_ms").over(earlier) / 1000).alias("query_historical_avg_s"),
        (F.lag("total_duration_ms").over(by_fp) / 1000).alias("prev_duration_s"),
        F.count(F.lit(1)).over(earlier).alias("query_history_count"),
        F.avg("read_bytes").over(earlier).alias("historical_bytes_read"),
        F.avg("spilled_local_bytes").over(earlier).alias("historical_spill_bytes"),
        F.avg(F.col("from_result_cache").cast("double")).over(earlier).alias("historical_cache_rate"),
        F.count(F.lit(1)).over(recent).alias("warehouse_recent_queries_10m"),
        F.avg("spilled").over(earlier).alias("historical_spill_share"),
        F.avg("full_scan").over(earlier).alias("historical_full_scan_share"),
        F.avg("queue_s").over(earlier).alias("historical_queue_s"),
        (F.max("total_duration_ms").over(earlier) / 1000).alias("historical_max_duration_s"),
        F.lag("spilled").over(by_fp).alias("prev_spilled"),
        F.lag("full_scan").over(by_fp).alias("prev_full_scan"),
    )
    warehouses = tables.gold("dim_warehouse").select(
        "warehouse_id",
        "change_time",
        code("warehouse_size", SIZES).alias("warehouse_size_code"),
        "max_clusters",
        "warehouse_type",
    )
    sized = (
        q.select("statement_id", "warehouse_id", "start_time")
        .join(warehouses, "warehouse_id")
        .where(F.col("change_time") <= F.col("start_time"))
        .groupBy("statement_id")
        .agg(
            F.max_by("warehouse_size_code", "change_time").alias("warehouse_size_code"),
            F.max_by("max_clusters", "change_time").alias("warehouse_max_clusters"),
            F.max_by((F.col("warehouse_type") == "SERVERLESS").cast("int"), "change_time").alias(
                "is_serverless"
            ),
        )
    )
    return q.join(sized, "statement_id", "left").select(
        "statement_id",
        "start_time",
        "warehouse_id",
        "query_text_length",
        "join_count",
        "subquery_count",
        "has_aggregation",
        "has_window_function",
        "statement_type_code",
        "hour_of_day",
        "day_of_week",
        ((F.col("hour_of_day").between(9, 17)) & (~F.col("day_of_week").isin(1, 7)))
        .cast("int")
        .alias("is_peak_hours"),
        "query_historical_avg_s",
        "prev_duration_s",
        "query_history_count",
        "historical_bytes_read",
        "historical_spill_bytes",
        "historical_cache_rate",
        "warehouse_recent_queries_10m",
        "historical_spill_share",
        "historical_full_scan_share",
        "historical_queue_s",
        "historical_max_duration_s",
        "prev_spilled",
        "prev_full_scan",
        "warehouse_size_code",
        "warehouse_max_clusters",
        "is_serverless",
    )


QUERY_FEATURES = FeatureTable(
    name="query_features",
    primary_keys=("statement_id",),
    compute=query_features,
    description="Per SQL statement: shape of its text, its fingerprint's earlier runs, the warehouse's size and load at its start.",
    sources=("fact_query_history", "dim_warehouse"),
)
