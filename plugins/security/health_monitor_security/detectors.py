"""The security baselines, as scikit-learn outlier estimators.

``score_samples`` is higher for normal rows and ``predict`` is -1 for an outlier, as in sklearn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted


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
