"""Security labels.

The detectors are scored against the simulator's ground truth (``compromised_user``, the one
security incident type it writes: off-hours logins from a new IP, mass reads and exports, and a
self-grant plus an admin-group grant). So exfiltration and privilege escalation are judged on
the same incident days as the threat detector: every simulated attack does both. The user
behaviour forecast learns from Gold facts: the events a user actually logged.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.sdk import Labels, Tables
from health_monitor_security.profile import daily_events

COMPROMISED = {"compromised_user": "user"}  # the incidents these detectors are evaluated on


def compromised_days(tables: Tables):
    """(user_id, event_date) of every day an attacker used an account. ``end_time`` is exclusive
    (midnight after the last day), so the last day is the day before it."""
    incidents = tables.ground_truth("incidents").where(
        (F.col("incident_type") == "compromised_user") & (F.col("entity_type") == "user")
    )
    last_day = F.to_date(F.col("end_time") - F.expr("INTERVAL 1 MICROSECOND"))
    return incidents.select(
        F.col("entity_id").alias("user_id"),
        F.explode(F.sequence(F.to_date("start_time"), last_day)).alias("event_date"),
    ).distinct()


def _incident_labels(feature_table: str):
    def compute(tables: Tables):
        if not tables.has_ground_truth():
            return None  # a real account: trained, not evaluated
        days = compromised_days(tables).withColumn("label", F.lit(1))
        keys = tables.features(feature_table).select("user_id", "event_date")
        return keys.join(days, ["user_id", "event_date"], "left").select(
            "user_id", "event_date", F.coalesce("label", F.lit(0)).alias("label")
        )

    return compute


def activity_labels(tables: Tables):
    return daily_events(tables).select("user_id", "event_date", F.col("events").cast("double").alias("label"))


THREAT_LABELS = Labels(
    model="security_threat_detector",
    compute=_incident_labels("security_features"),
    incidents=COMPROMISED,
    description="1 on the user-days a simulated attacker used the account.",
)
EXFILTRATION_LABELS = Labels(
    model="exfiltration_detector",
    compute=_incident_labels("data_egress_features"),
    incidents=COMPROMISED,
    description="1 on the user-days a simulated attacker read and exported data in bulk.",
)
PRIVILEGE_LABELS = Labels(
    model="privilege_escalation_detector",
    compute=_incident_labels("privilege_features"),
    incidents=COMPROMISED,
    description="1 on the user-days a simulated attacker granted the account privileges.",
)
ACTIVITY_LABELS = Labels(
    model="user_behavior_baseline",
    compute=activity_labels,
    description="Audit events the user logged that day (Gold fact_audit_logs), on the days they were active.",
)
