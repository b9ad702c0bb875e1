"""Estimators that several plugins' models share, under the scikit-learn contract.

:class:`RelativeRegressor` predicts an amount relative to a reference column (its usual level),
so one model serves entities whose levels differ by orders of magnitude;
:class:`F1ThresholdClassifier` tunes a binary classifier's decision threshold for F1 on
out-of-fold predictions, for rare positives where the default 0.5 cut flags too few rows.

Both wrap an inner estimator given as a parameter (``clone``-d before each fit), so the core can
log ``get_params()`` and run them through the conformance suite like any other model. XGBoost is
imported only when a default inner model is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from health_monitor.sdk.thresholds import best_f1_threshold

# Targets (after the offset) are floored at this share of the fallback reference before the log:
# a zero day then gets a large, finite negative log ratio, whatever the unit of the target.
FLOOR_SHARE = 1e-6


def default_relative_regressor() -> Any:
    """The inner model of a :class:`RelativeRegressor` built without one: a small XGBoost fitted
    to the absolute error of the log ratio (its conditional median)."""
    from xgboost import XGBRegressor

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


class RelativeRegressor(RegressorMixin, BaseEstimator):
    """Predict a positive amount as ``reference * exp(f(X))``: ``regressor`` fits the log ratio of
    the target to a reference column (a run rate, yesterday's value, a job's usual duration).
    Levels differ by orders of magnitude between workspaces, clusters and jobs; the ratio to an
    entity's own recent level does not, so one model serves all of them, and a level shift never
    seen in training (a workspace that doubles its fleet) carries through.

    Parameters:

    - ``regressor``: the inner regressor (cloned); ``None`` for :func:`default_relative_regressor`.
    - ``reference``: the reference column, or several tried in order: a row takes the first
      finite positive one. Rows with none take the fallback ``fallback_``, the training median
      of the positive targets. ``X`` must be a DataFrame holding at least one of them.
    - ``offset``: a column already spent (e.g. month-to-date): the ratio modelled is that of the
      rest, ``target - offset``, and the prediction is ``offset + reference * exp(f(X))``, so a
      month's forecast converges as the month ends.
    - ``scaled``: columns also given to ``regressor`` divided by the reference (as
      ``<column>__rel``), so levels enter as ratios too.
    - ``relative_weights``: weigh each training row by ``reference / target``: the absolute
      percentage error of a row is that weight times the error of the ratio, so an absolute-error
      ``regressor`` then minimises the mean relative error (MAPE) rather than the median, which
      shades forecasts down for series with occasional small values.
    - ``weight_range``: ``(low, high)`` clips those weights and rescales them to a mean of 1, so a
      few tiny targets cannot dominate the fit; ``None`` keeps them as they are.
    """

    def __init__(
        self,
        regressor: Any = None,
        reference: str | tuple[str, ...] = "reference",
        offset: str | None = None,
        scaled: tuple[str, ...] = (),
        relative_weights: bool = False,
        weight_range: tuple[float, float] | None = None,
    ) -> None:
        self.regressor = regressor
        self.reference = reference
        self.offset = offset
        self.scaled = scaled
        self.relative_weights = relative_weights
        self.weight_range = weight_range

    def _columns(self) -> tuple[str, ...]:
        return (self.reference,) if isinstance(self.reference, str) else tuple(self.reference)

    def _reference(self, X: pd.DataFrame) -> np.ndarray:
        columns = self._columns()
        if not isinstance(X, pd.DataFrame) or not any(c in X.columns for c in columns):
            raise KeyError(f"estimator needs feature column {' or '.join(map(repr, columns))}")
        ref = np.full(len(X), np.nan)
        for column in columns:
            if column in X.columns:
                value = pd.to_numeric(X[column], errors="coerce").to_numpy(dtype="float64")
                take = np.isnan(ref) & np.isfinite(value) & (value > 0)
                ref[take] = value[take]
        return np.where(np.isnan(ref), self.fallback_, ref)

    def _offset(self, X: pd.DataFrame) -> np.ndarray:
        if self.offset is None:
            return np.zeros(len(X))
        if not isinstance(X, pd.DataFrame) or self.offset not in X.columns:
            raise KeyError(f"estimator needs feature column {self.offset!r}")
        return np.asarray(np.clip(np.nan_to_num(X[self.offset].to_numpy(dtype="float64")), 0, None))

    def _inputs(self, X: pd.DataFrame, ref: np.ndarray) -> pd.DataFrame:
        if not self.scaled:
            return X
        out = X.copy()
        for column in self.scaled:
            out[f"{column}__rel"] = out[column].to_numpy(dtype="float64") / ref
        return out

    def fit(self, X: pd.DataFrame, y: Any) -> RelativeRegressor:
        rest = np.asarray(y, dtype="float64") - self._offset(X)
        positive = rest[rest > 0]
        self.fallback_ = float(np.median(positive)) if len(positive) else 1.0
        ref = self._reference(X)
        rest = np.clip(rest, self.fallback_ * FLOOR_SHARE, None)
        target = np.log(rest / ref)
        fit_params = {}
        if self.relative_weights:
            weights = ref / rest
            if self.weight_range is not None:
                weights = np.clip(weights, *self.weight_range)
                weights = weights / weights.mean()
            fit_params["sample_weight"] = weights
        inner = default_relative_regressor() if self.regressor is None else clone(self.regressor)
        self.regressor_ = inner.fit(self._inputs(X, ref), target, **fit_params)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        ref = self._reference(X)
        ratio = np.exp(np.asarray(self.regressor_.predict(self._inputs(X, ref)), dtype="float64"))
        return np.asarray(self._offset(X) + ref * ratio)


class F1ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier whose decision threshold maximises F1 on out-of-fold probabilities.

    ``estimator`` (cloned) is cross-validated on the training rows in ``cv`` stratified folds
    (fewer when a class has fewer rows; with under two, the threshold is 0.5), then refitted on
    all of them. The candidate thresholds are the ``np.linspace(*quantiles)`` quantiles of the
    out-of-fold probabilities; ``(0.5, 0.995, 80)`` never flags more than half the rows.

    ``max_positive_ratio`` guards against rare, noisy positives: with few of them an unguarded F1
    search often lands on a tiny threshold that flags every row (F1 = 2p/(1+p) looks good when
    the folds rank poorly). Thresholds that flag more than that many times the training positive
    rate are skipped; without an admissible one the top ``positive rate`` share is flagged (only
    the rows above it when ties at the cut would flag more, e.g. none for a constant model).

    When positives are rarer than one step of that grid (under 0.5% of rows with the default),
    the grid cannot tell apart the shares of rows near the positive rate, so the quantiles at
    ``1 - rate * k`` (k from 0.1 to ``max_positive_ratio``, or to 10) are candidates too.
    """

    def __init__(
        self,
        estimator: Any = None,
        cv: int = 3,
        quantiles: tuple[float, float, int] = (0.0, 1.0, 201),
        max_positive_ratio: float | None = None,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.cv = cv
        self.quantiles = quantiles
        self.max_positive_ratio = max_positive_ratio
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> F1ThresholdClassifier:
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        folds = min(self.cv, int(np.bincount(y, minlength=2).min()))
        self.threshold_ = 0.5
        if folds >= 2:
            split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
            oof = cross_val_predict(clone(self.estimator), X, y, cv=split, method="predict_proba")[:, 1]
            self.threshold_ = self._choose(np.asarray(oof, dtype="float64"), y)
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def _choose(self, oof: np.ndarray, y: np.ndarray) -> float:
        rate = float(y.mean())
        limit = None if self.max_positive_ratio is None else self.max_positive_ratio * rate + 1e-12
        low, high, count = self.quantiles
        grid = np.linspace(low, high, int(count))
        if 0.0 < rate < (high - low) / max(int(count) - 1, 1):
            near_rate = 1.0 - rate * np.geomspace(0.1, self.max_positive_ratio or 10.0, 40)
            grid = np.union1d(grid, np.clip(near_rate, low, high))
        best = best_f1_threshold(y, oof, grid, default=None, max_flagged=limit)
        if best is not None:
            return best
        cut = float(np.quantile(oof, 1.0 - rate))
        if limit is not None and np.mean(oof >= cut) > limit:  # rows tied at the cut: flag those above
            return float(np.nextafter(cut, np.inf))
        return cut

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.predict_proba(X)[:, 1] >= self.threshold_).astype(int)
