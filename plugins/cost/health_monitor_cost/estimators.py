"""Estimators of the cost models and their domain baselines (scikit-learn contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier, XGBRegressor


def _reference(X, column: str, fallback: float) -> np.ndarray:
    if not isinstance(X, pd.DataFrame) or column not in X.columns:
        raise KeyError(f"estimator needs feature column {column!r}")
    ref = X[column].to_numpy(dtype="float64")
    return np.where(np.isfinite(ref) & (ref > 0), ref, fallback)


class RelativeRegressor(RegressorMixin, BaseEstimator):
    """Predict a positive amount as ``reference * exp(f(X))``: ``regressor`` fits the log ratio
    of the target to a reference column (a run rate, the last value). Spend differs by orders of
    magnitude between workspaces and jobs; its ratio to its own recent level does not, so one
    model serves all of them and scores well on a relative error.

    ``relative_weights`` weighs each training row by ``reference / target`` (capped): the
    absolute percentage error of a row is that weight times the error of the ratio, so the fit
    minimises the mean relative error rather than the median (it shades forecasts down for
    series with occasional small days).

    With ``offset`` (a column already spent, e.g. month-to-date), the ratio modelled is that of
    the rest, ``target - offset``, to the reference: the forecast of a month is what has been
    spent plus a forecast of the days left, so it converges as the month ends."""

    def __init__(
        self,
        reference: str = "reference",
        regressor=None,
        relative_weights: bool = False,
        offset: str | None = None,
    ):
        self.reference = reference
        self.regressor = regressor
        self.relative_weights = relative_weights
        self.offset = offset

    def _offset(self, X) -> np.ndarray:
        if self.offset is None:
            return np.zeros(len(X))
        if not isinstance(X, pd.DataFrame) or self.offset not in X.columns:
            raise KeyError(f"estimator needs feature column {self.offset!r}")
        return np.clip(np.nan_to_num(X[self.offset].to_numpy(dtype="float64")), 0, None)

    def _inner(self):
        if self.regressor is not None:
            return clone(self.regressor)
        return XGBRegressor(
            objective="reg:absoluteerror",
            n_estimators=200,
            max_depth=3,
            learning_rate=0.05,
            subsample=0.8,
            min_child_weight=5,
            n_jobs=2,
            random_state=0,
        )

    def fit(self, X, y):
        y = np.asarray(y, dtype="float64") - self._offset(X)
        positive = y[y > 0]
        self.fallback_ = float(np.median(positive)) if len(positive) else 1.0
        ref = _reference(X, self.reference, self.fallback_)
        target = np.log(np.clip(y, 1e-6, None) / ref)
        weights = None
        if self.relative_weights:
            weights = np.clip(ref / np.clip(y, 1e-6, None), 0.05, 20.0)
            weights = weights / weights.mean()
        self.regressor_ = self._inner().fit(X, target, sample_weight=weights)
        return self

    def predict(self, X):
        check_is_fitted(self)
        ref = _reference(X, self.reference, self.fallback_)
        return self._offset(X) + ref * np.exp(np.asarray(self.regressor_.predict(X), dtype="float64"))


class GroupModeClassifier(ClassifierMixin, BaseEstimator):
    """The most frequent class of the row's group (a workspace code) in the training rows;
    the overall most frequent class for a group not seen. Probabilities are the group's
    class shares."""

    def __init__(self, column: str = "group_code"):
        self.column = column

    def fit(self, X, y):
        if not isinstance(X, pd.DataFrame) or self.column not in X.columns:
            raise KeyError(f"baseline needs feature column {self.column!r}")
        y = np.asarray(y).astype(int)
        self.classes_ = np.arange(int(y.max()) + 1) if len(y) else np.array([0])
        groups = X[self.column].to_numpy(dtype="float64")
        k = len(self.classes_)
        self.overall_ = np.bincount(y, minlength=k) / max(len(y), 1)
        self.shares_ = {}
        for g in np.unique(groups[~np.isnan(groups)]):
            counts = np.bincount(y[groups == g], minlength=k)
            self.shares_[float(g)] = counts / counts.sum()
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        groups = X[self.column].to_numpy(dtype="float64")
        return np.vstack([self.shares_.get(float(g), self.overall_) for g in groups])

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


def tag_classifier():
    """A small multiclass XGBoost for tag values (codes of candidate values are inputs)."""
    return XGBClassifier(
        n_estimators=120,
        max_depth=4,
        learning_rate=0.1,
        subsample=0.9,
        n_jobs=2,
        random_state=0,
        tree_method="hist",
    )
