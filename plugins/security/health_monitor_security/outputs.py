"""The security models' own prediction columns (``Model.enrich``): risk levels, threat types,
suspicious actions and deviations. Module-level functions: they are pickled by reference."""

from __future__ import annotations

import numpy as np
import pandas as pd

RISK_LEVELS = ("low", "medium", "high", "critical")
WATCH_SCORE = 0.99  # an unflagged row stranger than 99% of training rows is worth a look
# A P10/P90 edge is 1.2816 standard deviations from the median of a normal distribution.
Z_P90 = 1.2816
DEVIATION_ALERT = 3.0


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame))
    return np.nan_to_num(frame[name].to_numpy(dtype="float64"), nan=0.0)


def _risk(flagged: np.ndarray, score: np.ndarray, critical: np.ndarray, watch: np.ndarray) -> np.ndarray:
    """critical: flagged with the model's aggravating evidence; high: flagged; medium: a near miss."""
    return np.select(
        [flagged & critical, flagged, (score >= WATCH_SCORE) | watch],
        ["critical", "high", "medium"],
        "low",
    ).astype(object)


def _flag_and_score(predicted: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    flagged = predicted["is_anomaly"].to_numpy(dtype="float64") > 0
    return flagged, np.nan_to_num(predicted["anomaly_score"].to_numpy(dtype="float64"))


def threat_outputs(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """risk_level, and threat_type: the rule-based kind of a suspicious day (none when low risk)."""
    flagged, score = _flag_and_score(predicted)
    exfiltration = _col(features, "exports_above_30d") > 0
    privilege = _col(features, "privilege_events") > 0
    credential = (_col(features, "new_ip_count") > 0) & (_col(features, "failed_auth_count") > 0)
    kinds = np.column_stack([exfiltration, privilege, credential])
    names = np.array(["data_exfiltration", "privilege_escalation", "credential_compromise"], dtype=object)
    single = names[kinds.argmax(axis=1)]
    threat = np.where(
        kinds.sum(axis=1) >= 2, "account_takeover", np.where(kinds.any(axis=1), single, "unusual_activity")
    )
    risk = _risk(flagged, score, score >= 0.999, np.zeros(len(score), dtype=bool))
    return pd.DataFrame(
        {"risk_level": risk, "threat_type": np.where(risk == "low", "none", threat).astype(object)}
    )


def exfiltration_outputs(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """risk_level (critical when data was also exported), and the day's volumes against the
    user's prior 30 days: audit reads, exports and lineage reads; bytes read by SQL statements."""
    flagged, score = _flag_and_score(predicted)
    volume = features["volume_vs_baseline"].to_numpy(dtype="float64")
    risk = _risk(flagged, score, _col(features, "export_events") > 0, np.nan_to_num(volume) >= 5)
    return pd.DataFrame(
        {
            "risk_level": risk,
            "volume_vs_baseline": volume,
            "bytes_vs_baseline": features["bytes_vs_baseline"].to_numpy(dtype="float64"),
        }
    )


def privilege_outputs(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """risk_level (critical when a non-admin added someone to an admin group), and
    suspicious_action: the most serious privilege action of the day."""
    flagged, score = _flag_and_score(predicted)
    actions = [
        ("admin_group_grant", _col(features, "admin_group_grants") > 0),
        ("self_grant", _col(features, "self_grants") > 0),
        ("group_change", _col(features, "group_changes") > 0),
        ("permission_change", _col(features, "permission_changes") > 0),
        ("token_creation", _col(features, "token_events") > 0),
    ]
    action = np.select([m for _, m in actions], [n for n, _ in actions], "none").astype(object)
    risk = _risk(
        flagged,
        score,
        _col(features, "admin_grants_by_non_admin") > 0,
        _col(features, "privilege_by_non_admin") > 0,
    )
    return pd.DataFrame({"risk_level": risk, "suspicious_action": action})


def deviation_outputs(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """deviation_score: how far the day's actual events fell from the forecast, in standard
    deviations read off the forecast's own P10/P90 (the edges are +-1.28); null for a day not
    yet observed. deviation_alert: |deviation_score| > 3."""
    actual = features["actual_events"].to_numpy(dtype="float64")
    pred = predicted["prediction"].to_numpy(dtype="float64")
    lo = predicted["prediction_p10"].to_numpy(dtype="float64")
    hi = predicted["prediction_p90"].to_numpy(dtype="float64")
    above = actual >= pred
    spread = np.where(above, hi - pred, pred - lo)
    spread = np.where(np.isfinite(spread) & (spread > 1e-9), spread, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = Z_P90 * (actual - pred) / spread
    alert = np.where(np.isnan(score), False, np.abs(np.nan_to_num(score)) > DEVIATION_ALERT)
    return pd.DataFrame({"deviation_score": score, "deviation_alert": alert.astype(bool)})
