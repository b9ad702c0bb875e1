"""The performance regression detector's estimator: an isolation forest that only sees shifts
towards slower, heavier, more spilled days, so a warehouse that got faster is not an anomaly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted


def upward(X) -> np.ndarray:
    """Ratios (columns ending in ``_ratio``/``_slowdown``/``_growth``) become ``max(0, log ratio)``;
    ``size_change`` columns become how many sizes the warehouse went down; the rest stay."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype="float64"))
    out = []
    for name in frame.columns:
        values = frame[name].to_numpy(dtype="float64")
        label = str(name)
        if label.endswith(("_ratio_14d", "_slowdown", "_growth")):
            values = np.maximum(0.0, np.log(np.clip(values, 1e-6, None)))
        elif label.startswith("size_change"):
            values = np.maximum(0.0, -values)
        out.append(values)
    return np.nan_to_num(np.column_stack(out))


class UpwardShiftDetector(OutlierMixin, BaseEstimator):
    def __init__(self, contamination: float = 0.02, n_estimators: int = 200, random_state: int = 0):
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X, y=None):
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            contamination=self.contamination,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(upward(X))
        return self

    def score_samples(self, X):
        check_is_fitted(self)
        return self.forest_.score_samples(upward(X))

    def predict(self, X):
        check_is_fitted(self)
        return self.forest_.predict(upward(X))
