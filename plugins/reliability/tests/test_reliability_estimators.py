"""The reliability plugin's own estimators and baselines, on synthetic data."""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from xgboost import XGBClassifier

from health_monitor_reliability.baselines import OwnHistoryClassifier
from health_monitor_reliability.estimators import GuardedThresholdClassifier, RelativeRegressor


def _rare_noisy(n=2000, rate=0.04, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=list("abcde"))
    y = (rng.random(n) < rate).astype(int)  # no signal at all
    return X, y


def test_guarded_threshold_never_flags_everything_on_rare_noisy_labels():
    X, y = _rare_noisy()
    model = GuardedThresholdClassifier(XGBClassifier(n_estimators=20, max_depth=2, n_jobs=1), cv=3)
    model.fit(X, y)
    flagged = model.predict(X).mean()
    assert flagged <= 3.0 * y.mean() + 0.01
    assert model.predict_proba(X).shape == (len(X), 2)


def test_guarded_threshold_finds_a_real_signal():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(1500, 3)), columns=["x", "y", "z"])
    y = (X["x"] + 0.3 * rng.normal(size=1500) > 1.5).astype(int)
    model = GuardedThresholdClassifier(XGBClassifier(n_estimators=50, max_depth=2, n_jobs=1)).fit(X, y)
    pred = model.predict(X)
    tp = np.sum((pred == 1) & (y == 1))
    assert 2 * tp / (pred.sum() + y.sum()) > 0.7


def test_guarded_threshold_clones_unfitted():
    model = GuardedThresholdClassifier(XGBClassifier(n_estimators=5), max_positive_ratio=2.0)
    twin = clone(model)
    assert twin.get_params()["max_positive_ratio"] == 2.0
    assert not hasattr(twin, "threshold_")


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


def test_relative_regressor_predicts_relative_to_the_reference():
    rng = np.random.default_rng(2)
    usual = np.exp(rng.uniform(3, 8, 400))
    X = pd.DataFrame({"usual": usual, "month_end": rng.integers(0, 2, 400)})
    y = usual * np.where(X["month_end"] == 1, 1.2, 1.0)
    model = RelativeRegressor(LinearRegression(), references=("usual",), mape_weights=False).fit(X, y)
    assert np.allclose(model.predict(X), y, rtol=1e-6)
    # A row without a positive usual value falls back to the training median.
    fallback = model.predict(pd.DataFrame({"usual": [0.0], "month_end": [0]}))
    assert np.isfinite(fallback).all() and fallback[0] > 0
