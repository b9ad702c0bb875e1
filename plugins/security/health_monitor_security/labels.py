"""Security labels: user-days of a simulated compromised account (ground truth only)."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.specs import Labels, Tables


def threat_labels(tables: Tables):
    if not tables.has_ground_truth():
        return None
    incidents = tables.ground_truth("incidents").where(
        (F.col("incident_type") == "compromised_user") & (F.col("entity_type") == "user")
    )
    days = (
        incidents.select(
            F.col("entity_id").alias("user_id"),
            F.explode(F.sequence(F.to_date("start_time"), F.to_date("end_time"))).alias("event_date"),
        )
        .distinct()
        .withColumn("label", F.lit(1))
    )
    keys = tables.features("security_features").select("user_id", "event_date")
    return keys.join(days, ["user_id", "event_date"], "left").select(
        "user_id", "event_date", F.coalesce("label", F.lit(0)).alias("label")
    )


THREAT_LABELS = Labels(
    model="security_threat_detector",
    compute=threat_labels,
    description="1 on the user-days a simulated attacker used the account.",
)
