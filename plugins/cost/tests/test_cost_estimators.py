"""Unit tests of the cost plugin's estimators and output columns (no Spark); its relative
regressor is the SDK's (tests/test_sdk_estimators.py)."""

import numpy as np
import pandas as pd
import pytest

from health_monitor_cost.estimators import GroupModeClassifier
from health_monitor_cost.outputs import (
    BUDGET_OUTPUTS,
    COMMITMENT_OUTPUTS,
    JOB_OUTPUTS,
    budget_enrich,
    commitment_enrich,
    job_enrich,
)


def test_group_mode_classifier_predicts_each_groups_most_frequent_class():
    X = pd.DataFrame({"g": [0, 0, 0, 1, 1, 1]})
    y = np.array([2, 2, 0, 1, 1, 2])
    model = GroupModeClassifier(column="g").fit(X, y)
    assert model.predict(pd.DataFrame({"g": [0, 1, 9]})).tolist() == [2, 1, 2]
    assert model.predict_proba(X).shape == (6, 3)


def _predicted(p50):
    p50 = np.asarray(p50, dtype="float64")
    return pd.DataFrame({"prediction": p50, "prediction_p10": p50 * 0.9, "prediction_p90": p50 * 1.1})


def test_budget_outputs_track_budget_and_commit_at_contract_price():
    features = pd.DataFrame(
        {
            "discount_pct": [10.0, 10.0],
            "ytd_effective_cost": [900.0, 100.0],
            "account_ytd_effective_cost": [1000.0, 1000.0],
            "account_commit_usd": [12_000.0, 12_000.0],
            "mtd_cost": [500.0, 0.0],
            "days_in_month": [30, 30],
            "commit_days_after_month": [0.0, 0.0],
            "monthly_budget": [850.0, np.nan],
        }
    )
    out = budget_enrich(features, _predicted([1000.0, 200.0]))
    assert list(out.columns) == [n for n, _ in BUDGET_OUTPUTS]
    assert out["forecast_month_total"].tolist() == pytest.approx([900.0, 180.0])
    assert out["cumulative_forecast"].tolist() == pytest.approx([900.0 + 450.0, 100.0 + 180.0])
    assert out["budget_status"].tolist() == ["over", "no_budget"]
    # The workspaces' variances add up to the account's: projected spend minus the commit.
    assert out["commit_variance"].sum() == pytest.approx(1350.0 + 280.0 - 12_000.0)


def test_commitment_commits_the_p10_at_contract_price():
    out = commitment_enrich(pd.DataFrame({"discount_pct": [20.0]}), _predicted([1000.0]))
    assert list(out.columns) == [n for n, _ in COMMITMENT_OUTPUTS]
    assert out.iloc[0].tolist() == pytest.approx([720.0, 180.0, 0.9])


def test_job_recommendations():
    features = pd.DataFrame(
        {
            "all_purpose_cost_7d": [50.0, 0.0, 0.0],
            "cost_7d": [100.0, 100.0, 100.0],
            "avg_cpu_7d": [20.0, 15.0, 70.0],
            "serverless_share_7d": [0.0, 0.0, 0.0],
        }
    )
    out = job_enrich(features, _predicted([10.0, 10.0, 10.0]))
    assert list(out.columns) == [n for n, _ in JOB_OUTPUTS]
    assert out["recommendation"].tolist() == ["move_to_job_cluster", "right_size", "keep"]
    assert out["estimated_savings"].tolist() == pytest.approx([3.0, 5.0, 0.0])
