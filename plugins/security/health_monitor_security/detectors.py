"""Security detectors and baselines, as scikit-learn outlier estimators.

``score_samples`` is higher for normal rows and ``predict`` is -1 for an outlier, as in sklearn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted


def _matrix(X) -> np.ndarray:
    return np.nan_to_num(np.asarray(X, dtype="float64"), nan=0.0)


class ConsensusTailDetector(OutlierMixin, BaseEstimator):
    """Flag a row that sits in the far upper tail of several features at once.

    A compromised account is not extreme on one measure but on many together (volume, breadth,
    exports, denials, new IPs), while an honest busy day is extreme on one or two correlated
    ones. Per feature the detector learns the ``quantile`` of the training rows; a feature above
    it is one vote, and a row with at least ``min_votes`` votes is an outlier. Both parameters
    are fixed in advance (no labels are used): ``quantile=0.999`` is one honest user-day in a
    thousand per feature. The score adds the mean upper-tail rank of the row's values, so rows
    with equal votes are still ordered.
    """

    def __init__(self, quantile: float = 0.999, min_votes: int = 3):
        self.quantile = quantile
        self.min_votes = min_votes

    def fit(self, X, y=None):
        values = _matrix(X)
        if values.ndim != 2 or values.shape[0] == 0:
            raise ValueError("ConsensusTailDetector needs a non-empty 2-d X")
        self.thresholds_ = np.quantile(values, self.quantile, axis=0)
        self.sorted_ = np.sort(values, axis=0)
        self.n_features_in_ = values.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def votes(self, X) -> np.ndarray:
        check_is_fitted(self)
        return (_matrix(X) > self.thresholds_).sum(axis=1)

    def score_samples(self, X):
        check_is_fitted(self)
        values = _matrix(X)
        n = self.sorted_.shape[0]
        rank = np.column_stack(
            [
                np.searchsorted(self.sorted_[:, j], values[:, j], side="right") / n
                for j in range(values.shape[1])
            ]
        )
        return -((values > self.thresholds_).sum(axis=1) + rank.mean(axis=1))

    def predict(self, X):
        return np.where(self.votes(X) >= self.min_votes, -1, 1)


class NonAdminGrantRule(OutlierMixin, BaseEstimator):
    """The practitioner's rule: any grant into an admin group by a user who is not a known admin."""

    def __init__(self, grant_column: str = "admin_group_grants", admin_column: str = "is_known_admin"):
        self.grant_column = grant_column
        self.admin_column = admin_column

    def _flag(self, X) -> np.ndarray:
        for column in (self.grant_column, self.admin_column):
            if not isinstance(X, pd.DataFrame) or column not in X.columns:
                raise KeyError(f"NonAdminGrantRule needs feature column {column!r}")
        grants = np.nan_to_num(X[self.grant_column].to_numpy(dtype="float64"))
        admin = np.nan_to_num(X[self.admin_column].to_numpy(dtype="float64"))
        return (grants > 0) & (admin < 0.5)

    def fit(self, X, y=None):
        self._flag(X)
        self.fitted_ = True
        return self

    def score_samples(self, X):
        check_is_fitted(self)
        return -self._flag(X).astype("float64")

    def predict(self, X):
        return np.where(self._flag(X), -1, 1)
