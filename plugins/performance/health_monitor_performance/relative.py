"""A regressor of the change against a reference column (e.g. yesterday's value), so level
shifts a tree model never saw in training (a workspace that doubles its fleet) carry through."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted


class RelativeToColumnRegressor(RegressorMixin, BaseEstimator):
    """Fits ``regressor`` on ``log(y / reference)`` with ``scaled`` columns also divided by the
    reference; predicts ``reference * exp(prediction)``. Needs a DataFrame with named columns."""

    def __init__(self, regressor=None, reference: str = "lag_1", scaled: tuple[str, ...] = ()):
        self.regressor = regressor
        self.reference = reference
        self.scaled = scaled

    def _reference(self, X: pd.DataFrame) -> np.ndarray:
        ref = X[self.reference].to_numpy(dtype="float64")
        return np.where(np.isfinite(ref) & (ref > 0), ref, self.fallback_)

    def _inputs(self, X: pd.DataFrame, ref: np.ndarray) -> pd.DataFrame:
        out = X.copy()
        for column in self.scaled:
            out[f"{column}__rel"] = out[column].to_numpy(dtype="float64") / ref
        return out

    def fit(self, X, y):
        y = np.asarray(y, dtype="float64")
        self.fallback_ = float(max(np.nanmedian(y), 1.0))
        ref = self._reference(X)
        target = np.log(np.clip(y, 1e-6, None) / ref)
        self.regressor_ = clone(self.regressor).fit(self._inputs(X, ref), target)
        return self

    def predict(self, X):
        check_is_fitted(self)
        ref = self._reference(X)
        return ref * np.exp(np.asarray(self.regressor_.predict(self._inputs(X, ref)), dtype="float64"))
