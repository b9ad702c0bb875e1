"""Warehouse-day features: load, latency, spill, queueing, caching and pruning of each SQL
warehouse's day, and how the day compares with the warehouse's earlier days.

A statement belongs to the day it ended (the moment it became known), so a row of day ``d``
holds only what was known by the end of ``d``. Forecasts of day ``d`` look the row of ``d - 1``
up; the regression detector scores day ``d`` with its own row.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import prior_days, ratio, version_as_of, zscore
from health_monitor_performance.gold import FULL_SCAN_MIN_FILES, SIZES, code, power, sized_statements

# The p90 execution time a right-sized warehouse keeps its statements under.
TARGET_P90_EXECUTION_S = 30.0
MIN_FINGERPRINT_RUNS = 3  # a fingerprint's daily median counts from this many runs on the day


def needed_size_code(p90_work_s):
    """The size (1 = 2X_SMALL ... 9 = 4X_LARGE) whose power brings the p90 execution time of the
    day's statements to the target; ``p90_work_s`` is that p90 in seconds at 2X_SMALL power
    (execution time scales inversely with size: each size doubles the compute)."""
    raw = F.lit(1.0) + F.log2(F.greatest(p90_work_s, F.lit(1e-3)) / F.lit(TARGET_P90_EXECUTION_S))
    return F.least(F.greatest(raw, F.lit(1.0)), F.lit(float(len(SIZES))))


def warehouse_days(tables: Tables):
    """Per warehouse and day a statement ended: the Gold facts of that day (labels use them too)."""
    q = sized_statements(tables).where(F.col("execution_status") == "FINISHED")
    executed = ~F.col("from_result_cache")
    exec_s = F.col("execution_duration_ms") / 1000.0
    work_s = exec_s * power(F.coalesce(F.col("size_code"), F.lit(4)))
    q = q.select(
        "warehouse_id",
        "fingerprint",
        F.to_date("end_time").alias("date"),
        F.hour("start_time").alias("hour"),
        F.col("from_result_cache").cast("int").alias("cached"),
        F.when(executed, exec_s).alias("exec_s"),
        F.when(executed, work_s).alias("work_s"),
        F.when(executed, F.col("read_bytes") / 1e9).alias("read_gb"),
        F.when(executed, (F.col("spilled_local_bytes") > 0).cast("int")).alias("spilled"),
        (F.col("spilled_local_bytes") / 1e9).alias("spill_gb"),
        (F.col("waiting_at_capacity_duration_ms") / 1000.0).alias("queue_s"),
        F.when(
            executed,
            ((F.col("pruned_files") == 0) & (F.col("read_files") >= FULL_SCAN_MIN_FILES)).cast("int"),
        ).alias("full_scan"),
        F.when(executed, F.col("pruned_files")).alias("pruned_files"),
        F.when(executed, F.col("read_files")).alias("read_files"),
    )
    daily = q.groupBy("warehouse_id", "date").agg(
        F.count(F.lit(1)).alias("statements"),
        F.avg("cached").alias("cache_share"),
        F.percentile("exec_s", 0.5).alias("p50_exec_s"),
        F.percentile("exec_s", 0.9).alias("p90_exec_s"),
        F.percentile("work_s", 0.9).alias("p90_work_s"),
        F.avg("spilled").alias("spill_share"),
        F.sum("spill_gb").alias("spill_gb"),
        F.avg("queue_s").alias("avg_queue_s"),
        F.percentile("queue_s", 0.95).alias("p95_queue_s"),
        F.avg((F.col("queue_s") > 0).cast("int")).alias("queued_share"),
        F.sum("read_gb").alias("read_gb"),
        F.avg("read_gb").alias("read_gb_per_statement"),
        F.avg("full_scan").alias("full_scan_share"),
        ratio(F.sum("pruned_files"), F.sum(F.col("pruned_files") + F.col("read_files"))).alias(
            "pruned_file_share"
        ),
        F.countDistinct("hour").alias("active_hours"),
    )
    return daily.withColumn("needed_size_code", needed_size_code(F.col("p90_work_s"))), q


def _fingerprint_shifts(statements):
    """Per warehouse-day, the largest slowdown and the largest growth in bytes read of any one
    fingerprint: its median that day over the mean of its daily medians in the 14 days before."""
    fp = (
        statements.where(F.col("exec_s").isNotNull())
        .groupBy("warehouse_id", "fingerprint", "date")
        .agg(
            F.count(F.lit(1)).alias("runs"),
            F.percentile("exec_s", 0.5).alias("median_exec_s"),
            F.percentile("read_gb", 0.5).alias("median_read_gb"),
        )
        .where(F.col("runs") >= MIN_FINGERPRINT_RUNS)
    )
    before = prior_days(["warehouse_id", "fingerprint"], "date", 14)
    fp = fp.select(
        "warehouse_id",
        "date",
        ratio(F.col("median_exec_s"), F.avg("median_exec_s").over(before)).alias("slowdown"),
        ratio(F.col("median_read_gb"), F.avg("median_read_gb").over(before)).alias("bytes_growth"),
    )
    return fp.groupBy("warehouse_id", "date").agg(
        F.max("slowdown").alias("max_fingerprint_slowdown"),
        F.max("bytes_growth").alias("max_fingerprint_bytes_growth"),
    )


def _configuration(tables: Tables, days):
    """The size and cluster limit in force at the end of each day (changes known by then)."""
    return version_as_of(
        days,
        tables.gold("dim_warehouse"),
        "warehouse_id",
        "date",
        {
            "warehouse_size_code": code("warehouse_size", SIZES),
            "warehouse_max_clusters": F.col("max_clusters"),
        },
    )


# "Days since the previous active day" stops counting here (also when there is none), so that
# a row never reads further back than LOOKBACK_DAYS: its longest window is 28 days, and a statement
# ending on a day may have started the day before.
GAP_CAP_DAYS = 30
LOOKBACK_DAYS = GAP_CAP_DAYS + 1


def warehouse_day_features(tables: Tables):
    daily, statements = warehouse_days(tables)
    events = (
        tables.gold("fact_warehouse_events")
        .groupBy("warehouse_id", F.to_date("event_time").alias("date"))
        .agg(F.max("cluster_count").alias("peak_clusters"))
    )
    df = (
        daily.join(_fingerprint_shifts(statements), ["warehouse_id", "date"], "left")
        .join(_configuration(tables, daily), ["warehouse_id", "date"], "left")
        .join(events, ["warehouse_id", "date"], "left")
    )
    before = prior_days("warehouse_id", "date", 14)
    week = prior_days("warehouse_id", "date", 7, include_today=True)
    month = prior_days("warehouse_id", "date", 28, include_today=True)
    by_day = Window.partitionBy("warehouse_id").orderBy("date")
    six_days_ago = (
        Window.partitionBy("warehouse_id")
        .orderBy(F.datediff("date", F.lit("1970-01-01")))
        .rangeBetween(-6, -6)
    )
    return df.select(
        "warehouse_id",
        "date",
        "statements",
        "cache_share",
        "p50_exec_s",
        "p90_exec_s",
        "p90_work_s",
        "needed_size_code",
        "spill_share",
        "spill_gb",
        "avg_queue_s",
        "p95_queue_s",
        "queued_share",
        "read_gb",
        "read_gb_per_statement",
        "full_scan_share",
        "pruned_file_share",
        "active_hours",
        "warehouse_size_code",
        "warehouse_max_clusters",
        F.coalesce("peak_clusters", F.lit(0)).alias("peak_clusters"),
        (F.coalesce("peak_clusters", F.lit(0)) >= F.col("warehouse_max_clusters"))
        .cast("int")
        .alias("at_max_clusters"),
        F.coalesce("max_fingerprint_slowdown", F.lit(1.0)).alias("max_fingerprint_slowdown"),
        F.coalesce("max_fingerprint_bytes_growth", F.lit(1.0)).alias("max_fingerprint_bytes_growth"),
        ratio(F.col("p90_exec_s"), F.avg("p90_exec_s").over(before)).alias("p90_exec_ratio_14d"),
        zscore(
            F.col("p90_exec_s"), F.avg("p90_exec_s").over(before), F.stddev("p90_exec_s").over(before)
        ).alias("p90_exec_zscore_14d"),
        ratio(F.col("read_gb_per_statement"), F.avg("read_gb_per_statement").over(before)).alias(
            "read_per_statement_ratio_14d"
        ),
        (F.col("warehouse_size_code") - F.first("warehouse_size_code").over(before)).alias("size_change_14d"),
        F.avg("needed_size_code").over(week).alias("needed_size_code_7d"),
        F.max("needed_size_code").over(week).alias("needed_size_code_max_7d"),
        F.avg("cache_share").over(week).alias("cache_share_7d"),
        F.avg("cache_share").over(month).alias("cache_share_28d"),
        F.avg("statements").over(week).alias("statements_7d"),
        F.avg("spill_share").over(week).alias("spill_share_7d"),
        F.avg("p90_exec_s").over(week).alias("p90_exec_s_7d"),
        F.first("needed_size_code").over(six_days_ago).alias("needed_size_code_6d_ago"),
        F.first("cache_share").over(six_days_ago).alias("cache_share_6d_ago"),
        # Capped, so that the days of Gold a row reads are bounded (lookback_days).
        F.least(
            F.coalesce(F.datediff("date", F.lag("date").over(by_day)), F.lit(GAP_CAP_DAYS)),
            F.lit(GAP_CAP_DAYS),
        ).alias("days_since_previous_active"),
        F.dayofweek(F.date_add("date", 1)).alias("next_day_of_week"),
        F.dayofweek(F.date_add("date", 1)).isin(1, 7).cast("int").alias("next_is_weekend"),
    )


WAREHOUSE_DAY_FEATURES = FeatureTable(
    name="warehouse_day_features",
    domain="performance",
    primary_keys=("warehouse_id", "date"),
    timestamp_key="date",
    compute=warehouse_day_features,
    lookback_days=LOOKBACK_DAYS,
    description=(
        "Per SQL warehouse and day: statements, latency (p50/p90, scaled to 2X_SMALL power), spill, "
        "queueing, result-cache share, pruning, the size in force at day end, fingerprint slowdowns "
        "against the 14 days before, and 7/28-day history up to the day."
    ),
    sources=("fact_query_history", "dim_warehouse", "fact_warehouse_events"),
)
