"""The reliability plugin's own baselines, on synthetic data (its threshold classifier and
relative regressor are the SDK's: tests/test_sdk_estimators.py)."""

import numpy as np
import pandas as pd

from health_monitor_reliability.baselines import OwnHistoryClassifier, StrongerRuleRegressor


def test_own_history_flags_everything_when_the_positive_class_is_common():
    X = pd.DataFrame({"rate": [0.9, 0.8, np.nan, 0.95, 0.7, 0.85]})
    y = np.array([1, 1, 1, 1, 1, 0])
    baseline = OwnHistoryClassifier(column="rate").fit(X, y)
    assert baseline.predict(X).sum() >= 5  # the missing history is filled with the mean rate
    assert np.all((baseline.predict_proba(X) >= 0) & (baseline.predict_proba(X) <= 1))


def test_own_history_scales_counts():
    X = pd.DataFrame({"days": [0, 0, 0, 3, 5, 0]})
    y = np.array([0, 0, 0, 1, 1, 0])
    baseline = OwnHistoryClassifier(column="days", scale=7.0).fit(X, y)
    assert baseline.predict(X).tolist() == y.tolist()
    assert baseline.predict_proba(X)[4, 1] == 5 / 7


def test_the_stronger_duration_rule_is_chosen_on_the_training_rows():
    rng = np.random.default_rng(0)
    usual = rng.uniform(100, 1000, 400)
    y = usual * rng.lognormal(0, 0.1, 400)
    X = pd.DataFrame({"last": usual * rng.lognormal(0, 0.5, 400), "mean": usual, "empty": np.nan})
    X.loc[:9, "mean"] = np.nan  # no history yet: the training median
    for columns in (("last", "mean"), ("mean", "last"), ("empty", "mean")):
        baseline = StrongerRuleRegressor(columns=columns).fit(X, y)
        assert baseline.chosen_ == "mean", columns
    predicted = baseline.predict(X)
    assert np.allclose(predicted[10:], usual[10:]) and np.allclose(predicted[:10], np.median(y))
