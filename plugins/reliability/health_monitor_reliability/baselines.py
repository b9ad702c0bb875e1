"""The reliability domain's naive baselines, as scikit-learn estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from health_monitor.sdk import LastValueRegressor, best_f1_threshold


class OwnHistoryClassifier(ClassifierMixin, BaseEstimator):
    """Predict the positive class when one history feature of the entity (its own breach days,
    retry success rate, failure rate) reaches a threshold tuned for F1 on the training rows.

    Unlike the core's HistoryRateClassifier it tries every threshold (flagging every row
    included, which is the right call when the positive class is the common one) and fills a
    missing history with the training rows' mean. ``scale`` turns a count into a probability
    (value / scale, clipped to [0, 1]); ``negate`` flips a feature where low values mean positive.
    """

    def __init__(self, column: str = "rolling_failure_rate_30d", scale: float = 1.0, negate: bool = False):
        self.column = column
        self.scale = scale
        self.negate = negate

    def _value(self, X) -> np.ndarray:
        if not isinstance(X, pd.DataFrame) or self.column not in X.columns:
            raise KeyError(f"baseline needs feature column {self.column!r}")
        value = pd.to_numeric(X[self.column], errors="coerce").to_numpy(dtype="float64")
        value = np.where(np.isnan(value), self.fill_, value) / self.scale
        return 1.0 - value if self.negate else value

    def fit(self, X, y):
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        raw = pd.to_numeric(X[self.column], errors="coerce") if self.column in X else None
        self.fill_ = float(np.nanmean(raw)) if raw is not None and raw.notna().any() else 0.0
        self.threshold_ = best_f1_threshold(y, self._value(X), np.linspace(0.0, 1.0, 201), default=np.inf)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        p = np.clip(self._value(X), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X):
        check_is_fitted(self)
        return (self._value(X) >= self.threshold_).astype(int)


class StrongerRuleClassifier(ClassifierMixin, BaseEstimator):
    """The stronger of several one-column rules (each an :class:`OwnHistoryClassifier`): the one
    whose tuned threshold reaches the highest F1 on the training rows (the first on a tie).

    A model is judged against the best naive rule a practitioner would pick, not the weakest;
    choosing on the training rows keeps the test rows unseen. ``chosen_`` names the rule.
    """

    def __init__(self, columns: tuple[str, ...] = ("rolling_failure_rate_30d",)):
        self.columns = columns

    def fit(self, X, y):
        y = np.asarray(y).astype(int)
        best, best_f1 = None, -1.0
        for column in self.columns:
            rule = OwnHistoryClassifier(column=column).fit(X, y)
            predicted = rule.predict(X)
            hits = int(((predicted == 1) & (y == 1)).sum())
            f1 = 2.0 * hits / max(int(predicted.sum()) + int(y.sum()), 1)
            if f1 > best_f1:
                best, best_f1 = rule, f1
        self.rule_, self.chosen_, self.classes_ = best, best.column, np.array([0, 1])
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.rule_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self)
        return self.rule_.predict(X)


class StrongerRuleRegressor(RegressorMixin, BaseEstimator):
    """The stronger of several "repeat this history column" rules (each a
    :class:`~health_monitor.sdk.LastValueRegressor`): the one with the lowest mean absolute
    percentage error on the training rows (the first on a tie). As for
    :class:`StrongerRuleClassifier`, a model is judged against the best naive rule, chosen
    without the test rows. ``chosen_`` names the rule."""

    def __init__(self, columns: tuple[str, ...] = ("lag_1",)):
        self.columns = columns

    def fit(self, X, y):
        y = np.asarray(y, dtype="float64")
        scored = y > 0  # a percentage error needs a positive target
        best, best_error = None, np.inf
        for column in self.columns:
            rule = LastValueRegressor(column=column).fit(X, y)
            error = (
                float(np.mean(np.abs(rule.predict(X)[scored] - y[scored]) / y[scored]))
                if scored.any()
                else 0.0
            )
            if error < best_error:
                best, best_error = rule, error
        self.rule_, self.chosen_ = best, best.column
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.rule_.predict(X)
