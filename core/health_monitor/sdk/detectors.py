"""Calibrated anomaly detectors: an alarm means "unusual for this entity" at a chosen false-alarm rate.

A raw outlier scorer (an ``IsolationForest``, :class:`RobustZMax`, any estimator with sklearn's
``score_samples``, higher = more normal) ranks rows, but its own cut (``contamination``) flags a
fixed share of rows whatever the data. :class:`CalibratedDetector` wraps the scorer and turns
its score into a **tail probability** ``p``: how often a normal row scores at least this
strange. It flags a row when ``p`` is below the **alarm budget** expressed per row:

    rate = alarm_budget / 30      (alarms per entity per 30 days; one row = one entity-day)

How the threshold is calibrated (``fit``):

1. The rows arrive in time order (the core sorts an anomaly detector's training rows by their
   time column). The scorer is fitted on the earlier ``1 - calibration_share`` of them and
   scores the latest ``calibration_share``: held-out, recent, mostly normal rows.
2. Rows labelled 1 (known incidents: the core passes the training labels when it has them)
   are left out of both: the scorer learns normal days, and the threshold is calibrated on them.
3. At a calibration score ``v``, ``p`` is its plotting position ``c / (n + 1)``, ``c`` the
   calibration rows at least as strange as ``v`` (``n`` of them): the expected tail probability of
   that order statistic, so the alarm rate meets the budget on average, not only at most. Between
   two neighbouring calibration scores ``p`` is linear, so the rates between ``c / (n + 1)`` and
   ``(c + 1) / (n + 1)`` are reached too; a score tied by many rows keeps the ``p`` of all of them,
   so a budget rarer than a tie puts the cut above the tie, never inside it. Beyond the strangest
   calibration score an exponential tail (a generalised Pareto with shape 0) continues ``p`` from
   ``1 / (n + 1)``, its scale the mean excess of the strangest ``tail_rows`` rows with the very
   strangest censored at the next one's value (counted, not measured). So scores above the
   training maximum still get a smaller ``p`` and still order. The threshold is the score whose
   ``p`` equals ``rate``: read from the calibration rows wherever they reach that rate,
   extrapolated only beyond them. An unlabelled incident among the calibration rows counts as a
   normal row: where they hold more of them than the budget allows alarms, the cut rises above
   them. Pass known incidents as labels (2.).

A budget can be spent only on rows that differ: where most normal rows tie at the least strange
score (a table's snapshot unchanged from the day before), ``reachable_rate_`` (the share of
calibration rows stranger than that tie) is the most the detector can flag on days like them,
and a budget above it is a ceiling, not a rate. Training reports both (``alarm_budget_per_1000``,
``alarms_reachable_per_1000``) and warns when the budget cannot be spent.

With fewer than :data:`MIN_CALIBRATION_ROWS` rows on either side the scorer is fitted on all
(normal) rows and calibrated in-sample on them.

``score_samples`` is ``log p`` (higher = more normal, unbounded below, so it does not saturate),
``offset_`` is ``log rate`` and ``decision_function`` is ``log p - log rate``: ``predict`` is -1
(an outlier) where it is negative, as for an ``IsolationForest``. The core writes
``anomaly_score = 1 - p`` (:func:`anomaly_score`: exact down to ``p = 1e-6``, still ordered
beyond), comparable across models: ``anomaly_score >= 1 - rate`` is an alarm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import check_is_fitted

from health_monitor.errors import ConfigError

ALARM_BUDGET_SETTING = "HEALTH_MONITOR_ALARM_BUDGET"
DEFAULT_ALARM_BUDGET = 1.0  # alarms per entity per 30 days
BUDGET_DAYS = 30.0
MIN_CALIBRATION_ROWS = 200  # below: fit and calibrate on all rows (in-sample)
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of a normal distribution


def check_alarm_budget(value: Any) -> float:
    """``value`` as alarms per entity per 30 days (a number in (0, 30)), else a ConfigError
    naming the setting."""
    try:
        budget = float(value)
    except (TypeError, ValueError):
        budget = math.nan
    if not 0 < budget < BUDGET_DAYS:  # also refuses NaN
        raise ConfigError(
            f"alarm budget ({ALARM_BUDGET_SETTING}) must be a number of alarms per entity per "
            f"{BUDGET_DAYS:g} days, above 0 and below {BUDGET_DAYS:g}; got {value!r}"
        )
    return budget


def alarm_rate(budget: Any) -> float:
    """The share of an entity's days (rows) an alarm budget allows: ``budget / 30``."""
    return check_alarm_budget(budget) / BUDGET_DAYS


CEILING_FACTOR = 1.5  # a budget this many times what normal days can reach is a ceiling


def budget_is_a_ceiling(per_1000: float, reachable_per_1000: float) -> bool:
    """Whether an alarm budget (false alarms per 1,000 normal entity-days) is more than
    :data:`CEILING_FACTOR` times what days like the held-out normal ones let the detector raise
    (``reachable_rate_``, per 1,000): a ceiling it cannot spend, not a rate it meets."""
    return reachable_per_1000 * CEILING_FACTOR < per_1000


EXACT_TAIL = 1e-6  # anomaly_score is exactly 1 - p down to this p


def anomaly_score(log_p: Any) -> np.ndarray:
    """The ``anomaly_score`` of tail probabilities given as ``log p``: ``1 - p`` while
    ``p >= 1e-6`` (every alarm budget's cut is there: 1 a month is ``1 - 1/30``); below, the last
    millionth is shared out by ``1 / (1 + ln(1e-6 / p))``, so rows too rare for a float's
    ``1 - p`` (which is 1.0 once ``p < 1e-16``) still order. It reaches 1 only in the limit."""
    log_p = np.minimum(np.asarray(log_p, dtype="float64"), 0.0)
    depth = math.log(EXACT_TAIL) - log_p  # > 0 where p < EXACT_TAIL
    deep = 1.0 - EXACT_TAIL / (1.0 + np.maximum(depth, 0.0))
    return np.asarray(np.where(depth > 0, deep, -np.expm1(log_p)), dtype="float64")


class CalibratedDetector(OutlierMixin, BaseEstimator):
    """A raw outlier ``scorer`` with its threshold calibrated to an alarm budget (see the module).

    ``alarm_budget`` is alarms per entity per 30 days. A model spec leaves it at its default: the
    training pipeline sets it from the ``HEALTH_MONITOR_ALARM_BUDGET`` setting on any estimator
    that has this parameter.
    """

    def __init__(
        self,
        scorer: Any = None,
        alarm_budget: float = DEFAULT_ALARM_BUDGET,
        calibration_share: float = 0.25,
        tail_rows: int = 10,
    ) -> None:
        self.scorer = scorer
        self.alarm_budget = alarm_budget
        self.calibration_share = calibration_share
        self.tail_rows = tail_rows

    def fit(self, X: Any, y: Any = None) -> CalibratedDetector:
        rate = alarm_rate(self.alarm_budget)
        if not 0 <= self.calibration_share < 1:
            raise ValueError(f"calibration_share must be in [0, 1), got {self.calibration_share!r}")
        if not (isinstance(self.tail_rows, (int, np.integer)) and self.tail_rows >= 2):
            raise ValueError(f"tail_rows must be an integer of at least 2, got {self.tail_rows!r}")
        n = len(X)
        if n == 0:
            raise ValueError("CalibratedDetector needs at least one training row")
        scorer = clone(self.scorer if self.scorer is not None else RobustZMax())
        normal = np.ones(n, dtype=bool) if y is None else np.asarray(y, dtype="float64") != 1
        if not normal.any():
            raise ValueError("CalibratedDetector: every training row is labelled an incident")
        k = n - int(n * self.calibration_share)
        held_out = min(k, n - k) >= MIN_CALIBRATION_ROWS and normal[:k].any() and normal[k:].any()
        fit_rows = np.arange(k) if held_out else np.arange(n)
        rows = np.arange(k, n) if held_out else fit_rows
        self.scorer_ = scorer.fit(_rows(X, fit_rows[normal[fit_rows]]))
        strangeness = -np.asarray(self.scorer_.score_samples(_rows(X, rows[normal[rows]])), dtype="float64")
        strangeness = np.sort(strangeness[np.isfinite(strangeness)])
        if len(strangeness) == 0:
            raise ValueError("CalibratedDetector: no finite calibration score")
        self.calibration_ = strangeness
        self.calibrated_in_sample_ = not held_out
        # Rows tied at the least strange score (an unchanged snapshot, a day with no event) keep
        # p ~ 1, so no budget flags them: on days like these the detector can spend at most the
        # share of rows stranger than that. Below the budget's rate, the budget is a ceiling.
        self.reachable_rate_ = float(np.mean(strangeness > strangeness[0]))
        self._fit_tail()
        self.rate_ = rate
        self.offset_ = math.log(rate)
        self.threshold_ = self._threshold(rate)
        return self

    def _fit_tail(self) -> None:
        """The exponential tail beyond the strangest calibration score ``tail_start_``, from its
        plotting position ``tail_mass_ = 1 / (n + 1)``. Its scale is the maximum-likelihood mean
        excess of the strangest ``tail_rows`` rows over the next one, the very strangest censored
        at the second's value (it counts as "at least this strange", its value does not): a
        runaway row sets where the tail starts but does not also widen it."""
        ref = self.calibration_
        rows = min(int(self.tail_rows), len(ref) - 1)
        excess = ref[len(ref) - rows :] - ref[len(ref) - 1 - rows]  # sorted: excess[-1] is the strangest
        if len(excess) >= 2:
            scale = float(np.minimum(excess, excess[-2]).sum()) / (len(excess) - 1)
        else:
            scale = float(excess.sum())
        self.tail_start_ = float(ref[-1])
        self.tail_mass_ = 1.0 / (len(ref) + 1)
        spread = float(np.subtract(*np.quantile(ref, [0.75, 0.25])))
        floor = max(spread, abs(self.tail_start_), 1.0) * 1e-6  # a tie-only tail still decays
        self.tail_scale_ = max(scale, floor)

    def _curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The calibration scores' distinct values, ascending, and the plotting position
        ``c / (n + 1)`` of each (``c`` rows at least that strange; a tie keeps the ``p`` of all its
        rows). Between two of them ``p`` is linear: one curve for the threshold and the scores."""
        ref = self.calibration_  # sorted at fit: a value's first row starts its tie
        first = np.flatnonzero(np.r_[True, ref[1:] != ref[:-1]])
        return ref[first], (len(ref) - first) / (len(ref) + 1)

    def _threshold(self, rate: float) -> float:
        """The raw strangeness whose tail probability is ``rate``."""
        if rate <= self.tail_mass_:
            return self.tail_start_ + self.tail_scale_ * math.log(self.tail_mass_ / rate)
        levels, at_least = self._curve()
        return float(np.interp(rate, at_least[::-1], levels[::-1]))

    def log_tail_probability(self, strangeness: Any) -> np.ndarray:
        """``log p`` of raw strangeness values (``-scorer.score_samples``): at a calibration score
        its plotting position, linear between two of them, exponential beyond the strangest; 0 at
        or below the least strange; never ``-inf`` for a finite value."""
        check_is_fitted(self)
        s = np.asarray(strangeness, dtype="float64")
        levels, at_least = self._curve()
        with np.errstate(invalid="ignore"):
            inside = np.where(s <= levels[0], 1.0, np.interp(s, levels, at_least))
            tail = math.log(self.tail_mass_) - np.maximum(s - self.tail_start_, 0.0) / self.tail_scale_
        return np.where(np.isnan(s), 0.0, np.where(s > levels[-1], tail, np.log(inside)))

    def score_samples(self, X: Any) -> np.ndarray:
        """``log p``: higher = more normal, the sklearn convention; 0 for the most normal rows."""
        check_is_fitted(self)
        return self.log_tail_probability(-np.asarray(self.scorer_.score_samples(X), dtype="float64"))

    def tail_probability(self, X: Any) -> np.ndarray:
        """``p``: how often a normal row of the calibration period is at least this strange."""
        return np.asarray(np.exp(self.score_samples(X)), dtype="float64")

    def decision_function(self, X: Any) -> np.ndarray:
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        return np.where(self.decision_function(X) < 0, -1, 1)


class RobustZMax(OutlierMixin, BaseEstimator):
    """The largest robust z-score of a row's features: ``(x - median) / (1.4826 MAD)`` per column,
    learned on the training rows; ``upper_only`` counts only values above the median (a spike,
    not a dip). Feed it features that are already per-entity deviations (a robust z against the
    same weekday's history) and it stays a per-entity judgement; ``score_samples`` is minus it."""

    def __init__(self, upper_only: bool = True) -> None:
        self.upper_only = upper_only

    def fit(self, X: Any, y: Any = None) -> RobustZMax:
        values = _matrix(X)
        self.median_ = np.nanmedian(values, axis=0)
        mad = np.nanmedian(np.abs(values - self.median_), axis=0) * MAD_SCALE
        spread = np.nanstd(values, axis=0)
        # A feature that is constant on most rows has MAD 0: fall back on its standard deviation.
        self.scale_ = np.where(mad > 0, mad, np.where(spread > 0, spread, 1.0))
        self.median_ = np.nan_to_num(self.median_)
        self.n_features_in_ = values.shape[1]
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        z = (_matrix(X) - self.median_) / self.scale_
        z = np.nan_to_num(z if self.upper_only else np.abs(z), nan=0.0)
        return np.asarray(-np.max(z, axis=1), dtype="float64")

    def predict(self, X: Any) -> np.ndarray:
        return np.where(-self.score_samples(X) > 3.0, -1, 1)


class TailEvidence(OutlierMixin, BaseEstimator):
    """How far into the upper tails of its features a row sits, summed over the features:
    ``sum_j -log p_j``, where ``p_j`` is the share of training rows whose feature ``j`` is at
    least the row's, ``(count + 1) / (n + 1)``. A value at or below most of the training rows
    adds about nothing; one beyond every training row adds ``log(n + 1)`` and no more. So a row
    high on several features at once (a compromised account: volume, breadth, exports, denials,
    new IPs together) outscores a row extreme on one (an honest busy day), and the sum grows
    smoothly, which :class:`CalibratedDetector` needs to place its threshold (a count of
    features over a fixed quantile jumps by whole numbers). ``score_samples`` is minus the sum."""

    def fit(self, X: Any, y: Any = None) -> TailEvidence:
        if len(X) == 0:
            raise ValueError("TailEvidence needs at least one training row")
        values = np.nan_to_num(_matrix(X), nan=0.0)
        self.sorted_ = np.sort(values, axis=0)
        self.n_features_in_ = values.shape[1]
        return self

    def evidence(self, X: Any) -> np.ndarray:
        """``-log p_j`` per row and feature."""
        check_is_fitted(self)
        values = np.nan_to_num(_matrix(X), nan=0.0)
        n = self.sorted_.shape[0]
        at_least = n - np.column_stack(
            [np.searchsorted(self.sorted_[:, j], values[:, j], side="left") for j in range(values.shape[1])]
        )
        return np.asarray(-np.log((at_least + 1) / (n + 1)), dtype="float64")

    def score_samples(self, X: Any) -> np.ndarray:
        return np.asarray(-self.evidence(X).sum(axis=1), dtype="float64")


def _matrix(X: Any) -> np.ndarray:
    values = np.asarray(X, dtype="float64")
    return values.reshape(len(values), -1)


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if isinstance(X, pd.DataFrame) else np.asarray(X)[index]
