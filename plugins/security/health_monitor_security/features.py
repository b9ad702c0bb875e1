"""Security feature tables: each user's daily activity against their own history."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, prior_days, ratio, stored_days, zscore

FAILED_STATUS = (401, 403)
# Databricks' own background identity: not an account anyone can log in to or compromise.
# Service principals (application ids) stay in: their credentials can leak.
SYSTEM_IDENTITIES = ("System-User",)
# Action names (system.access.audit) that move data out or change who may do what.
EXPORT_ACTIONS = r"(?i)(download|export)"
PRIVILEGE_ACTIONS = r"(?i)(permission|grant|acl|addPrincipal|changeOwner|setAdmin|createToken|generateToken)"
OFF_HOURS = (6, 22)  # activity before 06:00 or from 22:00 UTC counts as off-hours
HISTORY_DAYS = 30  # the longest window of the daily tables: the 30 days before a day


def is_off_hours(timestamp: str = "event_time"):
    return (F.hour(timestamp) < OFF_HOURS[0]) | (F.hour(timestamp) >= OFF_HOURS[1])


def user_audit(tables: Tables):
    """Audit events of people and service principals, with ``user_id`` (background identities out)."""
    audit = tables.gold("fact_audit_logs").where(
        F.col("user_identity_email").isNotNull() & ~F.col("user_identity_email").isin(*SYSTEM_IDENTITIES)
    )
    return audit.withColumn("user_id", F.col("user_identity_email"))


def user_lineage(tables: Tables):
    """Table lineage events of people and service principals, with ``user_id``."""
    lineage = tables.gold("fact_table_lineage").where(
        F.col("created_by").isNotNull() & ~F.col("created_by").isin(*SYSTEM_IDENTITIES)
    )
    return lineage.withColumn("user_id", F.col("created_by"))


def first_dates(df, keys: list[str], name: str, column: str = "event_date"):
    """The first day of ``column`` per ``keys``, over all of ``df`` (all-time: never cut)."""
    return df.groupBy(*keys).agg(F.min(column).alias(name))


# What the windows of security_features read of the days before a row: stored by the run before.
WINDOWED = ["user_id", "event_date", "event_count", "tables_accessed", "export_events", "off_hours_events"]


def security_features(tables: Tables):
    audit = user_audit(tables)
    # First-seen days come from the whole history; the days' activity only from the days kept,
    # and the windows' days before them from the table's own rows when it has them.
    ip_first = first_dates(audit, ["user_id", "source_ip_address"], "ip_first_date")
    user_first = first_dates(audit, ["user_id"], "user_first_date")
    history = stored_days(tables, "security_features", "event_date", HISTORY_DAYS, WINDOWED)
    audit = kept_days(audit, tables, "event_date", history.gold_days).join(
        ip_first, ["user_id", "source_ip_address"], "left"
    )
    daily = audit.groupBy("user_id", "event_date").agg(
        F.count(F.lit(1)).alias("event_count"),
        F.sum(F.col("response_status_code").isin(*FAILED_STATUS).cast("int")).alias("failed_auth_count"),
        F.countDistinct("source_ip_address").alias("unique_source_ips"),
        F.countDistinct(
            F.when(F.col("ip_first_date") == F.col("event_date"), F.col("source_ip_address"))
        ).alias("new_ips"),
        F.sum(is_off_hours().cast("int")).alias("off_hours_events"),
        F.sum(F.col("action_name").rlike(EXPORT_ACTIONS).cast("int")).alias("export_events"),
        F.sum(F.col("action_name").rlike(PRIVILEGE_ACTIONS).cast("int")).alias("privilege_events"),
        F.countDistinct("workspace_id").alias("workspaces_touched"),
    )
    reads = (
        kept_days(user_lineage(tables), tables, "event_date", history.gold_days)
        .groupBy("user_id", "event_date")
        .agg(
            F.countDistinct("source_table_full_name").alias("tables_accessed"),
            F.count(F.lit(1)).alias("lineage_events"),
        )
    )
    daily = daily.join(reads, ["user_id", "event_date"], "left").fillna(
        0, ["tables_accessed", "lineage_events"]
    )
    daily = daily.join(user_first, "user_id").withColumn(
        # A user's first day has no history: every IP is new then, which is not a signal.
        "new_ip_count",
        F.when(F.col("event_date") > F.col("user_first_date"), F.col("new_ips")).otherwise(0),
    )
    daily = history.with_stored(daily)
    w7 = prior_days("user_id", "event_date", 7)
    w30 = prior_days("user_id", "event_date", 30)
    hist = daily.select(
        "*",
        F.avg("event_count").over(w7).alias("avg_events_7d"),
        F.stddev("event_count").over(w7).alias("std_events_7d"),
        F.avg("tables_accessed").over(w30).alias("avg_tables_30d"),
        F.avg("export_events").over(w30).alias("avg_exports_30d"),
        F.avg(ratio(F.col("off_hours_events"), F.col("event_count")))
        .over(w30)
        .alias("avg_off_hours_ratio_30d"),
    )
    peer = Window.partitionBy("event_date")
    return hist.select(
        "user_id",
        "event_date",
        "event_count",
        "failed_auth_count",
        "unique_source_ips",
        "new_ip_count",
        "off_hours_events",
        "export_events",
        "privilege_events",
        "tables_accessed",
        "workspaces_touched",
        zscore(F.col("event_count"), F.col("avg_events_7d"), F.col("std_events_7d")).alias(
            "event_count_z_7d"
        ),
        ratio(F.col("off_hours_events"), F.col("event_count")).alias("off_hours_ratio"),
        (ratio(F.col("off_hours_events"), F.col("event_count")) - F.col("avg_off_hours_ratio_30d")).alias(
            "off_hours_ratio_change"
        ),
        ratio(F.col("tables_accessed"), F.col("avg_tables_30d")).alias("tables_vs_30d_ratio"),
        (F.col("export_events") - F.col("avg_exports_30d")).alias("exports_above_30d"),
        ratio(F.col("event_count"), F.avg("event_count").over(peer)).alias("activity_vs_peer_avg"),
        (F.col("new_ip_count") * F.col("tables_accessed")).alias("lateral_movement_risk"),
        F.dayofweek("event_date").isin(1, 7).cast("int").alias("is_weekend"),
    )


SECURITY_FEATURES = FeatureTable(
    name="security_features",
    domain="security",
    primary_keys=("user_id", "event_date"),
    timestamp_key="event_date",
    compute=security_features,
    description="Daily audit activity per user: volume, failures, new IPs, off-hours, exports, privilege changes.",
    sources=("fact_audit_logs", "fact_table_lineage"),
)
