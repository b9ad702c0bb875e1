"""Calibrated detectors: the threshold meets the alarm budget, the tail probability orders rows
beyond the training maximum, and the incident metrics count windows as a person would."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest

from health_monitor.config import ENV_ALARM_BUDGET, Settings
from health_monitor.errors import ConfigError
from health_monitor.models import evaluation
from health_monitor.models.modeling import ScoringModel
from health_monitor.pipelines.train import with_settings
from health_monitor.sdk import CalibratedDetector, ProblemType, RobustZMax, TailEvidence
from health_monitor.sdk.detectors import alarm_rate


def _normal_days(rows: int, seed: int = 0, heavy: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.standard_t(3, size=rows) if heavy else rng.normal(size=rows)
    return pd.DataFrame({"a": a, "b": rng.normal(size=rows)})


@pytest.mark.parametrize("budget", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("scorer", [RobustZMax(), IsolationForest(n_estimators=50, random_state=0)])
def test_alarms_on_unseen_normal_days_meet_the_budget(budget, scorer):
    # 6,000 calibration rows: 100 beyond the cut at budget 0.5, so one draw's tail is within
    # about 10%. With 1,500 (6,000 training rows) it was 25 rows, about 20%: single draws of the
    # same estimator ranged 0.6 to 1.4 times the budget, and a band of 35% tested the draw.
    train, fresh = _normal_days(24000, seed=1, heavy=True), _normal_days(20000, seed=2, heavy=True)
    detector = CalibratedDetector(clone(scorer), alarm_budget=budget).fit(train)
    rate = (detector.predict(fresh) == -1).mean()
    assert rate == pytest.approx(budget / 30, rel=0.35), (budget, rate)
    assert not detector.calibrated_in_sample_


def test_a_few_small_training_sets_are_calibrated_in_sample():
    detector = CalibratedDetector(RobustZMax()).fit(_normal_days(150))
    assert detector.calibrated_in_sample_
    assert 0 < (detector.predict(_normal_days(5000, seed=3)) == -1).mean() < 0.1


def test_labelled_incidents_and_the_strangest_rows_do_not_raise_the_bar():
    X = _normal_days(4000, seed=4)
    X.loc[3900:, "a"] = 50.0  # incidents in the latest rows, the calibration period
    y = np.zeros(len(X))
    y[3900:] = 1
    told = CalibratedDetector(RobustZMax()).fit(X, y)
    untold = CalibratedDetector(RobustZMax()).fit(X)
    assert told.threshold_ < 5 < untold.threshold_


def test_tail_probability_does_not_saturate_and_is_monotone():
    detector = CalibratedDetector(RobustZMax()).fit(_normal_days(4000))
    top = float(np.abs(detector.calibration_).max())
    a = np.linspace(-3, top + 20, 400)
    X = pd.DataFrame({"a": a, "b": 0.0})
    p = detector.tail_probability(X)
    assert np.all(np.diff(p) <= 0) and np.all((p > 0) & (p <= 1))
    beyond = a > top + 1
    assert np.all(np.diff(p[beyond]) < 0), "rows above the training maximum must still order"
    fitted = ScoringModel.fit(CalibratedDetector(RobustZMax()), "anomaly_detection", _normal_days(4000))
    score = fitted.predict(X)["anomaly_score"].to_numpy()
    assert np.all(np.diff(score) >= 0) and score.max() < 1.0
    assert np.all(np.diff(score[beyond]) > 0)


def test_the_core_flags_what_predict_flags_and_the_alarm_cut_is_one_minus_the_rate():
    X = _normal_days(3000, seed=5)
    times = pd.Series(pd.date_range("2025-01-01", periods=len(X), freq="h"))
    fitted = ScoringModel.fit(
        CalibratedDetector(IsolationForest(n_estimators=50, random_state=0), alarm_budget=2.0),
        "anomaly_detection",
        X,
        times=times,
    )
    fresh = _normal_days(2000, seed=6)
    out = fitted.predict(fresh)
    flagged = fitted.estimator.predict(fresh) == -1
    assert (out["is_anomaly"].to_numpy() == flagged).all()
    assert (out["anomaly_score"][flagged] >= 1 - 2.0 / 30 - 1e-12).all()
    assert (out["anomaly_score"][~flagged] < 1 - 2.0 / 30 + 1e-12).all()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), 30, "many", None])
def test_a_bad_budget_is_an_error_that_names_the_setting(bad):
    with pytest.raises(ConfigError, match=ENV_ALARM_BUDGET):
        CalibratedDetector(RobustZMax(), alarm_budget=bad).fit(_normal_days(100))
    with pytest.raises(ConfigError, match=ENV_ALARM_BUDGET):
        alarm_rate(bad)


def test_without_the_setting_each_detector_keeps_its_own_budget(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_ALARM_BUDGET, raising=False)
    settings = Settings.from_env(home=tmp_path)
    assert settings.alarm_budget is None
    own = with_settings(CalibratedDetector(RobustZMax(), alarm_budget=0.05), settings)
    assert own.alarm_budget == 0.05
    assert with_settings(CalibratedDetector(RobustZMax()), settings).alarm_budget == 1.0


def test_the_setting_comes_from_the_environment_and_reaches_nested_estimators(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_ALARM_BUDGET, "2.5")
    settings = Settings.from_env(home=tmp_path)
    assert settings.alarm_budget == 2.5
    nested = with_settings(CalibratedDetector(CalibratedDetector(RobustZMax())), settings)
    assert nested.alarm_budget == 2.5 and nested.scorer.alarm_budget == 2.5
    assert with_settings(IsolationForest(), settings).get_params()["contamination"] == "auto"
    monkeypatch.setenv(ENV_ALARM_BUDGET, "0")
    with pytest.raises(ConfigError, match=ENV_ALARM_BUDGET):
        Settings.from_env(home=tmp_path)


def test_point_adjusted_and_window_metrics_on_a_hand_made_example():
    # Two entities, ten days each. Entity a: a window of days 2-4 found on day 3, a window of
    # day 8 missed, a false alarm on day 6. Entity b: a window of days 0-1 found on day 0, and
    # a two-day false alarm on days 5-6.
    days = pd.Series(list(pd.date_range("2025-01-01", periods=10)) * 2)
    entity = pd.Series(["a"] * 10 + ["b"] * 10)
    y = np.zeros(20, dtype=int)
    flag = np.zeros(20, dtype=int)
    y[[2, 3, 4, 8]] = 1
    flag[[3, 6]] = 1
    y[[10, 11]] = 1
    flag[[10, 15, 16]] = 1
    shuffled = np.random.default_rng(0).permutation(20)  # row order must not matter
    m = evaluation.incident_metrics(y[shuffled], flag[shuffled], days[shuffled], entity[shuffled])
    # Point-adjusted: windows found cover 3 + 2 rows; 3 false alarm rows; 6 positive rows.
    assert m["pa_precision"] == pytest.approx(5 / 8)
    assert m["pa_recall"] == pytest.approx(5 / 6)
    assert m["pa_f1"] == pytest.approx(2 * (5 / 8) * (5 / 6) / (5 / 8 + 5 / 6))
    assert m["windows"] == 3 and m["window_recall"] == pytest.approx(2 / 3)
    assert m["window_precision"] == pytest.approx(2 / 4)  # alarms: a3, a6, b0, b5-6
    assert m["false_alarms_per_1000"] == pytest.approx(1000 * 3 / 14)
    predicted = pd.DataFrame({"prediction": flag.astype(float), "anomaly_score": flag * 0.9})
    scored = evaluation.score(ProblemType.ANOMALY_DETECTION, pd.Series(y), predicted, days, entity)
    assert scored["f1"] == pytest.approx(4 / 11)  # tp 2, fp 3, fn 4: 2tp / (2tp + fp + fn)
    assert scored["window_recall"] == m["window_recall"]
    assert "window_recall" not in evaluation.score(ProblemType.ANOMALY_DETECTION, pd.Series(y), predicted)


def test_windows_of_one_entity_split_on_a_gap_and_across_entities():
    m = evaluation.incident_metrics(
        np.array([1, 1, 0, 1]), np.array([0, 0, 0, 1]), pd.Series(pd.date_range("2025-01-01", periods=4))
    )
    assert m["windows"] == 2 and m["window_recall"] == 0.5 and math.isnan(m["window_precision"]) is False


def test_anomaly_score_is_one_minus_p_where_budgets_live_and_orders_far_beyond():
    from health_monitor.sdk.detectors import anomaly_score

    p = np.array([1.0, 0.5, 1 / 30, 1e-6])
    assert anomaly_score(np.log(p)) == pytest.approx(1 - p, abs=1e-15)
    deep = anomaly_score(-np.array([20.0, 40.0, 400.0, 4e6]))
    assert np.all(np.diff(deep) > 0) and deep.max() < 1.0 and deep.min() > 1 - 1e-6


def test_tail_evidence_is_bounded_per_feature_and_sums_over_features():
    train = _normal_days(999, seed=4)
    scorer = TailEvidence().fit(train)
    beyond = pd.DataFrame({"a": [100.0, 100.0, -100.0], "b": [0.0, 100.0, -100.0]})
    evidence = scorer.evidence(beyond)
    assert evidence[0, 0] == pytest.approx(np.log(1000))  # beyond every training row: log(n + 1)
    assert evidence[2].tolist() == [0.0, 0.0]  # below every training row: nothing
    assert scorer.score_samples(beyond)[1] == pytest.approx(-2 * np.log(1000))
    with pytest.raises(ValueError, match="at least one training row"):
        TailEvidence().fit(train.iloc[:0])


@pytest.mark.parametrize("budget", [0.5, 1.0, 3.0])
def test_tail_evidence_calibrated_meets_the_budget_over_several_accounts(budget):
    """Summed over features, the evidence of normal rows is smooth (a sum of unit exponentials),
    so the calibrated cut lands on the budget: within 1.5 times on each of five draws, and
    within 15% on their mean."""
    ratios = []
    for seed in range(5):
        train = _normal_days(6000, seed=10 + seed, heavy=True)
        fresh = _normal_days(20000, seed=50 + seed, heavy=True)
        detector = CalibratedDetector(TailEvidence(), alarm_budget=budget).fit(train)
        ratios.append((detector.predict(fresh) == -1).mean() / (budget / 30))
    assert all(1 / 1.5 <= r <= 1.5 for r in ratios) and 0.85 <= np.mean(ratios) <= 1.15, ratios


def _count_days(rows: int, seed: int) -> pd.DataFrame:
    """User-days of count features: mostly zero, so most rows tie. A count drawn around each
    row's own usual rate (0.1 a day on average, some users far more), the same count again (two
    measures of one thing, as denied requests and failed logins are), the count above the usual
    rate (which breaks ties), a rare event and a feature that never moves."""
    rng = np.random.default_rng(seed)
    usual = rng.gamma(0.5, 0.2, size=rows)
    count = rng.poisson(usual)
    return pd.DataFrame(
        {
            "count": count,
            "above_usual": count - usual,
            "count_again": count,
            "rare": rng.poisson(0.002, size=rows),
            "never": np.zeros(rows),
        }
    )


@pytest.mark.parametrize("budget", [0.05, 0.2, 1.0])
def test_tail_evidence_on_count_data_meets_the_budget(budget):
    """Counts make the rare end of the score lumpy: a block of near-tied rows (one count), a gap,
    a cluster (two counts). A tail fitted from the 95th percentile saw only the block and missed
    by 0.9 to 2.2 times (0.05), 1.6 to 1.7 (0.2), 0.6 to 0.7 (1); the plotting positions read the
    cut from the rows wherever 10,000 calibration rows reach the budget."""
    ratios = []
    for seed in range(5):
        train, fresh = _count_days(40000, seed=10 + seed), _count_days(100000, seed=50 + seed)
        detector = CalibratedDetector(TailEvidence(), alarm_budget=budget).fit(train)
        ratios.append((detector.predict(fresh) == -1).mean() / (budget / 30))
    assert all(1 / 1.5 <= r <= 1.5 for r in ratios) and 0.8 <= np.mean(ratios) <= 1.2, ratios


def test_a_score_many_rows_tie_on_is_never_inside_the_cut():
    """The budget's rate (3.3%) falls inside a tie (5% of calibration rows share one score, and
    ten are stranger): every row of the tie keeps their shared ``p``, the cut is above the tie."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"a": np.where(rng.random(8000) < 0.05, 3.0, rng.uniform(-1, 1, 8000))})
    X.loc[7990:, "a"] = np.linspace(5, 9, 10)  # a few stranger rows among the calibration rows
    detector = CalibratedDetector(RobustZMax(), alarm_budget=1.0).fit(X)  # 3.3% of days
    tied = detector.tail_probability(pd.DataFrame({"a": [3.0]}))[0]
    assert tied == pytest.approx(((X["a"].iloc[6000:] >= 3.0).sum()) / 2001)
    assert detector.predict(pd.DataFrame({"a": [2.99, 3.0, 4.9]})).tolist() == [1, 1, -1]
    assert 3.0 < detector.threshold_ * detector.scorer_.scale_[0] + detector.scorer_.median_[0] < 5.0


def test_a_budget_normal_days_cannot_spend_is_reported_as_a_ceiling():
    """Like a table's daily schema snapshots: 99.5% of normal rows are unchanged (all zero), so a
    budget of 1 alarm a month (33.3 per 1,000) can spend at most the 0.5% that differ. Training
    reports the budget, what is reachable, and warns; on new days like them the detector flags
    no unchanged row and does flag a change it never saw."""
    from health_monitor.pipelines.train import alarm_budget

    rng = np.random.default_rng(5)
    changed = rng.random(20000) < 0.005
    X = pd.DataFrame({"dropped": np.where(changed, rng.integers(1, 3, 20000), 0).astype(float)})
    detector = CalibratedDetector(RobustZMax(), alarm_budget=1.0).fit(X)
    share = (X["dropped"].iloc[15000:] > 0).mean()
    assert detector.reachable_rate_ == pytest.approx(share)
    fresh = pd.DataFrame({"dropped": [0.0] * 1000 + [5.0]})
    assert (detector.predict(fresh) == -1).tolist() == [False] * 1000 + [True]
    metrics, warnings = alarm_budget(detector)
    assert metrics["alarm_budget_per_1000"] == pytest.approx(1000 / 30)
    assert metrics["alarms_reachable_per_1000"] == pytest.approx(1000 * share)
    (warning,) = warnings
    assert "cannot be spent" in warning and f"at most {1000 * share:.1f} per 1,000" in warning

    varied = CalibratedDetector(RobustZMax(), alarm_budget=1.0).fit(_normal_days(8000))
    assert varied.reachable_rate_ > 0.99
    assert alarm_budget(varied)[1] == []
    assert alarm_budget(IsolationForest()) == ({}, [])
