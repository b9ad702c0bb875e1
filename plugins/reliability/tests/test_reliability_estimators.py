"""The reliability plugin's own baselines, on synthetic data (its threshold classifier and
relative regressor are the SDK's: tests/test_sdk_estimators.py)."""

import numpy as np
import pandas as pd

from health_monitor_reliability.baselines import OwnHistoryClassifier


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
