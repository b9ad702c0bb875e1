"""Data egress per user-day: what a person read, exported and queried, against their own past."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, prior_days, ratio, stored_days, zscore
from health_monitor_security.features import (
    EXPORT_ACTIONS,
    HISTORY_DAYS,
    SYSTEM_IDENTITIES,
    first_dates,
    is_off_hours,
    user_audit,
    user_lineage,
)

# Audit actions that hand data to the caller: a table credential (the data read itself), table
# metadata, a file read. Exports and downloads are counted apart (EXPORT_ACTIONS).
READ_ACTIONS = ("generateTemporaryTableCredential", "getTable", "read")
LARGE_QUERY_BYTES = 10 * 1024**3
# What the windows of data_egress_features read of the days before a row: stored by the run before.
WINDOWED = ["user_id", "event_date", "egress_volume", "distinct_tables_read", "query_read_bytes"]
WINDOWED += ["export_events", "denied_events"]


def data_egress_features(tables: Tables):
    # The windows' days before the days kept come from the table's own rows when it has them.
    history = stored_days(tables, "data_egress_features", "event_date", HISTORY_DAYS, WINDOWED)
    audit = kept_days(user_audit(tables), tables, "event_date", history.gold_days)
    is_read = F.col("action_name").isin(*READ_ACTIONS)
    is_export = F.col("action_name").rlike(EXPORT_ACTIONS)
    from_audit = audit.groupBy("user_id", "event_date").agg(
        F.sum(is_read.cast("int")).alias("data_read_events"),
        F.sum(is_export.cast("int")).alias("export_events"),
        F.sum(((is_read | is_export) & is_off_hours()).cast("int")).alias("off_hours_data_events"),
        F.sum((F.col("response_status_code") == 403).cast("int")).alias("denied_events"),
    )
    reads = (
        user_lineage(tables)
        .where(F.col("source_table_full_name").isNotNull() & F.col("target_table_full_name").isNull())
        .groupBy("user_id", "source_table_full_name", "source_table_schema", "event_date")
        .agg(F.count(F.lit(1)).alias("reads"))
    )
    # A table is new to a user on the first day they read it, counted only after their first day
    # (both first days from the whole history; the days' reads only from the days kept).
    table_first = first_dates(reads, ["user_id", "source_table_full_name"], "table_first_date")
    user_first = first_dates(reads, ["user_id"], "user_first_date")
    reads = (
        kept_days(reads, tables, "event_date", history.gold_days)
        .join(table_first, ["user_id", "source_table_full_name"])
        .join(user_first, "user_id")
    )
    is_new = (F.col("table_first_date") == F.col("event_date")) & (
        F.col("event_date") > F.col("user_first_date")
    )
    from_lineage = reads.groupBy("user_id", "event_date").agg(
        F.sum("reads").alias("lineage_reads"),
        F.count(F.lit(1)).alias("distinct_tables_read"),
        F.countDistinct("source_table_schema").alias("distinct_schemas_read"),
        F.sum(is_new.cast("int")).alias("new_tables_read"),
    )
    # A statement is known when it ends: it counts on the day of its end_time.
    queries = tables.gold("fact_query_history").where(~F.col("executed_by").isin(*SYSTEM_IDENTITIES))
    queries = kept_days(
        queries.withColumn("event_date", F.to_date("end_time")), tables, "event_date", history.gold_days
    )
    from_queries = queries.groupBy(F.col("executed_by").alias("user_id"), "event_date").agg(
        F.sum("read_bytes").cast("double").alias("query_read_bytes"),
        F.sum((F.col("read_bytes") > LARGE_QUERY_BYTES).cast("int")).alias("large_queries"),
    )
    counts = ["data_read_events", "export_events", "off_hours_data_events", "denied_events"]
    counts += ["lineage_reads", "distinct_tables_read", "distinct_schemas_read", "new_tables_read"]
    counts += ["query_read_bytes", "large_queries"]
    daily = (
        from_audit.join(from_lineage, ["user_id", "event_date"], "full")
        .join(from_queries, ["user_id", "event_date"], "full")
        .fillna(0, counts)
        .withColumn(
            "egress_volume", F.col("data_read_events") + F.col("export_events") + F.col("lineage_reads")
        )
    )
    daily = history.with_stored(daily)
    w30 = prior_days("user_id", "event_date", 30)
    hist = daily.select(
        "*",
        F.avg("egress_volume").over(w30).alias("avg_egress_30d"),
        F.stddev("egress_volume").over(w30).alias("std_egress_30d"),
        F.avg("distinct_tables_read").over(w30).alias("avg_tables_30d"),
        F.avg("query_read_bytes").over(w30).alias("avg_query_bytes_30d"),
        F.avg("export_events").over(w30).alias("avg_exports_30d"),
        F.avg("denied_events").over(w30).alias("avg_denied_30d"),
    )
    peer = Window.partitionBy("event_date")
    return hist.select(
        "user_id",
        "event_date",
        *counts,
        "egress_volume",
        zscore(F.col("egress_volume"), F.col("avg_egress_30d"), F.col("std_egress_30d")).alias(
            "egress_z_30d"
        ),
        ratio(F.col("egress_volume"), F.col("avg_egress_30d")).alias("volume_vs_baseline"),
        ratio(F.col("distinct_tables_read"), F.col("avg_tables_30d")).alias("tables_vs_baseline"),
        ratio(F.col("query_read_bytes"), F.col("avg_query_bytes_30d")).alias("bytes_vs_baseline"),
        (F.col("export_events") - F.coalesce("avg_exports_30d", F.lit(0.0))).alias("exports_above_baseline"),
        (F.col("denied_events") - F.coalesce("avg_denied_30d", F.lit(0.0))).alias("denied_above_baseline"),
        ratio(F.col("egress_volume"), F.avg("egress_volume").over(peer)).alias("egress_vs_peer"),
    )


DATA_EGRESS_FEATURES = FeatureTable(
    name="data_egress_features",
    domain="security",
    primary_keys=("user_id", "event_date"),
    timestamp_key="event_date",
    compute=data_egress_features,
    description=(
        "Data leaving through each user per day: reads and exports (audit), tables read and first-time "
        "tables (lineage), bytes read by SQL statements (query history), each against the prior 30 days."
    ),
    sources=("fact_audit_logs", "fact_table_lineage", "fact_query_history"),
)
