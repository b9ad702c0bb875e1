"""Quality feature tables: table freshness per day, and catalog shape per snapshot."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.featurekit import calendar, prior_days, ratio
from health_monitor.specs import FeatureTable, Tables

FAILURE_STATES = ("FAILED", "ERROR", "TIMED_OUT")


def _window_median(column: str, window):
    """The median of ``column`` over a framed window (Spark's median cannot take a frame)."""
    values = F.array_sort(F.collect_list(column).over(window))
    n = F.size(values)
    lower = F.element_at(values, F.floor((n - 1) / 2).cast("int") + 1)
    upper = F.element_at(values, F.floor(n / 2).cast("int") + 1)
    return F.when(n > 0, (lower + upper) / 2.0)


def freshness_features(tables: Tables):
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    daily = checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date")).agg(
        F.max("hours_since_last_commit").alias("hours_since_last_commit"),
        F.max((F.upper("freshness_status") == "UNHEALTHY").cast("int")).alias("was_stale"),
        F.max((F.upper("completeness_status") == "UNHEALTHY").cast("int")).alias("was_incomplete"),
        F.max("daily_row_count").alias("daily_row_count"),
        F.max("upstream_job_id").alias("upstream_job_id"),
        F.max("num_downstream_tables").alias("num_downstream_tables"),
    )
    slices = tables.gold("fact_job_run_timeline").where(F.col("result_state").isNotNull())
    upstream = slices.groupBy(
        F.col("job_id").alias("upstream_job_id"), F.to_date("period_end_time").alias("check_date")
    ).agg(
        F.max(F.col("result_state").isin(*FAILURE_STATES).cast("int")).alias("upstream_failed"),
        (F.max(F.hour("period_end_time")) + F.max(F.minute("period_end_time")) / 60.0).alias(
            "upstream_end_hour"
        ),
    )
    daily = daily.join(upstream, ["upstream_job_id", "check_date"], "left")
    w7 = prior_days("table_full_name", "check_date", 7, include_today=True)
    w14 = prior_days("table_full_name", "check_date", 14, include_today=True)
    w30 = prior_days("table_full_name", "check_date", 30, include_today=True)
    hist = daily.select(
        "*",
        F.avg("hours_since_last_commit").over(w7).alias("avg_staleness_7d"),
        F.stddev("hours_since_last_commit").over(w7).alias("std_staleness_7d"),
        F.max("hours_since_last_commit").over(w30).alias("max_staleness_30d"),
        F.avg("was_stale").over(w30).alias("stale_rate_30d"),
        F.avg("upstream_failed").over(w7).alias("upstream_failure_rate_7d"),
        F.avg("upstream_end_hour").over(w7).alias("upstream_avg_end_hour_7d"),
        F.avg("daily_row_count").over(w7).alias("avg_row_count_7d"),
        # Robust "usual" staleness: a stale day moves the mean a lot and the median not at all.
        _window_median("hours_since_last_commit", w7).alias("median_staleness_7d"),
        _window_median("hours_since_last_commit", w14).alias("median_staleness_14d"),
        F.min("hours_since_last_commit").over(w7).alias("min_staleness_7d"),
        F.sum("was_stale").over(w7).alias("stale_days_7d"),
        F.avg("upstream_end_hour")
        .over(prior_days("table_full_name", "check_date", 7))
        .alias("upstream_usual_end_hour"),
    )
    return hist.select(
        "table_full_name",
        "check_date",
        "hours_since_last_commit",
        "avg_staleness_7d",
        "std_staleness_7d",
        "max_staleness_30d",
        "stale_rate_30d",
        "was_stale",
        "was_incomplete",
        ratio(F.col("daily_row_count"), F.col("avg_row_count_7d")).alias("row_count_vs_7d"),
        F.coalesce("upstream_failed", F.lit(0)).alias("upstream_failed"),
        "upstream_failure_rate_7d",
        "upstream_end_hour",
        "upstream_avg_end_hour_7d",
        (F.col("upstream_end_hour") - F.col("upstream_usual_end_hour")).alias("upstream_end_hour_delay"),
        "median_staleness_7d",
        "median_staleness_14d",
        "min_staleness_7d",
        "stale_days_7d",
        "num_downstream_tables",
        *calendar("check_date"),
    )


def quality_features(tables: Tables):
    """Catalog-level shape per daily information_schema snapshot (the architecture's table)."""
    tabs = tables.gold("information_schema_tables_snapshot")
    cols = tables.gold("information_schema_columns_snapshot")
    t = tabs.groupBy(F.col("table_catalog").alias("catalog_name"), "snapshot_date").agg(
        F.count(F.lit(1)).alias("table_count")
    )
    c = cols.groupBy(F.col("table_catalog").alias("catalog_name"), "snapshot_date").agg(
        F.count(F.lit(1)).alias("column_count"),
        F.avg((F.col("is_nullable") == "YES").cast("double")).alias("nullable_column_ratio"),
    )
    return t.join(c, ["catalog_name", "snapshot_date"], "left").select(
        "catalog_name",
        "snapshot_date",
        "table_count",
        "column_count",
        "nullable_column_ratio",
        ratio(F.col("column_count"), F.col("table_count")).alias("avg_columns_per_table"),
    )


FRESHNESS_FEATURES = FeatureTable(
    name="freshness_features",
    primary_keys=("table_full_name", "check_date"),
    timestamp_key="check_date",
    compute=freshness_features,
    description="Per table and day: hours since its last commit, its history, and its upstream job's health.",
    sources=("fact_data_quality_monitoring_table_results", "fact_job_run_timeline"),
)

QUALITY_FEATURES = FeatureTable(
    name="quality_features",
    primary_keys=("catalog_name", "snapshot_date"),
    timestamp_key="snapshot_date",
    compute=quality_features,
    description="Per catalog and daily information_schema snapshot: tables, columns, nullability.",
    sources=("information_schema_tables_snapshot", "information_schema_columns_snapshot"),
)
