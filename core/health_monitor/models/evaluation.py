"""Honest evaluation: a time-based split and the metrics of each problem type. Whether one set of
predictions is better than another is decided with error bars, in :mod:`health_monitor.models.verdicts`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from health_monitor.models.instants import utc_instants
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
    distinct = np.unique(utc_instants(times.dropna()))  # sorted
    if len(distinct) < 4:
        raise ValueError(
            f"time column {time_column!r} has {len(distinct)} distinct values; need at least 4 to split"
        )
    cutoff = pd.Timestamp(
        distinct[min(len(distinct) - 1, int(np.floor(len(distinct) * (1 - test_fraction))))], tz="UTC"
    )
    is_test = times >= cutoff
    return Split(frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True), cutoff)


SHORT_HISTORY = 7  # an entity with fewer training rows than this has a short history


@dataclass(frozen=True)
class Coverage:
    """How much of the test split is about entities the training rows know.

    The split is one calendar cutoff for the whole account: every entity's test rows come after
    every training row of any entity, so nothing of the test period (an account-wide outage, a
    price change) leaks into training through another entity. The price is that an entity which
    appeared late (a new job, a new user) has all or most of its rows in the test split: the
    metric then mixes forecasting known entities with cold starts. This says how much.
    """

    entities: int  # entities with a test row
    unseen_entities: int  # of those, with no training row
    rows: int
    unseen_rows: int  # test rows of unseen entities
    short_rows: int  # test rows of entities with 1 to SHORT_HISTORY - 1 training rows

    @property
    def seen(self) -> float:
        """The share of test rows whose entity has at least one training row."""
        return 1.0 - self.unseen_rows / self.rows if self.rows else 1.0

    def metrics(self) -> dict[str, float]:
        return {
            "test_entities": float(self.entities),
            "test_entities_unseen": float(self.unseen_entities),
            "test_rows_unseen_share": self.unseen_rows / self.rows if self.rows else 0.0,
            "test_rows_short_history_share": self.short_rows / self.rows if self.rows else 0.0,
        }

    def warning(self) -> str | None:
        if self.rows and self.unseen_rows / self.rows > 0.2:
            return (
                f"{self.unseen_rows / self.rows:.0%} of the test rows are about entities with no "
                f"training row ({self.unseen_entities} of {self.entities}): the test metric is "
                "largely a cold-start metric; see test_*_seen_entities for the others"
            )
        return None


def entity_key(frame: pd.DataFrame, entity: list[str]) -> pd.Series:
    """One text key per row of ``frame`` from its ``entity`` columns (column by column: joined
    row by row, 18 s of a seed-scale training stage went to pandas' row loop; session 54)."""
    key = frame[entity[0]].astype(str)
    for column in entity[1:]:
        key = key + "\x1f" + frame[column].astype(str)
    return key.rename(None)


def entity_coverage(
    train: pd.DataFrame, test: pd.DataFrame, entity: list[str]
) -> tuple[Coverage, np.ndarray] | None:
    """The :class:`Coverage` of ``test`` by ``train`` over the ``entity`` columns, and a boolean
    per test row: its entity has a training row. None for a model without entity columns (one
    row per day for the whole account)."""
    if not entity:
        return None
    history = entity_key(train, entity).value_counts() if len(train) else pd.Series(dtype="int64")
    test_keys = entity_key(test, entity) if len(test) else pd.Series(dtype="object")
    counts = test_keys.map(history).fillna(0).to_numpy()
    seen = counts > 0
    distinct = pd.Series(test_keys.unique())
    coverage = Coverage(
        entities=len(distinct),
        unseen_entities=int((~distinct.isin(history.index)).sum()),
        rows=len(test),
        unseen_rows=int((~seen).sum()),
        short_rows=int(((counts > 0) & (counts < SHORT_HISTORY)).sum()),
    )
    return coverage, seen


def _runs(on: np.ndarray, entity: np.ndarray) -> np.ndarray:
    """A run id (1, 2, ...) per row where ``on``, 0 elsewhere: consecutive ``on`` rows of one
    entity (rows sorted by entity, then time) share an id."""
    before = np.r_[False, on[:-1] & (entity[1:] == entity[:-1])]
    return np.cumsum(on & ~before) * on


def incident_metrics(
    truth: np.ndarray, flagged: np.ndarray, times: pd.Series, entities: pd.Series | None = None
) -> dict[str, float]:
    """How an anomaly detector does on incidents rather than rows.

    An incident window is a run of consecutive label-1 rows of one entity (in time order); an
    alarm is a run of consecutive flagged rows of one entity.

    - ``pa_precision``, ``pa_recall``, ``pa_f1``: point-adjusted, every row of a window counts as
      found when any of its rows is flagged (a spike found on its second day is found);
    - ``window_recall``: the share of windows found; ``window_precision``: the share of alarms
      that touch a window; ``windows``: how many windows;
    - ``false_alarms_per_1000``: flags on label-0 rows per 1,000 label-0 rows (entity-days for a
      daily model): what a budget of alarms per entity per 30 days bounds (1 a month is 33).
    """
    y = np.asarray(truth, dtype="int64")
    f = np.asarray(flagged, dtype="int64") == 1
    entity = np.zeros(len(y), dtype=object) if entities is None else np.asarray(entities, dtype=object)
    order = np.lexsort((utc_instants(times), entity.astype(str)))
    y, f, entity = y[order], f[order], entity[order]
    positive = y == 1
    window = _runs(positive, entity)
    windows = int(window.max()) if len(window) else 0
    found = np.zeros(windows + 1, dtype=bool)
    found[window[positive & f]] = True
    adjusted_tp = int(found[window[positive]].sum())
    false_alarms = int((f & ~positive).sum())
    alarm = _runs(f, entity)
    alarms = int(alarm.max()) if len(alarm) else 0
    true_alarms = len(np.unique(alarm[f & positive]))
    precision = adjusted_tp / (adjusted_tp + false_alarms) if adjusted_tp + false_alarms else 0.0
    recall = adjusted_tp / positive.sum() if positive.any() else float("nan")
    negatives = int((~positive).sum())
    return {
        "pa_precision": precision,
        "pa_recall": recall,
        "pa_f1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
        "window_recall": int(found[1:].sum()) / windows if windows else float("nan"),
        "window_precision": true_alarms / alarms if alarms else float("nan"),
        "windows": float(windows),
        "false_alarms_per_1000": 1000 * false_alarms / negatives if negatives else float("nan"),
    }


def score(
    problem_type: ProblemType,
    y_true: pd.Series,
    predicted: pd.DataFrame,
    times: pd.Series | None = None,
    entities: pd.Series | None = None,
) -> dict[str, float]:
    """Metrics of one set of predictions (the standard output columns) against the truth.

    An anomaly detector given the rows' ``times`` (and ``entities``, one key per row, for a model
    with entity columns) is also measured on incident windows (:func:`incident_metrics`)."""
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
            positive = lo > 0
            interval = {
                "coverage_p10_p90": float(np.mean((y >= lo) & (y <= hi))) if len(y) else float("nan"),
                # How wide the interval is: a wide enough one covers anything.
                "interval_ratio_p90_p10_median": float(np.median(hi[positive] / lo[positive]))
                if positive.any()
                else float("nan"),
            }
        return {
            **interval,
            "median_abs_pct_error": float(np.median(np.abs((y[nonzero] - pred[nonzero]) / y[nonzero])))
            if nonzero.any()
            else float("nan"),
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
    if problem_type is ProblemType.ANOMALY_DETECTION and times is not None:
        out |= incident_metrics(truth, label, times, entities)
    return out
