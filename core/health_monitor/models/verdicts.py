"""Verdicts with error bars: a paired bootstrap of the headline metric of two sets of predictions
(a model and its baseline, or a new version and the champion) on the same test rows.

The rule, in one place (the model cards, ``evaluate``, the demo summary and the champion gate
all read it from here):

- The **difference** is signed so that positive means the candidate is better: candidate minus
  reference when higher is better (F1), reference minus candidate when lower is better (MAPE).
- Its 95% interval is the 2.5th-97.5th percentile of the difference over ``RESAMPLES``
  resamples. Both sets of predictions are resampled with the same draws (paired), so what the
  rows have in common cancels out.
- The resampled unit is the **day**: every row of a test day (the model's ``time_column``, floored
  to the day) is drawn together, which keeps the correlation between rows of one day (an
  account-wide incident, a bad deploy) inside one unit. The test split is time-based, so the test
  days are the natural units. With fewer than ``MIN_DAYS`` test days the bootstrap falls back to
  single rows (documented in ``unit``): a handful of days cannot carry an interval.
- A resample on which the metric is undefined (F1 with no positive label, MAPE with no nonzero
  label) is skipped. When fewer than ``MIN_VALID_SHARE`` of the resamples remain, or there are
  fewer than ``MIN_ROWS`` labelled rows, there is no interval: the verdict is ``not evaluated``,
  with the reason; a verdict is never taken from a point estimate alone.
- Verdict against the baseline: ``beats baseline`` exactly when the interval's low end is above
  zero, ``does not beat baseline`` when its high end is below zero, ``tie`` otherwise;
  ``not evaluated`` without labels or without an interval.

A regression is also compared on its mean absolute error and its median absolute percentage
error, with the same draws (:class:`Secondary`): MAPE alone favours a model that under-predicts
and is led by a few near-zero labels. The verdict stays the headline's, but its description says
when a secondary metric disagrees outside the noise.

Fixed seed: the same predictions always give the same interval. The metric of each resample is
computed from per-unit sufficient statistics (true/false positives per class, sums of absolute
percentage errors) multiplied by a (resamples x units) matrix of draw counts: one matrix product
per statistic, so every model's intervals cost milliseconds, not a Python loop per resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.models.evaluation import HEADLINE
from health_monitor.models.instants import utc_instants
from health_monitor.sdk.specs import ProblemType

BEATS = "beats baseline"
TIE = "tie"
LOSES = "does not beat baseline"
NOT_EVALUATED = "not evaluated"
VERDICTS = (BEATS, TIE, LOSES, NOT_EVALUATED)
SECONDARY = ("mae", "median_abs_pct_error")  # a regression's other metrics, in this order

RESAMPLES = 400
SEED = 20240914
MIN_DAYS = 10  # fewer test days than this: resample rows instead
MIN_ROWS = 10  # fewer labelled test rows than this: no interval at all
MIN_VALID_SHARE = 0.8  # of the resamples on which the metric is defined
LEVEL = 0.95


@dataclass(frozen=True)
class Secondary:
    """A second metric of the same comparison, with the same draws: its values and the difference
    (positive: the candidate is better) with its 95% interval."""

    metric: str
    candidate: float
    reference: float
    difference: float
    difference_ci95: tuple[float, float]

    @property
    def outcome(self) -> int:
        low, high = self.difference_ci95
        return 1 if low > 0 else -1 if high < 0 else 0


@dataclass(frozen=True)
class Comparison:
    """A candidate's headline metric against a reference's on the same rows, with 95% intervals.

    ``difference`` and ``difference_ci95`` are signed so that positive means the candidate is
    better. The intervals are None when there is no interval; ``reason`` then says why."""

    metric: str
    higher_is_better: bool
    candidate: float
    reference: float
    difference: float
    candidate_ci95: tuple[float, float] | None
    reference_ci95: tuple[float, float] | None
    difference_ci95: tuple[float, float] | None
    unit: str  # "day" or "row": what one resample draws
    units: int
    resamples: int
    valid_resamples: int
    reason: str = ""
    secondary: tuple[Secondary, ...] = ()

    @property
    def outcome(self) -> int | None:
        """1 when the candidate is better outside the noise (low > 0), -1 when worse (high < 0),
        0 when the interval holds zero; None without an interval."""
        if self.difference_ci95 is None:
            return None
        low, high = self.difference_ci95
        return 1 if low > 0 else -1 if high < 0 else 0


def verdict(comparison: Comparison | None) -> str:
    """The verdict of a model against its baseline: one of :data:`VERDICTS`."""
    outcome = None if comparison is None else comparison.outcome
    return {1: BEATS, 0: TIE, -1: LOSES, None: NOT_EVALUATED}[outcome]


def describe(comparison: Comparison | None) -> str:
    """One line for humans: the difference and its interval, or why there is none."""
    if comparison is None:
        return "no labels"
    if comparison.difference_ci95 is None:
        return comparison.reason
    low, high = comparison.difference_ci95
    line = (
        f"{comparison.metric} difference {comparison.difference:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}] "
        f"over {comparison.units} {comparison.unit}s"
    )
    for other in comparison.secondary:
        lo, hi = other.difference_ci95
        line += f"; {other.metric} {other.difference:+.3g} [{lo:+.3g}, {hi:+.3g}]"
    disagree = [
        o.metric for o in comparison.secondary if o.outcome and o.outcome == -(comparison.outcome or 0)
    ]
    if disagree:
        side = "worse" if comparison.outcome == 1 else "better"
        line += f"; but {side} on {' and '.join(disagree)} outside the noise"
    return line


def day_units(times: pd.Series | np.ndarray | None) -> np.ndarray | None:
    """The day of each row (its time floored to the day), the unit of the block bootstrap."""
    if times is None:
        return None
    stamps = pd.to_datetime(pd.Series(times), utc=True, errors="coerce")
    return utc_instants(stamps.dt.floor("D"))


def _stats(problem_type: ProblemType, y: np.ndarray, predicted: pd.DataFrame, classes: np.ndarray):
    """Per-row sufficient statistics of the headline metric, as columns of a float matrix."""
    if problem_type is ProblemType.MULTICLASS:
        label = predicted["predicted_class"].astype(str).to_numpy()
        hit = (y[:, None] == classes) & (label[:, None] == classes)
        return np.hstack([hit, label[:, None] == classes, y[:, None] == classes]).astype("float64")
    if problem_type is ProblemType.REGRESSION:
        pred = predicted["prediction"].to_numpy(dtype="float64")
        nonzero = np.abs(y) > 1e-9
        ape = np.where(nonzero, np.abs((y - pred) / np.where(nonzero, y, 1.0)), 0.0)
        return np.column_stack([ape, nonzero]).astype("float64")
    truth = y.astype(int) == 1
    label = predicted["prediction"].to_numpy(dtype="float64").astype(int) == 1
    return np.column_stack([truth & label, ~truth & label, truth & ~label]).astype("float64")


def _metric(problem_type: ProblemType, sums: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The headline metric from summed statistics (one row per resample), and where it is defined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if problem_type is ProblemType.MULTICLASS:
            k = n_classes
            tp, pred, true = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k :]
            per_class = np.where(pred + true > 0, 2 * tp / (pred + true), 0.0)
            support = true.sum(axis=1)
            return (per_class * true).sum(axis=1) / support, support > 0
        if problem_type is ProblemType.REGRESSION:
            ape, count = sums[:, 0], sums[:, 1]
            return ape / count, count > 0
        tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
        return 2 * tp / (2 * tp + fp + fn), tp + fn > 0


def _unit_sums(stats: np.ndarray, codes, units: int) -> np.ndarray:
    """Per-row statistics summed per resampling unit: a (units x statistics) matrix."""
    out = np.zeros((units, stats.shape[1]))
    np.add.at(out, codes, stats)
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap(
    problem_type: ProblemType | str,
    y_true,
    candidate: pd.DataFrame,
    reference: pd.DataFrame,
    days=None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Comparison:
    """Compare ``candidate``'s predictions with ``reference``'s on the same labelled rows.

    ``y_true`` and both prediction frames (the standard output columns) are row-aligned;
    ``days`` (optional, row-aligned) is each row's time, which selects the day blocks."""
    problem_type = ProblemType(problem_type)
    metric, higher = HEADLINE[problem_type]
    if problem_type is ProblemType.MULTICLASS:
        y = np.asarray(y_true).astype(str)
    else:
        y = np.asarray(y_true, dtype="float64")
    n = len(y)
    if len(candidate) != n or len(reference) != n:
        raise ValueError(f"predictions of {len(candidate)} and {len(reference)} rows for {n} labels")
    classes = np.unique(y) if problem_type is ProblemType.MULTICLASS else np.empty(0)
    if problem_type is ProblemType.MULTICLASS:
        seen = np.concatenate(
            [candidate["predicted_class"].astype(str), reference["predicted_class"].astype(str)]
        )
        classes = np.unique(np.concatenate([classes, seen]))
    a = _stats(problem_type, y, candidate, classes)
    b = _stats(problem_type, y, reference, classes)

    unit, codes, units = "row", np.arange(n), n
    stamps = day_units(days)
    if stamps is not None:
        # Days numbered in time order: the intervals do not depend on the order of the rows
        # (a training set's order is whatever order Spark collected it in).
        codes_d, uniques = pd.factorize(pd.Series(stamps), use_na_sentinel=False, sort=True)
        if len(uniques) >= MIN_DAYS:
            unit, codes, units = "day", codes_d, len(uniques)
    # Per-unit sums: a (units x statistics) matrix for each side.
    a_units, b_units = _unit_sums(a, codes, units), _unit_sums(b, codes, units)

    k = len(classes)
    point_a, ok_a = _metric(problem_type, a_units.sum(axis=0, keepdims=True), k)
    point_b, ok_b = _metric(problem_type, b_units.sum(axis=0, keepdims=True), k)
    pa, pb = float(point_a[0]), float(point_b[0])
    sign = 1.0 if higher else -1.0
    base: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher,
        "candidate": pa,
        "reference": pb,
        "difference": sign * (pa - pb),
        "candidate_ci95": None,
        "reference_ci95": None,
        "difference_ci95": None,
        "unit": unit,
        "units": units,
        "resamples": resamples,
        "valid_resamples": 0,
    }
    if n < MIN_ROWS:
        return Comparison(**base, reason=f"too few labelled test rows for an interval ({n} < {MIN_ROWS})")
    if not (ok_a[0] and ok_b[0]) or not (np.isfinite(pa) and np.isfinite(pb)):
        why = {
            ProblemType.REGRESSION: "no nonzero label or a non-finite prediction in the test rows",
        }.get(problem_type, "no positive label in the test rows")
        return Comparison(**base, reason=f"{metric} is undefined: {why}")

    rng = np.random.default_rng(seed)
    draws = rng.multinomial(units, np.full(units, 1.0 / units), size=resamples).astype("float64")
    ma, va = _metric(problem_type, draws @ a_units, k)
    mb, vb = _metric(problem_type, draws @ b_units, k)
    valid = va & vb & np.isfinite(ma) & np.isfinite(mb)
    base["valid_resamples"] = int(valid.sum())
    if valid.sum() < MIN_VALID_SHARE * resamples:
        return Comparison(
            **base,
            reason=(
                f"{metric} is defined on only {int(valid.sum())} of {resamples} resamples of "
                f"{units} {unit}s (too few positive labels or {unit}s for an interval)"
            ),
        )
    ma, mb = ma[valid], mb[valid]
    base.update(
        candidate_ci95=_interval(ma),
        reference_ci95=_interval(mb),
        difference_ci95=_interval(sign * (ma - mb)),
    )
    if problem_type is ProblemType.REGRESSION:
        base["secondary"] = _regression_secondary(y, candidate, reference, codes, units, draws)
    return Comparison(**base)


def _regression_secondary(
    y: np.ndarray, candidate: pd.DataFrame, reference: pd.DataFrame, codes, units: int, draws: np.ndarray
) -> tuple[Secondary, ...]:
    """MAE and median APE of both sides, differences signed so that positive is better (lower)."""
    out = []
    errors = [np.abs(y - frame["prediction"].to_numpy(dtype="float64")) for frame in (candidate, reference)]
    if all(np.isfinite(e).all() for e in errors):
        # The headline's ratio of summed statistics, with absolute errors in place of APEs.
        (a, ok), (b, _) = (
            _metric(
                ProblemType.REGRESSION,
                draws @ _unit_sums(np.column_stack([e, np.ones_like(e)]), codes, units),
                0,
            )
            for e in errors
        )
        out.append(_secondary(SECONDARY[0], errors[0].mean(), errors[1].mean(), a[ok], b[ok]))
    nonzero = np.abs(y) > 1e-9
    if nonzero.sum() >= MIN_ROWS:
        ape = [e[nonzero] / np.abs(y[nonzero]) for e in errors]
        if all(np.isfinite(v).all() for v in ape):
            kept = np.asarray(codes)[nonzero]
            a, b = (weighted_medians(v, kept, draws) for v in ape)
            ok = np.isfinite(a) & np.isfinite(b)
            out.append(_secondary(SECONDARY[1], np.median(ape[0]), np.median(ape[1]), a[ok], b[ok]))
    return tuple(out)


def _secondary(metric: str, candidate: float, reference: float, a: np.ndarray, b: np.ndarray) -> Secondary:
    return Secondary(
        metric, float(candidate), float(reference), float(reference - candidate), _interval(b - a)
    )


def weighted_medians(values: np.ndarray, codes: np.ndarray, draws: np.ndarray, chunk_cells: int = 4_000_000):
    """The median of ``values`` under each resample of ``draws`` (resamples x units; a row counts
    as often as its unit, ``codes``, was drawn): the lower median of the weighted rows, NaN when a
    resample drew none of them. Chunked so that a large test set stays within memory."""
    order = np.argsort(values, kind="stable")
    ordered, unit_of = values[order], np.asarray(codes)[order]
    out = np.full(len(draws), np.nan)
    step = max(1, chunk_cells // max(1, len(values)))
    for start in range(0, len(draws), step):
        weights = draws[start : start + step][:, unit_of]
        cumulative = np.cumsum(weights, axis=1)
        total = cumulative[:, -1]
        index = np.argmax(cumulative >= total[:, None] / 2.0, axis=1)
        out[start : start + step] = np.where(total > 0, ordered[index], np.nan)
    return out
