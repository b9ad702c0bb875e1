"""Quality labels, from Gold facts: how stale a table was at its daily check."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Labels, Tables


def freshness_labels(tables: Tables):
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    return checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date")).agg(
        F.max("hours_since_last_commit").alias("label")
    )


FRESHNESS_LABELS = Labels(
    model="data_freshness_predictor",
    compute=freshness_labels,
    description="Hours since the table's last commit at the day's data-quality check.",
)
