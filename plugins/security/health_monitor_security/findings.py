"""When a security prediction is a finding (the ``register_findings`` hook). The three detectors
flag user-days; a compromised user is flagged by all three, and the core merges them into one
finding with three signals."""

from __future__ import annotations

import pandas as pd

from health_monitor.sdk import FindingRule
from health_monitor.sdk.findingkit import choose, is_set, number, numeric, text, times
from health_monitor_security.outputs import DEVIATION_ALERT

HIGH_DEVIATION = 2 * DEVIATION_ALERT


def _risk(rows: pd.DataFrame) -> pd.Series:
    """The model's own risk_level (critical/high for a flagged day)."""
    level = rows["risk_level"].astype(str)
    return level.where(level.isin(["critical", "high"]), "high")


def _day(rows: pd.DataFrame) -> pd.Series:
    return " on " + text(rows["event_date"])


THREAT = FindingRule(
    model="security_threat_detector",
    when=lambda rows: is_set(rows, "is_anomaly"),
    entity=("user_id",),
    entity_kind="user",
    severity=_risk,
    reason=lambda rows: (
        rows["threat_type"].astype(str).str.replace("_", " ")
        + _day(rows)
        + ": activity unlike the user's own history and their peers' (anomaly score "
        + number(rows["anomaly_score"], 4)
        + ")"
    ),
    action="check the user's sessions, source IPs and recent grants; suspend the account and rotate "
    "its tokens if the activity is not theirs",
    columns=("is_anomaly", "anomaly_score", "risk_level", "threat_type", "event_date"),
)

EXFILTRATION = FindingRule(
    model="exfiltration_detector",
    when=lambda rows: is_set(rows, "is_anomaly"),
    entity=("user_id",),
    entity_kind="user",
    severity=_risk,
    reason=lambda rows: (
        "read and exported "
        + times(rows["volume_vs_baseline"])
        + " their usual daily volume"
        + _day(rows)
        + " (SQL bytes "
        + times(rows["bytes_vs_baseline"])
        + " usual; anomaly score "
        + number(rows["anomaly_score"], 4)
        + ")"
    ),
    action="review what the user read and exported that day (audit log, lineage) and revoke access "
    "to the tables if it was not expected",
    columns=("is_anomaly", "anomaly_score", "risk_level", "volume_vs_baseline", "bytes_vs_baseline"),
)

PRIVILEGE = FindingRule(
    model="privilege_escalation_detector",
    when=lambda rows: is_set(rows, "is_anomaly"),
    entity=("user_id",),
    entity_kind="user",
    severity=_risk,
    reason=lambda rows: (
        "privilege change by the user"
        + _day(rows)
        + ", most serious: "
        + rows["suspicious_action"].astype(str).str.replace("_", " ")
        + " (anomaly score "
        + number(rows["anomaly_score"], 4)
        + ")"
    ),
    action="review the grants and group changes the user made that day and undo those nobody approved",
    columns=("is_anomaly", "anomaly_score", "risk_level", "suspicious_action"),
)

BEHAVIOR = FindingRule(
    model="user_behavior_baseline",
    # Unusually busy days only: a quiet day is no threat. The deviation is known once the day is
    # observed, so the latest day judged is the latest with a deviation_score.
    when=lambda rows: numeric(rows, "deviation_score") > DEVIATION_ALERT,
    entity=("user_id",),
    entity_kind="user",
    severity=lambda rows: choose([numeric(rows, "deviation_score") > HIGH_DEVIATION], ["high"], "medium"),
    reason=lambda rows: (
        "audit events"
        + _day(rows)
        + " "
        + number(rows["deviation_score"], 1)
        + " standard deviations above the user's own forecast of "
        + number(rows["prediction"])
        + " (P90 "
        + number(rows["prediction_p90"])
        + ")"
    ),
    action="ask the user (or their manager) what they did that day; check it against the other "
    "security findings",
    score=lambda rows: numeric(rows, "deviation_score") / 100.0,
    columns=("deviation_score", "prediction", "prediction_p90"),
    judged="deviation_score",
)

RULES = (THREAT, EXFILTRATION, PRIVILEGE, BEHAVIOR)
