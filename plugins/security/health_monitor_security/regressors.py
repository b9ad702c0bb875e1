"""A regressor for relative-error targets (MAPE), as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted


class RelativeErrorRegressor(RegressorMixin, BaseEstimator):
    """Fit ``regressor`` (an absolute-error learner, e.g. XGBoost ``reg:absoluteerror``) with
    sample weights ``1 / y``: the weighted absolute error is then the absolute percentage error,
    so it predicts the value that minimises MAPE (a weighted median, below the plain median
    for counts skewed to the right). Targets must be positive; they are floored at ``floor``."""

    def __init__(self, regressor=None, floor: float = 1.0):
        self.regressor = regressor
        self.floor = floor

    def fit(self, X, y):
        if self.regressor is None:
            raise ValueError("RelativeErrorRegressor needs a regressor")
        target = np.maximum(np.asarray(y, dtype="float64"), self.floor)
        self.regressor_ = clone(self.regressor).fit(X, target, sample_weight=1.0 / target)
        return self

    def predict(self, X):
        check_is_fitted(self)
        return np.maximum(np.asarray(self.regressor_.predict(X), dtype="float64"), self.floor)
