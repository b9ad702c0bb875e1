"""Honest evaluation: a time-based split and the metrics of each problem type. Whether one set of
predictions is better than another is decided with error bars, in :mod:`health_monitor.models.verdicts`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from health_monitor.sdk.specs import ProblemType

# The metric each problem type is judged by, and whether higher is better.
HEADLINE: dict[ProblemType, tuple[str, bool]] = {
    ProblemType.CLASSIFICATION: ("f1", True),
    ProblemType.MULTICLASS: ("f1", True),  # support-weighted F1 over classes
    ProblemType.REGRESSION: ("mape", False),
    ProblemType.ANOMALY_DETECTION: ("f1", True),
}


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp


def time_split(frame: pd.DataFrame, time_column: str, test_fraction: float) -> Split:
    """Rows at the latest ``test_fraction`` of distinct times are the test set; the rest train.

    Splitting on distinct times (not rows) keeps every row of one day on the same side.
    """
    times = pd.to_datetime(frame[time_column], utc=True)
    distinct = np.sort(times.dropna().unique())
    if len(distinct) < 4:
        raise ValueError(
            f"time column {time_column!r} has {len(distinct)} distinct values; need at least 4 to split"
        )
    cutoff = pd.Timestamp(
        distinct[min(len(distinct) - 1, int(np.floor(len(distinct) * (1 - test_fraction))))]
    )
    is_test = times >= cutoff
    return Split(frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True), cutoff)


def score(problem_type: ProblemType, y_true: pd.Series, predicted: pd.DataFrame) -> dict[str, float]:
    """Metrics of one set of predictions (the standard output columns) against the truth."""
    if problem_type is ProblemType.MULTICLASS:
        truth = np.asarray(y_true).astype(str)
        label = predicted["predicted_class"].astype(str).to_numpy()
        kw = {"average": "weighted", "zero_division": 0}
        return {
            "precision": float(skm.precision_score(truth, label, **kw)),
            "recall": float(skm.recall_score(truth, label, **kw)),
            "f1": float(skm.f1_score(truth, label, **kw)),
            "accuracy": float(skm.accuracy_score(truth, label)),
            "classes": float(len(set(truth))),
        }
    y = np.asarray(y_true, dtype="float64")
    if problem_type is ProblemType.REGRESSION:
        pred = predicted["prediction"].to_numpy(dtype="float64")
        nonzero = np.abs(y) > 1e-9
        interval = {}
        if {"prediction_p10", "prediction_p90"} <= set(predicted.columns):
            lo = predicted["prediction_p10"].to_numpy(dtype="float64")
            hi = predicted["prediction_p90"].to_numpy(dtype="float64")
            interval = {
                "coverage_p10_p90": float(np.mean((y >= lo) & (y <= hi))) if len(y) else float("nan"),
                "median_abs_pct_error": float(np.median(np.abs((y[nonzero] - pred[nonzero]) / y[nonzero])))
                if nonzero.any()
                else float("nan"),
            }
        return {
            **interval,
            "mae": float(skm.mean_absolute_error(y, pred)),
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mape": float(np.mean(np.abs((y[nonzero] - pred[nonzero]) / y[nonzero])))
            if nonzero.any()
            else float("nan"),
            "r2": float(skm.r2_score(y, pred)) if len(y) > 1 else float("nan"),
        }
    truth = y.astype(int)
    label = predicted["prediction"].to_numpy(dtype="float64").astype(int)
    out = {
        "precision": float(skm.precision_score(truth, label, zero_division=0)),
        "recall": float(skm.recall_score(truth, label, zero_division=0)),
        "f1": float(skm.f1_score(truth, label, zero_division=0)),
        "positive_rate": float(truth.mean()) if len(truth) else float("nan"),
    }
    ranking = predicted["probability"] if "probability" in predicted else predicted.get("anomaly_score")
    if ranking is not None and len(np.unique(truth)) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(truth, ranking))
        out["pr_auc"] = float(skm.average_precision_score(truth, ranking))
    return out
