"""The SDK's shared estimators: the sklearn contract, the behaviour of the plugin copies they
replaced, and the old pickles of those copies still loading.

``tests/data/sdk_estimators_golden.json`` holds what the plugin copies predicted on the data
below and ``tests/data/legacy_estimator_pickles.json`` small fitted instances of them, both made
with the copies' code at ee9923d (cost, reliability and performance ``estimators``/``relative``/
``thresholds`` modules) just before they were removed.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from xgboost import XGBClassifier, XGBRegressor

from health_monitor.sdk import F1ThresholdClassifier, RelativeRegressor

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "sdk_estimators_golden.json").read_text())
LEGACY = json.loads((DATA / "legacy_estimator_pickles.json").read_text())


def regression_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Levels over orders of magnitude, targets above 1 relative to them, and references that are
    missing, zero or negative on some rows (for both columns on a few)."""
    rng = np.random.default_rng(seed)
    level = np.exp(rng.normal(3, 1.5, n))
    shift = rng.normal(size=n)
    y = 1.0 + level * np.exp(0.3 * shift + 0.2 * rng.normal(size=n))
    ref, ref2 = level.copy(), level * rng.uniform(0.8, 1.2, n)
    ref[::11], ref[5::13], ref[7::17] = np.nan, 0.0, -1.0
    ref2[::22] = np.nan
    X = pd.DataFrame({"ref": ref, "ref2": ref2, "shift": shift, "spent": rng.uniform(0, 50, n)})
    return X, y


def classification_frame(n: int = 600, rate: float = 0.08, signal: float = 1.0, seed: int = 1):
    """Rare positives that depend on ``x`` with strength ``signal`` (0: pure noise)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x", "u", "v"])
    score = signal * X["x"].to_numpy() + rng.normal(size=n)
    y = (score >= np.quantile(score, 1 - rate)).astype(int)
    return X, y


def _xgb_abs(**params) -> XGBRegressor:
    base = dict(objective="reg:absoluteerror", n_estimators=60, max_depth=3, min_child_weight=5)
    return XGBRegressor(**{**base, "learning_rate": 0.1, "n_jobs": 1, "random_state": 0, **params})


def _xgb_clf() -> XGBClassifier:
    return XGBClassifier(n_estimators=40, max_depth=2, learning_rate=0.1, n_jobs=1, random_state=0)


# How each plugin built its copy, and the SDK estimator that replaces it.
REGRESSORS = {
    # cost: RelativeRegressor(reference="ref") and its default XGBoost
    "cost_default": lambda: RelativeRegressor(reference="ref"),
    "cost_offset": lambda: RelativeRegressor(reference="ref", offset="spent"),
    "cost_weights": lambda: RelativeRegressor(
        reference="ref", relative_weights=True, weight_range=(0.05, 20.0)
    ),
    # reliability: RelativeRegressor(xgb, references=("ref", "ref2")), mape_weights on by default
    "reliability": lambda: RelativeRegressor(_xgb_abs(), reference=("ref", "ref2"), relative_weights=True),
    "reliability_unweighted": lambda: RelativeRegressor(_xgb_abs(), reference=("ref", "ref2")),
    # performance: RelativeToColumnRegressor(xgb, reference="ref", scaled=("ref2",))
    "performance": lambda: RelativeRegressor(_xgb_abs(), reference="ref", scaled=("ref2",)),
}
CLASSIFIERS = {
    # reliability: GuardedThresholdClassifier(xgb, cv=3, max_positive_ratio=...)
    "guarded_signal": (lambda: F1ThresholdClassifier(_xgb_clf(), max_positive_ratio=3.0), {}),
    "guarded_noise": (
        lambda: F1ThresholdClassifier(_xgb_clf(), max_positive_ratio=1.0),
        {"signal": 0.0, "rate": 0.04},
    ),
    "guarded_fallback": (
        lambda: F1ThresholdClassifier(_xgb_clf(), max_positive_ratio=0.01),
        {"signal": 0.0, "rate": 0.04},
    ),
    # performance: F1ThresholdClassifier(xgb, folds=...): 50-99.5% quantiles, no guard
    "f1_signal": (lambda: F1ThresholdClassifier(_xgb_clf(), quantiles=(0.5, 0.995, 80)), {}),
    "f1_noise": (
        lambda: F1ThresholdClassifier(_xgb_clf(), cv=4, quantiles=(0.5, 0.995, 80)),
        {"signal": 0.0, "rate": 0.04},
    ),
}


@pytest.mark.parametrize("case", sorted(REGRESSORS))
def test_relative_regressor_predicts_as_the_plugin_copy_did(case):
    X, y = regression_frame(n=160)
    target = y + X["spent"].to_numpy() if case == "cost_offset" else y
    model = REGRESSORS[case]().fit(X, target)
    assert model.fallback_ == pytest.approx(GOLDEN[case]["fallback"], rel=1e-12)
    # Weights are float32 inside XGBoost; the old reliability copy computed them as exp(-log ratio).
    np.testing.assert_allclose(model.predict(X), GOLDEN[case]["predictions"], rtol=1e-6)


@pytest.mark.parametrize("case", sorted(CLASSIFIERS))
def test_f1_threshold_classifier_decides_as_the_plugin_copy_did(case):
    make, data = CLASSIFIERS[case]
    X, y = classification_frame(**data)
    model = make().fit(X, y)
    assert model.threshold_ == pytest.approx(GOLDEN[case]["threshold"], rel=1e-9)
    assert np.flatnonzero(model.predict(X)).tolist() == GOLDEN[case]["flagged_rows"]


@pytest.mark.parametrize("path", sorted(LEGACY))
def test_models_pickled_under_a_plugins_old_class_path_still_load(path):
    """A model logged to MLflow before the move unpickles (by its old module path) into the SDK
    class, predicts what it did, and has the SDK parameters (so ``get_params`` and ``clone`` work)."""
    module, name = path.rsplit(".", 1)
    legacy = LEGACY[path]
    model = pickle.loads(bytes.fromhex(legacy["bytes"]))
    assert type(model).__module__ == module and type(model).__name__ == name
    sdk_class = RelativeRegressor if "Regressor" in name else F1ThresholdClassifier
    assert isinstance(model, sdk_class)
    X = regression_frame(n=160)[0] if sdk_class is RelativeRegressor else classification_frame()[0]
    np.testing.assert_allclose(model.predict(X), legacy["predictions"], rtol=1e-12)
    assert set(model.get_params(deep=False)) == set(sdk_class().get_params(deep=False))
    twin = clone(model)
    assert twin.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    # Pickled again, it loads by the same path.
    assert type(pickle.loads(pickle.dumps(model))) is type(model)


def test_old_pickles_keep_their_settings():
    load = {path: pickle.loads(bytes.fromhex(v["bytes"])) for path, v in LEGACY.items()}
    cost = load["health_monitor_cost.estimators.RelativeRegressor"]
    assert (cost.reference, cost.relative_weights, cost.weight_range) == ("ref", True, (0.05, 20.0))
    reliability = load["health_monitor_reliability.estimators.RelativeRegressor"]
    assert (reliability.reference, reliability.relative_weights) == (("ref", "ref2"), True)
    assert reliability.regressor_ is not None and not hasattr(reliability, "estimator_")
    performance = load["health_monitor_performance.relative.RelativeToColumnRegressor"]
    assert (performance.reference, performance.scaled, performance.offset) == ("ref", ("ref2",), None)
    guarded = load["health_monitor_reliability.estimators.GuardedThresholdClassifier"]
    assert (guarded.max_positive_ratio, guarded.quantiles) == (3.0, (0.0, 1.0, 201))
    f1 = load["health_monitor_performance.thresholds.F1ThresholdClassifier"]
    assert (f1.cv, f1.quantiles, f1.max_positive_ratio) == (3, (0.5, 0.995, 80), None)


def test_relative_regressor_follows_the_sklearn_contract():
    X, y = regression_frame()
    model = RelativeRegressor(LinearRegression(), reference="ref2", offset="spent", scaled=("ref2",))
    twin = clone(model)
    assert twin.get_params() == model.get_params() | {"regressor": twin.regressor}
    with pytest.raises(NotFittedError):
        twin.predict(X)
    X = X.fillna(1.0)
    assert twin.fit(X, y + X["spent"]) is twin
    assert not hasattr(model, "regressor_")


def test_relative_regressor_scales_with_its_reference():
    rng = np.random.default_rng(0)
    ref = np.exp(rng.normal(3, 2, 400))  # levels over orders of magnitude
    X = pd.DataFrame({"ref": ref, "noise": rng.normal(size=400)})
    model = RelativeRegressor(LinearRegression(), reference="ref").fit(X, 1.5 * ref)
    np.testing.assert_allclose(model.predict(X), 1.5 * ref, rtol=1e-9)


def test_relative_regressor_takes_the_first_positive_reference_then_the_fallback():
    X = pd.DataFrame({"a": [np.nan, 0.0, 4.0, -1.0], "b": [2.0, 3.0, 5.0, np.inf]})
    model = RelativeRegressor(DummyRegressor(), reference=("a", "b", "missing")).fit(X, [2.0, 3.0, 4.0, 8.0])
    assert model.fallback_ == 3.5
    np.testing.assert_allclose(model._reference(X), [2.0, 3.0, 4.0, 3.5])
    with pytest.raises(KeyError, match="'a' or 'b'"):
        model.predict(X.drop(columns=["a", "b"]))


def test_relative_regressor_floors_zero_targets_relative_to_their_level():
    """A zero target is floored at 1e-6 of the fallback, so its log ratio does not depend on the
    target's unit (the cost and performance copies floored at 1e-6 of a unit)."""
    X = pd.DataFrame({"ref": [100.0, 100.0, 100.0, 100.0]})
    model = RelativeRegressor(LinearRegression(), reference="ref").fit(X, [0.0, 100.0, 200.0, 300.0])
    assert model.fallback_ == 200.0
    np.testing.assert_allclose(model.regressor_.predict(X), np.mean(np.log([200e-6 / 100, 1, 2, 3])))


def test_relative_weights_are_the_reference_over_the_target():
    seen = {}

    class Recorder(LinearRegression):
        def fit(self, X, y, sample_weight=None):
            seen["weights"] = sample_weight
            return super().fit(X, y, sample_weight=sample_weight)

    X = pd.DataFrame({"ref": [10.0, 10.0, 10.0, 10.0]})
    y = [1000.0, 10.0, 5.0, 0.01]
    RelativeRegressor(Recorder(), reference="ref", relative_weights=True).fit(X, y)
    np.testing.assert_allclose(seen["weights"], [0.01, 1.0, 2.0, 1000.0])
    RelativeRegressor(Recorder(), reference="ref", relative_weights=True, weight_range=(0.05, 20.0)).fit(X, y)
    np.testing.assert_allclose(seen["weights"], np.array([0.05, 1.0, 2.0, 20.0]) / 5.7625)
    RelativeRegressor(Recorder(), reference="ref").fit(X, y)
    assert seen["weights"] is None


def test_f1_threshold_classifier_follows_the_sklearn_contract():
    model = F1ThresholdClassifier(_xgb_clf(), max_positive_ratio=2.0)
    twin = clone(model)
    assert twin.get_params()["max_positive_ratio"] == 2.0 and not hasattr(twin, "threshold_")
    X, y = classification_frame()
    with pytest.raises(NotFittedError):
        twin.predict(X)
    assert twin.fit(X, y) is twin
    assert twin.predict_proba(X).shape == (len(X), 2)


def test_f1_threshold_classifier_guard_never_flags_everything_on_noise():
    X, y = classification_frame(n=2000, rate=0.04, signal=0.0)
    model = F1ThresholdClassifier(_xgb_clf(), max_positive_ratio=3.0).fit(X, y)
    assert model.predict(X).mean() <= 3.0 * y.mean() + 0.01


def test_f1_threshold_classifier_keeps_half_with_too_few_positives():
    X, y = classification_frame(n=40, rate=0.025)  # one positive: no two folds
    assert F1ThresholdClassifier(_xgb_clf()).fit(X, y).threshold_ == 0.5


def test_a_model_that_ranks_nothing_flags_nothing_under_the_guard():
    """Constant probabilities tie every row at the fallback's cut (the top positive-rate share):
    the guard flags the rows above it, none, not every row."""
    X, y = classification_frame(n=300, rate=0.04)  # 12 positives: 4 a fold, the same rate in each
    model = F1ThresholdClassifier(DummyClassifier(strategy="prior"), max_positive_ratio=3.0).fit(X, y)
    assert model.predict(X).sum() == 0
    assert F1ThresholdClassifier(DummyClassifier(strategy="prior")).fit(X, y).predict(X).all()  # no guard


def test_rare_positives_get_a_threshold_near_their_rate():
    """With 0.12% positives, one step of the default quantile grid (0.5% of rows) is wider than the
    positive rate: the 99.5% quantile flags four times the rate, too many for the guard (3x), and
    the only other candidate, the maximum, flags one row.
    The candidates near the rate find the threshold that flags about as many rows as positives."""
    rng = np.random.default_rng(0)
    n = 20_000
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 24, replace=False)] = 1
    X = pd.DataFrame({"signal": y * 3.0 + rng.normal(0, 1, n), "noise": rng.normal(0, 1, n)})
    model = F1ThresholdClassifier(LogisticRegression(), max_positive_ratio=3.0).fit(X, y)
    flagged = model.predict(X)
    assert 10 <= flagged.sum() <= 3 * y.sum()
    assert (flagged & y).sum() >= 5
