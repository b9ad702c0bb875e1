"""Estimators of the cost models and their domain baselines (scikit-learn contract); the
relative regressor is the SDK's."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier

from health_monitor import sdk


class RelativeRegressor(sdk.RelativeRegressor):
    """Models logged before the SDK shipped :class:`~health_monitor.sdk.RelativeRegressor` pickled
    this path; it stays so they load. Their state lacks the newer parameters, which get the values
    that reproduce this plugin's old fit (weights clipped to 0.05-20 and rescaled); new models use
    the SDK class."""

    def __setstate__(self, state: dict) -> None:
        state.setdefault("scaled", ())
        state.setdefault("weight_range", (0.05, 20.0) if state.get("relative_weights") else None)
        super().__setstate__(state)


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
