"""Cost labels: workspace-days inside a simulated cost-spike incident (ground truth only)."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Labels, Tables

SPIKES = ("cost_spike_runaway_job", "cost_spike_forgotten_cluster", "cost_spike_wrong_sku")


def incident_days(tables: Tables, types: tuple[str, ...]):
    """(workspace_id, usage_date) of every day an incident of ``types`` was under way."""
    incidents = tables.ground_truth("incidents").where(F.col("incident_type").isin(*types))
    return (
        incidents.where(F.col("workspace_id").isNotNull())
        .select(
            "workspace_id",
            F.explode(F.sequence(F.to_date("start_time"), F.to_date("end_time"))).alias("usage_date"),
        )
        .distinct()
    )


def cost_anomaly_labels(tables: Tables):
    if not tables.has_ground_truth():
        return None
    keys = tables.features("cost_features").select("workspace_id", "usage_date")
    spikes = incident_days(tables, SPIKES).withColumn("label", F.lit(1))
    return keys.join(spikes, ["workspace_id", "usage_date"], "left").select(
        "workspace_id", "usage_date", F.coalesce("label", F.lit(0)).alias("label")
    )


COST_ANOMALY_LABELS = Labels(
    model="cost_anomaly_detector",
    compute=cost_anomaly_labels,
    description="1 on workspace-days of a simulated cost spike (runaway job, forgotten cluster, wrong SKU).",
)
