"""Estimators of the reliability models: a classifier with a guarded decision threshold and a
duration regressor that predicts relative to the job's own usual duration."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from health_monitor.sdk import best_f1_threshold


def _rows(X, index):
    return X.iloc[index] if isinstance(X, pd.DataFrame) else np.asarray(X)[index]


class GuardedThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier whose decision threshold maximises F1 on out-of-fold probabilities,
    among thresholds that flag at most ``max_positive_ratio`` times the training positive rate.

    With few positives an unguarded F1 search often lands on a tiny threshold that flags every
    row (F1 = 2p/(1+p) looks good when the folds rank poorly); the guard keeps the flagged share
    near the real one. Without any admissible threshold it flags the top ``positive rate`` share.
    """

    def __init__(self, estimator=None, cv: int = 3, max_positive_ratio: float = 3.0, random_state: int = 0):
        self.estimator = estimator
        self.cv = cv
        self.max_positive_ratio = max_positive_ratio
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        rate = float(y.mean()) if len(y) else 0.0
        folds = min(self.cv, int(np.bincount(y, minlength=2).min()))
        oof = np.full(len(y), np.nan)
        if folds >= 2:
            split = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for train, val in split.split(np.zeros(len(y)), y):
                model = clone(self.estimator).fit(_rows(X, train), y[train])
                oof[val] = model.predict_proba(_rows(X, val))[:, 1]
        self.threshold_ = self._choose(oof, y, rate)
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def _choose(self, oof: np.ndarray, y: np.ndarray, rate: float) -> float:
        known = ~np.isnan(oof)
        if not known.any() or rate in (0.0, 1.0):
            return 0.5
        oof, y = oof[known], y[known]
        limit = self.max_positive_ratio * rate
        best = best_f1_threshold(y, oof, np.linspace(0.0, 1.0, 201), default=None, max_flagged=limit + 1e-12)
        return best if best is not None else float(np.quantile(oof, 1.0 - rate))

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)


class RelativeRegressor(RegressorMixin, BaseEstimator):
    """Fits ``estimator`` to ``log(y / reference)``, the target relative to a reference feature
    (the job's usual duration), and predicts ``reference * exp(prediction)``: one model then
    serves jobs of one minute and of two hours. The first positive of ``references`` is used;
    rows with none fall back to the training median of ``y``.

    With ``mape_weights`` each row weighs ``reference / y``: an absolute error on the log ratio
    then approximates the relative error (``|prediction - y| / y``) that MAPE judges, which
    moves the prediction from the median toward the MAPE-optimal, slightly lower value.
    """

    def __init__(self, estimator=None, references: tuple[str, ...] = (), mape_weights: bool = True):
        self.estimator = estimator
        self.references = references
        self.mape_weights = mape_weights

    def _reference(self, X) -> np.ndarray:
        ref = np.full(len(X), np.nan)
        if isinstance(X, pd.DataFrame):
            for column in self.references:
                if column in X.columns:
                    value = pd.to_numeric(X[column], errors="coerce").to_numpy(dtype="float64")
                    take = np.isnan(ref) & (value > 0)
                    ref[take] = value[take]
        return np.where(np.isnan(ref), self.fallback_, ref)

    def fit(self, X, y):
        y = np.asarray(y, dtype="float64")
        positive = y[y > 0]
        self.fallback_ = float(np.median(positive)) if len(positive) else 1.0
        y = np.clip(y, self.fallback_ * 1e-6, None)
        target = np.log(y / self._reference(X))
        weights = {"sample_weight": np.exp(-target)} if self.mape_weights else {}
        self.estimator_ = clone(self.estimator).fit(X, target, **weights)
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self._reference(X) * np.exp(np.asarray(self.estimator_.predict(X), dtype="float64"))
