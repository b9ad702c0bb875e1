"""The ceiling arithmetic of benchmarks/bench_ceilings.py (issue 14, item 7): fast, no Spark,
no simulation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ceilings.py"
_spec = importlib.util.spec_from_file_location("bench_ceilings", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_ceilings", bench)  # its dataclasses look their module up
_spec.loader.exec_module(bench)


def test_expected_f1_of_hand_made_probabilities():
    # Flag the two 0.9s: TP 1.8, FP 0.2, FN 0.2 + 0.1 + 0.1 = 0.4, F1 = 3.6 / (3.6 + 0.6).
    # Flagging the 0.2 too: TP 2.0, FP 1.0, FN 0.2: F1 = 4 / 5.2, lower. None: 0.
    p = np.array([0.9, 0.2, 0.9, 0.1, 0.1])
    c = bench.best_expected_f1(p)
    assert c.flagged == 2
    assert c.threshold == pytest.approx(0.9)
    assert c.expected_f1 == pytest.approx(3.6 / 4.2)


def test_certain_labels_give_f1_one_and_a_coin_gives_the_flag_everything_f1():
    assert bench.best_expected_f1(np.array([1.0, 0.0, 1.0, 0.0])).expected_f1 == pytest.approx(1.0)
    # Equal probabilities cannot be split: flag all, F1 = 2p / (1 + p).
    c = bench.best_expected_f1(np.full(100, 0.01))
    assert c.flagged == 100
    assert c.expected_f1 == pytest.approx(2 * 0.01 / 1.01)


def test_expected_f1_matches_the_mean_f1_of_simulated_draws():
    rng = np.random.default_rng(1)
    p = rng.beta(0.3, 3.0, 20_000)
    c = bench.best_expected_f1(p)
    flag = p >= c.threshold
    draws = [bench._f1(rng.random(len(p)) < p, flag) for _ in range(50)]
    assert np.mean(draws) == pytest.approx(c.expected_f1, abs=0.01)


def test_realized_f1_is_scored_at_the_chosen_threshold():
    p = np.array([0.8, 0.8, 0.3, 0.05])
    y = np.array([1, 0, 1, 0])
    c = bench.best_expected_f1(p, y)
    assert c.threshold == pytest.approx(0.8)
    assert c.realized_f1 == pytest.approx(2 * 1 / (2 + 2))


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match="probabilities"):
        bench.best_expected_f1(np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="one label per"):
        bench.best_expected_f1(np.array([0.5, 0.2]), np.array([1]))


def test_mape_optimal_point_is_the_inverse_weighted_median():
    # Draws 1, 2, 4 with weights 1, 1/2, 1/4: half the weight (0.875) is reached at 1.
    assert bench.mape_optimal_point(np.array([[4.0, 1.0, 2.0]]))[0] == pytest.approx(1.0)
    # Missing draws are ignored; a row with none gives NaN.
    out = bench.mape_optimal_point(np.array([[np.nan, 3.0, np.nan], [np.nan, np.nan, np.nan]]))
    assert out[0] == pytest.approx(3.0)
    assert np.isnan(out[1])


def test_lognormal_floor_matches_the_best_point_on_draws():
    sigma = 0.3
    rng = np.random.default_rng(2)
    y = np.exp(rng.normal(0, sigma, 400_000))
    best = np.exp(-(sigma**2))  # the minimiser of E|y - f| / y for a log-normal
    assert bench.mape(y, np.full(len(y), best)) == pytest.approx(bench.lognormal_mape_floor(sigma), abs=0.003)
    for other in (best * 0.9, best * 1.1):
        assert bench.mape(y, np.full(len(y), other)) > bench.lognormal_mape_floor(sigma)


def test_the_time_split_takes_the_latest_quarter_of_distinct_days():
    assert bench.test_cutoff(np.repeat(np.arange(8), 3)) == 6
