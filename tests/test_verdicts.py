"""Verdicts with error bars: the paired bootstrap and its rule, on pandas frames (no Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from health_monitor.models import evaluation, verdicts
from health_monitor.models.verdicts import BEATS, LOSES, NOT_EVALUATED, TIE, paired_bootstrap, verdict
from health_monitor.sdk.specs import ProblemType

DAYS = pd.Series(np.repeat(pd.date_range("2026-01-01", periods=20, freq="D"), 10))  # 200 rows


def binary(pred) -> pd.DataFrame:
    pred = np.asarray(pred, dtype="float64")
    return pd.DataFrame({"prediction": pred, "probability": pred})


def regression(pred) -> pd.DataFrame:
    return pd.DataFrame({"prediction": np.asarray(pred, dtype="float64")})


def labels(seed=0, rate=0.3, n=200):
    return (np.random.default_rng(seed).random(n) < rate).astype(int)


def flip(y, share, seed):
    """``y`` with a share of its rows flipped: a classifier with that error rate."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y)) < share
    return np.where(wrong, 1 - y, y)


def test_a_clearly_better_model_beats_its_baseline():
    y = labels()
    result = paired_bootstrap("classification", y, binary(flip(y, 0.05, 1)), binary(flip(y, 0.45, 2)), DAYS)
    assert result.unit == "day" and result.units == 20 and result.valid_resamples == verdicts.RESAMPLES
    low, high = result.difference_ci95
    assert 0 < low < result.difference < high
    assert verdict(result) == BEATS


def test_the_same_predictions_tie_and_a_worse_model_does_not_beat():
    y = labels()
    same = paired_bootstrap("classification", y, binary(flip(y, 0.2, 1)), binary(flip(y, 0.2, 1)), DAYS)
    assert same.difference_ci95 == (0.0, 0.0) and verdict(same) == TIE
    worse = paired_bootstrap("classification", y, binary(flip(y, 0.45, 2)), binary(flip(y, 0.05, 1)), DAYS)
    assert worse.difference_ci95[1] < 0 and verdict(worse) == LOSES


def test_a_small_difference_on_few_rows_is_a_tie():
    y = labels(n=40)
    model = flip(y, 0.2, 1)
    baseline = model.copy()
    baseline[np.flatnonzero(model == y)[:1]] ^= 1  # the baseline errs on one more row
    result = paired_bootstrap("classification", y, binary(model), binary(baseline))
    assert result.difference > 0 and verdict(result) == TIE
    assert result.unit == "row"  # no days given


@pytest.mark.parametrize("seed", range(6))
def test_beats_exactly_when_the_low_end_is_above_zero(seed):
    y = labels(seed)
    rng = np.random.default_rng(seed)
    result = paired_bootstrap(
        "classification",
        y,
        binary(flip(y, rng.uniform(0.05, 0.4), seed + 1)),
        binary(flip(y, rng.uniform(0.05, 0.4), seed + 2)),
        DAYS,
    )
    low, high = result.difference_ci95
    assert (verdict(result) == BEATS) == (low > 0)
    assert (verdict(result) == LOSES) == (high < 0)


def test_lower_is_better_metrics_are_signed_so_that_positive_means_better():
    rng = np.random.default_rng(3)
    y = rng.uniform(10, 20, 200)
    good, bad = y * (1 + rng.normal(0, 0.02, 200)), y * (1 + rng.normal(0, 0.3, 200))
    result = paired_bootstrap("regression", y, regression(good), regression(bad), DAYS)
    assert result.metric == "mape" and not result.higher_is_better
    assert result.candidate < result.reference and result.difference > 0
    assert result.difference_ci95[0] > 0 and verdict(result) == BEATS
    assert result.candidate_ci95[0] <= result.candidate <= result.candidate_ci95[1]


def test_a_regression_is_also_compared_on_mae_and_median_ape():
    """MAPE rewards a model that is exact on small labels and off on large ones: the MAE says the
    opposite, and the description says so, while the verdict stays the headline's."""
    rng = np.random.default_rng(4)
    small = rng.random(200) < 0.5
    y = np.where(small, rng.uniform(1, 2, 200), rng.uniform(100, 200, 200))
    noise = 1 + rng.normal(0, 0.01, 200)
    candidate = np.where(small, y, y * 1.1) * noise  # 10% off the large labels, exact on the small
    reference = np.where(small, y * 1.3, y) * noise  # 30% off the small labels, exact on the large
    result = paired_bootstrap("regression", y, regression(candidate), regression(reference), DAYS)
    assert verdict(result) == BEATS  # on MAPE, the headline
    others = {o.metric: o for o in result.secondary}
    assert set(others) == set(verdicts.SECONDARY)
    mae = others["mae"]
    assert mae.difference < 0 and mae.difference_ci95[1] < 0 and mae.outcome == -1
    scored = (evaluation.score(ProblemType.REGRESSION, y, regression(c)) for c in (candidate, reference))
    ours, theirs = scored
    assert mae.candidate == pytest.approx(ours["mae"]) and mae.reference == pytest.approx(theirs["mae"])
    median = others["median_abs_pct_error"]
    assert median.candidate == pytest.approx(ours["median_abs_pct_error"])
    low, high = median.difference_ci95
    assert low <= median.difference <= high
    assert "but worse on mae" in verdicts.describe(result)


def test_the_same_regression_predictions_tie_on_every_metric():
    rng = np.random.default_rng(8)
    y = rng.uniform(1, 10, 200)
    same = regression(y + rng.normal(0, 1, 200))
    result = paired_bootstrap("regression", y, same, same, DAYS)
    assert [o.difference_ci95 for o in result.secondary] == [(0.0, 0.0), (0.0, 0.0)]
    assert "but" not in verdicts.describe(result)


def test_weighted_medians_count_each_row_as_often_as_its_day_was_drawn():
    values, days = np.array([5.0, 1.0, 3.0, 2.0, 4.0]), np.array([0, 0, 1, 1, 2])
    draws = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    medians = verdicts.weighted_medians(values, days, draws, chunk_cells=5)  # one resample per chunk
    assert medians[:3].tolist() == [3.0, 1.0, 4.0] and np.isnan(medians[3])


def test_a_forecast_interval_reports_its_median_width():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    predicted = pd.DataFrame(
        {
            "prediction": y,
            "prediction_p10": [5.0, 10.0, 0.0, 20.0],
            "prediction_p90": [10.0, 40.0, 60.0, 100.0],
        }
    )
    metrics = evaluation.score(ProblemType.REGRESSION, y, predicted)
    assert metrics["interval_ratio_p90_p10_median"] == 4.0  # ratios 2, 4, 5; the zero low end left out
    assert metrics["coverage_p10_p90"] == 1.0


@pytest.mark.parametrize("problem", ["classification", "regression", "multiclass"])
def test_point_estimates_are_the_scored_headline_metrics(problem):
    rng = np.random.default_rng(5)
    if problem == "multiclass":
        y = rng.choice(["a", "b", "c"], 200)
        pred = lambda s: pd.DataFrame({"predicted_class": np.where(rng.random(200) < s, "b", y)})  # noqa: E731
        a, b = pred(0.2), pred(0.5)
    elif problem == "regression":
        y = np.where(rng.random(200) < 0.1, 0.0, rng.uniform(1, 5, 200))  # zero labels are left out
        a, b = regression(y + rng.normal(0, 0.5, 200)), regression(y + 1.0)
    else:
        y = labels(5)
        a, b = binary(flip(y, 0.1, 6)), binary(flip(y, 0.3, 7))
    result = paired_bootstrap(problem, y, a, b, DAYS)
    metric = result.metric
    assert result.candidate == pytest.approx(evaluation.score(ProblemType(problem), y, a)[metric])
    assert result.reference == pytest.approx(evaluation.score(ProblemType(problem), y, b)[metric])


def test_timestamps_are_resampled_by_whole_days():
    stamps = DAYS + pd.to_timedelta(np.arange(200) % 10, unit="h")  # ten distinct times a day
    y = labels()
    result = paired_bootstrap("classification", y, binary(flip(y, 0.1, 1)), binary(y), stamps)
    assert result.unit == "day" and result.units == 20


def test_few_days_fall_back_to_rows():
    few = pd.Series(np.repeat(pd.date_range("2026-01-01", periods=4, freq="D"), 50))
    y = labels()
    result = paired_bootstrap("classification", y, binary(flip(y, 0.1, 1)), binary(y), few)
    assert result.unit == "row" and result.units == 200


def test_an_undefined_metric_is_not_evaluated_with_a_reason():
    y = np.zeros(200, dtype=int)
    none = paired_bootstrap("anomaly_detection", y, binary(y), binary(flip(y, 0.1, 1)), DAYS)
    assert none.difference_ci95 is None and verdict(none) == NOT_EVALUATED
    assert "no positive label" in none.reason


def test_too_few_valid_resamples_is_not_evaluated():
    y = np.zeros(200, dtype=int)
    y[5] = 1  # one positive on one day: most resamples of days hold none
    result = paired_bootstrap("anomaly_detection", y, binary(y), binary(np.zeros(200)), DAYS)
    assert result.valid_resamples < verdicts.MIN_VALID_SHARE * result.resamples
    assert verdict(result) == NOT_EVALUATED and "resamples" in result.reason


def test_too_few_rows_is_not_evaluated():
    result = paired_bootstrap("classification", [1, 0, 1], binary([1, 0, 1]), binary([0, 0, 0]))
    assert verdict(result) == NOT_EVALUATED and "too few" in result.reason


def test_no_labels_is_not_evaluated():
    assert verdict(None) == NOT_EVALUATED


def test_the_bootstrap_is_deterministic():
    y = labels()
    args = ("classification", y, binary(flip(y, 0.2, 1)), binary(flip(y, 0.25, 2)), DAYS)
    assert paired_bootstrap(*args) == paired_bootstrap(*args)


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_the_intervals_do_not_depend_on_the_order_of_the_rows(problem):
    """A training set comes in whatever order Spark collected it: the same rows in another order
    give the same verdict and the same intervals."""
    rng = np.random.default_rng(11)
    if problem == "regression":
        y = rng.uniform(1, 5, 200)
        a, b = regression(y + rng.normal(0, 0.5, 200)), regression(y + rng.normal(0, 0.6, 200))
    else:
        y = labels(11)
        a, b = binary(flip(y, 0.2, 12)), binary(flip(y, 0.25, 13))
    shuffled = rng.permutation(200)
    first = paired_bootstrap(problem, y, a, b, DAYS)
    again = paired_bootstrap(
        problem,
        y[shuffled],
        a.iloc[shuffled].reset_index(drop=True),
        b.iloc[shuffled].reset_index(drop=True),
        DAYS.iloc[shuffled].reset_index(drop=True),
    )
    assert first.unit == again.unit == "day"
    assert again.difference == pytest.approx(first.difference)
    assert again.difference_ci95 == pytest.approx(first.difference_ci95)
    assert again.candidate_ci95 == pytest.approx(first.candidate_ci95)
