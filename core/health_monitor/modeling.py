"""A fitted model the way the core scores it: the standard prediction columns and explanations.

:class:`ScoringModel` wraps a fitted estimator (a plugin's model or its baseline) with what the
core learned at fit time: the input columns, the training medians (for missing values and for
explanations) and, for anomaly detectors, the training score distribution that turns raw
scores into an ``anomaly_score`` in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.specs import Contribution, ProblemType

OUTPUT_COLUMNS: dict[ProblemType, list[tuple[str, str]]] = {
    ProblemType.CLASSIFICATION: [("prediction", "double"), ("probability", "double")],
    ProblemType.REGRESSION: [("prediction", "double")],
    ProblemType.ANOMALY_DETECTION: [
        ("prediction", "double"),
        ("anomaly_score", "double"),
        ("is_anomaly", "int"),
    ],
}


def as_matrix(X: pd.DataFrame, columns: list[str], medians: dict[str, float] | None = None) -> pd.DataFrame:
    """Inputs in training order as float64, nulls filled with training medians (then 0)."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise KeyError(f"input has no column(s) {missing}")
    out = X[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
    if medians:
        out = out.fillna(value=medians)
    return out.fillna(0.0)


@dataclass
class ScoringModel:
    estimator: Any
    problem_type: ProblemType
    input_columns: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    reference_scores: np.ndarray | None = None  # anomaly: sorted raw anomaly scores on training rows

    @classmethod
    def fit(
        cls,
        estimator: Any,
        problem_type: ProblemType,
        X: pd.DataFrame,
        y: pd.Series | None = None,
    ) -> ScoringModel:
        columns = list(X.columns)
        medians = {c: float(v) for c, v in X.median(numeric_only=True).items() if pd.notna(v)}
        model = cls(estimator, ProblemType(problem_type), columns, medians)
        matrix = as_matrix(X, columns, medians)
        if model.problem_type is ProblemType.ANOMALY_DETECTION:
            estimator.fit(matrix)
            model.reference_scores = np.sort(model._raw_anomaly(matrix))
        else:
            if y is None:
                raise ValueError(f"{problem_type.value} needs labels")
            estimator.fit(matrix, np.asarray(y))
        return model

    def _raw_anomaly(self, matrix: pd.DataFrame) -> np.ndarray:
        # sklearn convention: score_samples is higher for normal rows. Negate: higher = stranger.
        return -np.asarray(self.estimator.score_samples(matrix), dtype="float64")

    def primary_output(self, X: pd.DataFrame) -> np.ndarray:
        """The one number explanations account for: probability, prediction or anomaly score."""
        out = self.predict(X)
        column = {
            ProblemType.CLASSIFICATION: "probability",
            ProblemType.REGRESSION: "prediction",
            ProblemType.ANOMALY_DETECTION: "anomaly_score",
        }[self.problem_type]
        return out[column].to_numpy(dtype="float64")

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        matrix = as_matrix(X, self.input_columns, self.medians)
        if self.problem_type is ProblemType.CLASSIFICATION:
            proba = np.asarray(self.estimator.predict_proba(matrix))[:, 1].astype("float64")
            # The estimator's own predict decides the class: it may have tuned its threshold.
            label = np.asarray(self.estimator.predict(matrix), dtype="float64")
            return pd.DataFrame({"prediction": label, "probability": proba})
        if self.problem_type is ProblemType.REGRESSION:
            return pd.DataFrame({"prediction": np.asarray(self.estimator.predict(matrix), dtype="float64")})
        raw = self._raw_anomaly(matrix)
        ref = (
            self.reference_scores if self.reference_scores is not None and len(self.reference_scores) else raw
        )
        score = np.searchsorted(np.sort(ref), raw, side="right") / len(ref)
        # sklearn's outlier convention: predict() is -1 for an outlier, 1 for an inlier.
        is_anomaly = (np.asarray(self.estimator.predict(matrix)) == -1).astype("int32")
        return pd.DataFrame(
            {"prediction": is_anomaly.astype("float64"), "anomaly_score": score, "is_anomaly": is_anomaly}
        )

    def explain(self, X: pd.DataFrame, top_k: int = 5) -> list[list[Contribution]]:
        """Occlusion: each feature's weight is how much the output moves when that feature is set
        to its training median, all else equal. Model-agnostic; one model call per feature."""
        matrix = as_matrix(X, self.input_columns, self.medians)
        base = self.primary_output(matrix)
        weights = np.zeros((len(matrix), len(self.input_columns)))
        for j, column in enumerate(self.input_columns):
            occluded = matrix.copy()
            occluded[column] = self.medians.get(column, 0.0)
            weights[:, j] = base - self.primary_output(occluded)
        result = []
        for i in range(len(matrix)):
            order = np.argsort(-np.abs(weights[i]), kind="stable")[:top_k]
            result.append(
                [
                    Contribution(self.input_columns[j], float(matrix.iat[i, j]), float(weights[i, j]))
                    for j in order
                ]
            )
        return result
