"""A fitted model the way the core scores it: the standard prediction columns and explanations.

:class:`ScoringModel` wraps a fitted estimator (a plugin's model or its baseline) with what the
core learned at fit time: the input columns, the training medians (for missing values and for
explanations) and, for anomaly detectors, the training score distribution that turns raw
scores into an ``anomaly_score`` in [0, 1] (a :class:`CalibratedDetector`'s is ``1 - p``, its
calibrated tail probability, instead). Regressions carry an 80% interval calibrated on the
latest training times; multiclass models carry their class labels; a model's ``enrich`` adds its
own columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import IsolationForest

from health_monitor.models.instants import time_order
from health_monitor.sdk.detectors import CalibratedDetector, anomaly_score
from health_monitor.sdk.specs import Contribution, ProblemType

OUTPUT_COLUMNS: dict[ProblemType, list[tuple[str, str]]] = {
    ProblemType.CLASSIFICATION: [("prediction", "double"), ("probability", "double")],
    ProblemType.MULTICLASS: [
        ("prediction", "double"),
        ("probability", "double"),
        ("predicted_class", "string"),
    ],
    ProblemType.REGRESSION: [
        ("prediction", "double"),
        ("prediction_p10", "double"),
        ("prediction_p90", "double"),
    ],
    ProblemType.ANOMALY_DETECTION: [
        ("prediction", "double"),
        ("anomaly_score", "double"),
        ("is_anomaly", "int"),
    ],
}


def as_matrix(X: pd.DataFrame, columns: list[str], medians: dict[str, float] | None = None) -> pd.DataFrame:
    """Inputs in training order as float64, nulls filled with training medians (then 0).

    Column by column in numpy: scoring one row (real-time) must not pay pandas' per-column
    ``apply``/``fillna`` overhead."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise KeyError(f"input has no column(s) {missing}")
    values = np.empty((len(X), len(columns)), dtype="float64")
    for j, column in enumerate(columns):
        series = X[column]
        if series.dtype.kind not in "fiub":
            series = pd.to_numeric(series, errors="coerce")
        array = series.to_numpy(dtype="float64", na_value=np.nan)
        holes = np.isnan(array)
        if holes.any():
            array = array.copy()
            fill = (medians or {}).get(column, 0.0)
            array[holes] = 0.0 if fill is None or np.isnan(fill) else fill
        values[:, j] = array
    return pd.DataFrame(values, columns=list(columns), index=X.index)


EXPLAIN_BATCH = 50_000  # rows per model call when explaining (explained rows x (1 + features))
CALIBRATION_SHARE = 0.2  # latest share of training times that calibrates regression intervals
INTERVAL = (0.1, 0.9)


@dataclass
class ScoringModel:
    estimator: Any
    problem_type: ProblemType
    input_columns: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    reference_scores: np.ndarray | None = None  # anomaly: sorted raw anomaly scores on training rows
    classes: list[str] | None = None  # multiclass: label of each class index
    interval: tuple[float, float] | None = None  # regression: residual quantiles (P10, P90)
    multiplicative: bool = False  # regression: residuals are log ratios (a positive target)
    enrich: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None
    extra_outputs: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def fit(
        cls,
        estimator: Any,
        problem_type: ProblemType,
        X: pd.DataFrame,
        y: pd.Series | None = None,
        *,
        inputs: list[str] | None = None,
        times: pd.Series | None = None,
        enrich: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None,
        outputs: list[tuple[str, str]] | tuple = (),
    ) -> ScoringModel:
        """Fit ``estimator`` on ``X[inputs]`` (default: every column of ``X``).

        ``times`` (one per row) lets a regression calibrate its interval on its latest training
        times; without it the latest rows in order are used.
        """
        problem_type = ProblemType(problem_type)
        columns = list(inputs) if inputs is not None else list(X.columns)
        medians = {str(c): float(v) for c, v in X[columns].median(numeric_only=True).items() if pd.notna(v)}
        model = cls(estimator, problem_type, columns, medians, enrich=enrich, extra_outputs=list(outputs))
        matrix = as_matrix(X, columns, medians)
        if problem_type is ProblemType.ANOMALY_DETECTION:
            if not isinstance(estimator, CalibratedDetector):
                estimator.fit(matrix)
                model.reference_scores = np.sort(model._raw_anomaly(matrix))
                return model
            # In time order: a calibrated detector holds out its latest rows to calibrate on, and
            # leaves known incidents (label 1) out of what it learns as normal.
            order = time_order(times, len(matrix))
            known = None if y is None else np.asarray(pd.Series(y), dtype="float64")[order]
            estimator.fit(matrix.iloc[order], known)
            model.reference_scores = np.sort(model._raw_anomaly(matrix))
            return model
        if y is None:
            raise ValueError(f"{problem_type.value} needs labels")
        if problem_type is ProblemType.MULTICLASS:
            labels = pd.Series(y).astype(str).to_numpy()
            model.classes = sorted(set(labels))
            if len(model.classes) < 2:
                raise ValueError(f"multiclass needs at least two classes, got {model.classes}")
            target = np.searchsorted(model.classes, labels)
        else:
            target = np.asarray(y, dtype="float64")
        if problem_type is ProblemType.REGRESSION:
            model._calibrate(estimator, matrix, target, times)
        estimator.fit(matrix, target)
        return model

    def _calibrate(self, estimator: Any, matrix: pd.DataFrame, y: np.ndarray, times) -> None:
        """Split conformal: fit a clone on the earlier training times, take the residual
        quantiles on the latest ones. Positive targets use log ratios (a relative interval)."""
        n = len(matrix)
        order = time_order(times, n)
        k = int(n * (1 - CALIBRATION_SHARE))
        if n < 20 or k < 10 or n - k < 5:
            return
        fit_idx, cal_idx = order[:k], order[k:]
        twin = clone(estimator).fit(matrix.iloc[fit_idx], y[fit_idx])
        pred = np.asarray(twin.predict(matrix.iloc[cal_idx]), dtype="float64")
        truth = y[cal_idx]
        self.multiplicative = bool((y > 0).all())
        residual = np.log(truth) - np.log(np.clip(pred, 1e-9, None)) if self.multiplicative else truth - pred
        lo, hi = np.quantile(residual, INTERVAL)
        self.interval = (float(lo), float(hi))

    @property
    def output_columns(self) -> list[tuple[str, str]]:
        """(name, Spark type) of every column ``predict`` returns, standard ones first."""
        return [*OUTPUT_COLUMNS[self.problem_type], *self.extra_outputs]

    def _raw_anomaly(self, matrix: pd.DataFrame) -> np.ndarray:
        # sklearn convention: score_samples is higher for normal rows. Negate: higher = stranger.
        return -np.asarray(self.estimator.score_samples(matrix), dtype="float64")

    def primary_output(self, X: pd.DataFrame) -> np.ndarray:
        """The one number explanations account for: probability, prediction or anomaly score."""
        out = self._standard(X)
        column = {
            ProblemType.CLASSIFICATION: "probability",
            ProblemType.MULTICLASS: "probability",
            ProblemType.REGRESSION: "prediction",
            ProblemType.ANOMALY_DETECTION: "anomaly_score",
        }[self.problem_type]
        return out[column].to_numpy(dtype="float64")

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """The standard output columns, then the model's own (``enrich``), row for row with ``X``."""
        out = self._standard(X)
        if self.enrich is None:
            return out
        extra = self.enrich(X.reset_index(drop=True), out)
        names = [n for n, _ in self.extra_outputs]
        if not isinstance(extra, pd.DataFrame) or list(extra.columns) != names or len(extra) != len(out):
            found = list(extra.columns) if isinstance(extra, pd.DataFrame) else type(extra).__name__
            raise ValueError(
                f"enrich {getattr(self.enrich, '__qualname__', self.enrich)} must return {len(out)} rows "
                f"with columns {names}; got {found}"
            )
        return pd.concat([out, extra.reset_index(drop=True)], axis=1)

    def _standard(self, X: pd.DataFrame) -> pd.DataFrame:
        matrix = as_matrix(X, self.input_columns, self.medians)
        if self.problem_type is ProblemType.CLASSIFICATION:
            proba = np.asarray(self.estimator.predict_proba(matrix))[:, 1].astype("float64")
            # The estimator's own predict decides the class: it may have tuned its threshold.
            label = np.asarray(self.estimator.predict(matrix), dtype="float64")
            return pd.DataFrame({"prediction": label, "probability": proba})
        if self.problem_type is ProblemType.MULTICLASS:
            proba = np.asarray(self.estimator.predict_proba(matrix), dtype="float64")
            index = proba.argmax(axis=1)
            return pd.DataFrame(
                {
                    "prediction": index.astype("float64"),
                    "probability": proba[np.arange(len(index)), index],
                    "predicted_class": np.asarray(self.classes, dtype=object)[index],
                }
            )
        if self.problem_type is ProblemType.REGRESSION:
            pred = np.asarray(self.estimator.predict(matrix), dtype="float64")
            lo, hi = self.interval or (0.0, 0.0)
            if self.multiplicative:
                base = np.clip(pred, 1e-9, None)
                p10, p90 = base * np.exp(lo), base * np.exp(hi)
            else:
                p10, p90 = pred + lo, pred + hi
            return pd.DataFrame({"prediction": pred, "prediction_p10": p10, "prediction_p90": p90})
        if isinstance(self.estimator, CalibratedDetector):
            # score_samples is log p, the calibrated tail probability: 1 - p does not saturate
            # at the training maximum, and its alarm cut is 1 - the budget's rate for any model.
            log_p = np.asarray(self.estimator.score_samples(matrix), dtype="float64")
            flagged = (log_p < self.estimator.offset_).astype("int32")
            return pd.DataFrame(
                {
                    "prediction": flagged.astype("float64"),
                    "anomaly_score": anomaly_score(log_p),
                    "is_anomaly": flagged,
                }
            )
        raw = self._raw_anomaly(matrix)
        if (
            isinstance(self.estimator, IsolationForest)
            and type(self.estimator).predict is IsolationForest.predict
        ):
            # IsolationForest.predict is "score_samples - offset_ < 0": reuse the scores, not a
            # second pass over every tree (the dominant cost of scoring one row).
            is_anomaly = (-raw - self.estimator.offset_ < 0).astype("int32")
        else:
            # sklearn's outlier convention: predict() is -1 for an outlier, 1 for an inlier.
            is_anomaly = (np.asarray(self.estimator.predict(matrix)) == -1).astype("int32")
        ref = self.reference_scores  # sorted at fit
        if ref is None or not len(ref):
            ref = np.sort(raw)
        score = np.searchsorted(ref, raw, side="right") / len(ref)
        return pd.DataFrame(
            {"prediction": is_anomaly.astype("float64"), "anomaly_score": score, "is_anomaly": is_anomaly}
        )

    def explain(self, X: pd.DataFrame, top_k: int = 5) -> list[list[Contribution]]:
        """Occlusion: each feature's weight is how much the output moves when that feature is set
        to its training median, all else equal. Model-agnostic; the occluded copies of a chunk of
        rows are scored in one model call."""
        matrix = as_matrix(X, self.input_columns, self.medians)
        n, width = matrix.shape
        fill = np.array([self.medians.get(c, 0.0) for c in self.input_columns], dtype="float64")
        weights = np.zeros((n, width))
        # One model call per chunk of rows: each row, then each row with one feature occluded.
        # A call per feature costs a model's fixed overhead (an IsolationForest's per-tree
        # loop) width + 1 times.
        step = max(1, EXPLAIN_BATCH // (width + 1))
        values = matrix.to_numpy()
        for start in range(0, n, step):
            block = values[start : start + step]
            stack = np.repeat(block[:, None, :], width + 1, axis=1)  # (rows, 1 + width, width)
            diagonal = np.arange(width)
            stack[:, diagonal + 1, diagonal] = fill
            flat = pd.DataFrame(stack.reshape(-1, width), columns=list(self.input_columns))
            out = self.primary_output(flat).reshape(len(block), width + 1)
            weights[start : start + len(block)] = out[:, :1] - out[:, 1:]
        result = []
        for i in range(len(matrix)):
            order = np.argsort(-np.abs(weights[i]), kind="stable")[:top_k]
            result.append(
                [
                    Contribution(self.input_columns[j], float(values[i, j]), float(weights[i, j]))
                    for j in order
                ]
            )
        return result
