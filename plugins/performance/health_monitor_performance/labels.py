"""Performance labels, from Gold facts: how long a statement took."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Labels, Tables


def duration_labels(tables: Tables):
    q = tables.gold("fact_query_history")
    return q.where((F.col("execution_status") == "FINISHED") & ~F.col("from_result_cache")).select(
        "statement_id", (F.col("total_duration_ms") / 1000.0).alias("label")
    )


DURATION_LABELS = Labels(
    model="query_performance_forecaster",
    compute=duration_labels,
    description="Total duration in seconds of statements that finished and did not come from the result cache.",
)
