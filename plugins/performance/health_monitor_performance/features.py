"""Performance feature tables: what is known about a SQL statement before it runs.

A statement's history features (its fingerprint's earlier durations and bytes, the warehouse's
recent load) use only statements that started before it; the warehouse size is the one in
force at its start, not today's.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import version_at
from health_monitor_performance.gold import FULL_SCAN_MIN_FILES, SIZES, code, fingerprint

# A statement reaches the query history when it ends: at most two days after its start (a SQL
# warehouse's statement timeout is 172,800 seconds by default).
STATEMENT_LATE_DAYS = 2
RECENT_SECONDS = 600  # warehouse_recent_queries_10m: the statements started in the 10 minutes before
STATEMENT_TYPES = ["SELECT", "INSERT", "MERGE", "UPDATE", "DELETE", "CREATE", "COPY", "OPTIMIZE", "OTHER"]


def query_features(tables: Tables):
    queries = tables.gold("fact_query_history").where(F.col("warehouse_id").isNotNull())
    text = F.upper(F.coalesce(F.col("statement_text"), F.lit("")))
    q = queries.select(
        "statement_id",
        "warehouse_id",
        "start_time",
        "end_time",
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
    # The rows asked for (the daily run's recent days): their history still comes from every
    # statement, the warehouse's load from those started just before them.
    asked, nearby = q, q
    rows_from = tables.rows_from()
    if rows_from is not None:
        first = F.lit(rows_from).cast("timestamp")
        asked = q.where(F.col("start_time") >= first)
        nearby = q.where(F.col("start_time") >= first - F.expr(f"INTERVAL {RECENT_SECONDS} SECONDS"))
    seconds = F.col("start_time").cast("long")
    recent = Window.partitionBy("warehouse_id").orderBy(seconds).rangeBetween(-RECENT_SECONDS, -1)
    load = nearby.select("statement_id", F.count(F.lit(1)).over(recent).alias("warehouse_recent_queries_10m"))
    q = asked.join(_history(q, asked), "statement_id", "left").join(load, "statement_id")
    warehouse = {
        "warehouse_size_code": code("warehouse_size", SIZES),
        "warehouse_max_clusters": F.col("max_clusters"),
        "is_serverless": (F.col("warehouse_type") == "SERVERLESS").cast("int"),
    }
    sized = version_at(
        q, tables.gold("dim_warehouse"), "warehouse_id", "start_time", "statement_id", warehouse
    )
    return sized.select(
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


def _history(q, asked):
    """Per statement of ``asked``, its fingerprint's runs (of ``q``) that had *finished* before it
    started: what was known at its start. (Ordering by start time alone would count runs still in
    flight, whose duration, bytes and spill were not known yet.)

    An as-of aggregation without a self-join: each run becomes a completion event at its end
    time and a question at its start time; running aggregates over the events in time order,
    read at the questions, see exactly the completions before them (a completion at the very
    instant a statement starts is not counted)."""
    done = q.where(F.col("end_time").isNotNull()).select(
        "fingerprint",
        F.col("end_time").alias("at"),
        F.lit(1).alias("event"),
        F.lit(None).cast("string").alias("asked"),
        (F.col("total_duration_ms") / 1000.0).alias("duration_s"),
        F.col("read_bytes").cast("double").alias("bytes"),
        F.col("spilled_local_bytes").cast("double").alias("spill"),
        F.col("from_result_cache").cast("double").alias("cached"),
        F.col("spilled").cast("double").alias("spilled"),
        F.col("full_scan").cast("double").alias("full_scan"),
        F.col("queue_s").alias("queue_s"),
    )
    questions = asked.select(
        "fingerprint",
        F.col("start_time").alias("at"),
        F.lit(0).alias("event"),
        F.col("statement_id").alias("asked"),
    )
    events = done.unionByName(questions, allowMissingColumns=True)
    # Questions sort before completions at the same instant: "finished before it started".
    so_far = (
        Window.partitionBy("fingerprint")
        .orderBy("at", "event", "asked")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return (
        events.select(
            "asked",
            "event",
            F.avg("duration_s").over(so_far).alias("query_historical_avg_s"),
            F.last("duration_s", ignorenulls=True).over(so_far).alias("prev_duration_s"),
            F.count("duration_s").over(so_far).alias("query_history_count"),
            F.avg("bytes").over(so_far).alias("historical_bytes_read"),
            F.avg("spill").over(so_far).alias("historical_spill_bytes"),
            F.avg("cached").over(so_far).alias("historical_cache_rate"),
            F.avg("spilled").over(so_far).alias("historical_spill_share"),
            F.avg("full_scan").over(so_far).alias("historical_full_scan_share"),
            F.avg("queue_s").over(so_far).alias("historical_queue_s"),
            F.max("duration_s").over(so_far).alias("historical_max_duration_s"),
            F.last("spilled", ignorenulls=True).over(so_far).cast("int").alias("prev_spilled"),
            F.last("full_scan", ignorenulls=True).over(so_far).cast("int").alias("prev_full_scan"),
        )
        .where(F.col("event") == 0)
        .drop("event")
        .withColumnRenamed("asked", "statement_id")
    )


QUERY_FEATURES = FeatureTable(
    name="query_features",
    domain="performance",
    primary_keys=("statement_id",),
    compute=query_features,
    description="Per SQL statement: shape of its text, its fingerprint's runs finished before it started, the warehouse's size and load at its start.",
    sources=("fact_query_history", "dim_warehouse"),
    # A statement keeps its start: the daily run recomputes the statements of the recent days.
    day_column="start_time",
    late_days=STATEMENT_LATE_DAYS,
)
