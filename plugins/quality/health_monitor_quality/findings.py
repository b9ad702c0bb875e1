"""When a quality prediction is a finding (the ``register_findings`` hook).

``schema_change_predictor`` has no rule: it does not beat its baseline and has no skill on the
simulated account (its model card), so a probability of a schema change is no finding; the
changes that do happen are ``schema_drift_detector``'s."""

from __future__ import annotations

from health_monitor.sdk import FindingRule
from health_monitor.sdk.findingkit import choose, is_set, number, text

_RISK_SEVERITY = {"high": "high", "medium": "medium"}


def _severity(column):
    return lambda rows: rows[column].astype(str).map(_RISK_SEVERITY).fillna("low")


FRESHNESS = FindingRule(
    model="data_freshness_predictor",
    when=lambda rows: rows["freshness_risk"].astype(str).isin(["high", "medium"]),
    entity=("table_full_name",),
    entity_kind="table",
    severity=_severity("freshness_risk"),
    reason=lambda rows: (
        "forecast "
        + number(rows["prediction"], 1)
        + " h since its last commit at the "
        + text(rows["check_date"])
        + " check (P90 "
        + number(rows["prediction_p90"], 1)
        + " h), past the interval its monitor expects"
    ),
    action="check the job that writes the table: did its last run fail or skip?",
    columns=("freshness_risk", "prediction", "prediction_p90", "check_date"),
)

DRIFT = FindingRule(
    model="schema_drift_detector",
    when=lambda rows: is_set(rows, "is_anomaly") & (rows["drift_type"].astype(str) != "column_added"),
    entity=("table_full_name",),
    entity_kind="table",
    severity=lambda rows: choose([rows["drift_type"].astype(str) == "none"], ["medium"], "high"),
    reason=lambda rows: (
        "schema changed on "
        + text(rows["snapshot_date"])
        + ": "
        + rows["drift_type"].astype(str).str.replace("_", " ")
        + " ("
        + number(rows["columns_changed"])
        + " column(s))"
    ),
    action="tell the table's readers; restore the column or type if the change was not planned",
    columns=("is_anomaly", "drift_type", "columns_changed", "snapshot_date"),
)

DEGRADATION = FindingRule(
    model="data_quality_degradation_forecaster",
    when=lambda rows: rows["degradation_risk"].astype(str).isin(["high", "medium"]),
    entity=("table_full_name",),
    entity_kind="table",
    severity=_severity("degradation_risk"),
    reason=lambda rows: (
        "forecast completeness "
        + number(rows["prediction"], 2)
        + " of its usual rows on "
        + text(rows["check_date"])
        + " (P10 "
        + number(rows["prediction_p10"], 2)
        + "), under the monitor's healthy floor"
    ),
    action="check the upstream sources and the writer job of the table before its consumers read it",
    columns=("degradation_risk", "prediction", "prediction_p10", "check_date"),
)

RULES = (FRESHNESS, DRIFT, DEGRADATION)
