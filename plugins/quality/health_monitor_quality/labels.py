"""Quality labels, from Gold facts (and, for the schema drift detector's evaluation, the
simulator's ground truth)."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import Labels, Tables
from health_monitor.sdk.featurekit import day_number, ratio
from health_monitor_quality.features import schema_diffs

HORIZON_DAYS = 7  # schema_change_predictor: a change within the next week


def freshness_labels(tables: Tables):
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    return checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date")).agg(
        F.max("hours_since_last_commit").alias("label")
    )


def schema_drift_labels(tables: Tables):
    """1 on the snapshot day a breaking schema change (a column dropped or retyped) appeared."""
    if not tables.has_ground_truth():
        return None
    breaking = (
        tables.ground_truth("incidents")
        .where(F.col("incident_type") == "breaking_schema_change")
        .select(F.col("entity_id").alias("table_full_name"), F.to_date("start_time").alias("snapshot_date"))
        .distinct()
        .withColumn("label", F.lit(1))
    )
    days = schema_diffs(tables).select("table_full_name", "snapshot_date")
    return days.join(breaking, ["table_full_name", "snapshot_date"], "left").select(
        "table_full_name", "snapshot_date", F.coalesce("label", F.lit(0)).alias("label")
    )


def schema_change_labels(tables: Tables):
    """1 when the table's columns differ in any snapshot of the next 7 days from the one before;
    only days whose 7 following days are all snapshotted."""
    diff = schema_diffs(tables)
    changed = (
        F.col("columns_added")
        + F.col("columns_dropped")
        + F.col("columns_retyped")
        + F.col("columns_made_required")
        > 0
    ).cast("int")
    ahead = (
        Window.partitionBy("table_full_name")
        .orderBy(day_number("snapshot_date"))
        .rangeBetween(1, HORIZON_DAYS)
    )
    last = F.max("snapshot_date").over(Window.partitionBy("table_full_name"))
    return (
        diff.withColumn("changed", changed)
        .select(
            "table_full_name",
            "snapshot_date",
            F.max("changed").over(ahead).alias("label"),
            F.datediff(last, "snapshot_date").alias("days_ahead"),
        )
        .where(F.col("days_ahead") >= HORIZON_DAYS)
        .select("table_full_name", "snapshot_date", "label")
    )


def degradation_labels(tables: Tables):
    """The day's completeness ratio: daily rows over the middle of the monitor's predicted range."""
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    mid = (F.col("daily_row_count_min_predicted") + F.col("daily_row_count_max_predicted")) / 2.0
    return (
        checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date"))
        .agg(F.max(ratio(F.col("daily_row_count"), mid)).alias("label"))
        .where(F.col("label").isNotNull())
    )


FRESHNESS_LABELS = Labels(
    model="data_freshness_predictor",
    compute=freshness_labels,
    description="Hours since the table's last commit at the day's data-quality check.",
)

SCHEMA_DRIFT_LABELS = Labels(
    model="schema_drift_detector",
    compute=schema_drift_labels,
    incidents={"breaking_schema_change": "table"},
    description=(
        "Ground truth (evaluation only): 1 on the first day of a breaking_schema_change incident "
        "(a column dropped or retyped), 0 on every other table-day; benign added columns are 0."
    ),
)

SCHEMA_CHANGE_LABELS = Labels(
    model="schema_change_predictor",
    compute=schema_change_labels,
    description="1 if the table's column snapshot changes (added, dropped, retyped, made required) in the next 7 days.",
)

DEGRADATION_LABELS = Labels(
    model="data_quality_degradation_forecaster",
    compute=degradation_labels,
    description="The day's completeness ratio: daily rows / the middle of the monitor's predicted range.",
)
