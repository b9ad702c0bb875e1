"""Security models."""

from __future__ import annotations

from sklearn.ensemble import IsolationForest

from health_monitor.baselines import ZScoreRule
from health_monitor.specs import Lookup, Model, ProblemType

SECURITY_THREAT_DETECTOR = Model(
    name="security_threat_detector",
    domain="security",
    problem_type=ProblemType.ANOMALY_DETECTION,
    keys=("user_id", "event_date"),
    time_column="event_date",
    lookups=(
        Lookup(
            "security_features",
            ("user_id", "event_date"),
            (
                "event_count_z_7d",
                "failed_auth_count",
                "new_ip_count",
                "unique_source_ips",
                "off_hours_ratio_change",
                "tables_vs_30d_ratio",
                "exports_above_30d",
                "privilege_events",
                "activity_vs_peer_avg",
            ),
        ),
    ),
    base=lambda tables: tables.features("security_features").select("user_id", "event_date"),
    estimator=lambda: IsolationForest(n_estimators=200, contamination=0.01, random_state=0),
    baseline=lambda: ZScoreRule(column="event_count_z_7d", threshold=3.0),
    baseline_name="z-score > 3 on the user's daily event count vs the prior 7 days",
    description="A user's day that departs from their own history and their peers': new IPs, off-hours, exports.",
)
