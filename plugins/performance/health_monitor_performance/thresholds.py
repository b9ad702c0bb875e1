"""A classifier whose decision threshold maximises F1 on out-of-fold training predictions, for
rare positives where the default 0.5 cut flags too few rows."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from health_monitor.sdk import best_f1_threshold


class F1ThresholdClassifier(ClassifierMixin, BaseEstimator):
    def __init__(self, estimator=None, folds: int = 3):
        self.estimator = estimator
        self.folds = folds

    def fit(self, X, y):
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        folds = min(self.folds, int(np.bincount(y, minlength=2).min()))
        if folds >= 2:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
            proba = cross_val_predict(clone(self.estimator), X, y, cv=cv, method="predict_proba")[:, 1]
            self.threshold_ = best_f1_threshold(y, proba, np.linspace(0.5, 0.995, 80))
        else:
            self.threshold_ = 0.5
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)
