"""Naive baselines a practitioner would otherwise use, as scikit-learn estimators.

Each model names one; the training pipeline fits and evaluates it on the same split as the
model. They read one feature column by name, so the feature must be in the model's lookups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from health_monitor.sdk.thresholds import best_f1_threshold


def _column(X: Any, column: str) -> np.ndarray:
    if not isinstance(X, pd.DataFrame) or column not in X.columns:
        raise KeyError(f"baseline needs feature column {column!r}")
    return X[column].to_numpy(dtype="float64")


class ZScoreRule(OutlierMixin, BaseEstimator):
    """Flag a row when ``|column| > threshold`` (the classic 3-sigma rule on a z-score feature)."""

    def __init__(self, column: str = "z_score", threshold: float = 3.0) -> None:
        self.column = column
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: Any = None) -> ZScoreRule:
        _column(X, self.column)
        self.fitted_ = True
        return self

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(-np.abs(np.nan_to_num(_column(X, self.column))))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.where(-self.score_samples(X) > self.threshold, -1, 1)


class HistoryRateClassifier(ClassifierMixin, BaseEstimator):
    """Predict the positive class when a historical rate feature (e.g. the job's own failure
    rate over 30 days) reaches a threshold; the threshold maximising F1 on training rows."""

    def __init__(self, column: str = "rolling_failure_rate_30d") -> None:
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any) -> HistoryRateClassifier:
        rate = np.nan_to_num(_column(X, self.column))
        self.classes_ = np.array([0, 1])
        self.threshold_ = best_f1_threshold(y, rate, np.linspace(0.5, 0.995, 60))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        p = np.clip(np.nan_to_num(_column(X, self.column)), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(np.nan_to_num(_column(X, self.column)) >= self.threshold_).astype(int)


class LastValueRegressor(RegressorMixin, BaseEstimator):
    """Predict a lag feature as is: last value (``lag_1``) or seasonal naive (``lag_7``)."""

    def __init__(self, column: str = "lag_1") -> None:
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any) -> LastValueRegressor:
        self.fallback_ = float(np.nanmedian(np.asarray(y, dtype="float64")))
        _column(X, self.column)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        value = _column(X, self.column)
        return np.where(np.isnan(value), self.fallback_, value)
