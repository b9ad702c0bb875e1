"""ScoringModel: regression intervals, multiclass labels, context features and a model's own columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from health_monitor.errors import SchemaError
from health_monitor.models import evaluation
from health_monitor.models.modeling import ScoringModel
from health_monitor.sdk.specs import Lookup, Model, ProblemType


def _frame(rows=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "budget": 100.0})
    times = pd.Series(pd.date_range("2025-01-01", periods=rows, freq="h"))
    return X, times, rng


def test_regression_interval_covers_about_80_percent_of_unseen_rows():
    X, times, rng = _frame(3000)
    y = np.exp(0.5 * X["a"] + rng.normal(scale=0.3, size=len(X)))
    fitted = ScoringModel.fit(
        LinearRegression(), "regression", X[:2000], np.log(y[:2000]) + 5, times=times[:2000]
    )
    out = fitted.predict(X[2000:])
    metrics = evaluation.score(ProblemType.REGRESSION, np.log(y[2000:]) + 5, out)
    assert 0.72 <= metrics["coverage_p10_p90"] <= 0.88
    assert (out["prediction_p10"] <= out["prediction"]).all() and (
        out["prediction"] <= out["prediction_p90"]
    ).all()


def test_an_interval_that_ignores_the_noise_is_measured_as_narrow():
    X, times, rng = _frame(1000)
    y = 10 + X["a"] + rng.normal(scale=2.0, size=len(X))
    fitted = ScoringModel.fit(LinearRegression(), "regression", X[:800], y[:800], times=times[:800])
    fitted.interval = (-0.1, 0.1)  # pretend the model were sure of itself
    metrics = evaluation.score(ProblemType.REGRESSION, y[800:], fitted.predict(X[800:]))
    assert metrics["coverage_p10_p90"] < 0.5


def test_multiclass_predicts_labels_and_scores_weighted_f1():
    X, _, _ = _frame()
    y = pd.Series(np.where(X["a"] > 0.5, "finance", np.where(X["b"] > 0, "ml", "platform")))
    fitted = ScoringModel.fit(RandomForestClassifier(random_state=0), "multiclass", X, y, inputs=["a", "b"])
    out = fitted.predict(X)
    assert list(out.columns) == ["prediction", "probability", "predicted_class"]
    assert set(out["predicted_class"]) <= {"finance", "ml", "platform"}
    assert fitted.classes[int(out["prediction"][0])] == out["predicted_class"][0]
    metrics = evaluation.score(ProblemType.MULTICLASS, y, out)
    assert metrics["f1"] > 0.9 and metrics["classes"] == 3


def overspend(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"over_budget": (predicted["prediction"] > features["budget"]).astype("int32")})


def test_context_is_not_an_input_but_reaches_enrich():
    X, times, rng = _frame()
    y = 90 + 20 * X["a"]
    fitted = ScoringModel.fit(
        LinearRegression(),
        "regression",
        X,
        y,
        inputs=["a", "b"],
        times=times,
        enrich=overspend,
        outputs=[("over_budget", "int")],
    )
    assert fitted.input_columns == ["a", "b"]
    out = fitted.predict(X)
    assert list(out.columns) == ["prediction", "prediction_p10", "prediction_p90", "over_budget"]
    assert out["over_budget"].tolist() == (out["prediction"] > 100).astype(int).tolist()
    assert {c.feature for row in fitted.explain(X.head(2)) for c in row} <= {"a", "b"}


def test_enrich_that_returns_the_wrong_columns_is_named():
    X, times, _ = _frame()
    fitted = ScoringModel.fit(
        LinearRegression(), "regression", X, X["a"], enrich=overspend, outputs=[("other", "int")]
    )
    with pytest.raises(ValueError, match=r"overspend must return .* \['other'\]"):
        fitted.predict(X)


def _spec(**kw):
    args = dict(
        name="budget_model",
        domain="cost",
        problem_type="regression",
        keys=("k",),
        time_column="t",
        lookups=(Lookup("f", ("k",), ("a", "b", "budget")),),
        base=lambda t: None,
        estimator=LinearRegression,
        baseline=LinearRegression,
        baseline_name="x",
    )
    return Model(**{**args, **kw})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"context": ("nope",)}, "context .*nope.* are not features"),
        ({"context": ("a", "b", "budget")}, "every feature is context"),
        ({"outputs": (("x", "int"),)}, "outputs and enrich go together"),
        ({"outputs": (("x", "float32"),), "enrich": overspend}, "type in"),
        ({"outputs": (("xx", "int"),), "enrich": lambda f, p: f}, "module-level function"),
    ],
)
def test_model_spec_refuses_bad_context_and_outputs(kw, message):
    with pytest.raises(SchemaError, match=message):
        _spec(**kw)


def test_model_spec_input_names_leave_out_context():
    spec = _spec(context=("budget",), outputs=(("over_budget", "int"),), enrich=overspend)
    assert spec.feature_names == ("a", "b", "budget")
    assert spec.input_names == ("a", "b")


def test_entity_coverage_counts_the_test_rows_of_entities_training_never_saw():
    train = pd.DataFrame({"job_id": ["a"] * 8 + ["b"] * 2, "day": range(10)})
    test = pd.DataFrame({"job_id": ["a", "a", "b", "c", "c", "c"], "day": range(10, 16)})
    coverage, seen = evaluation.entity_coverage(train, test, ["job_id"])
    assert list(seen) == [True, True, True, False, False, False]
    assert (coverage.entities, coverage.unseen_entities) == (3, 1)
    assert (coverage.rows, coverage.unseen_rows, coverage.short_rows) == (6, 3, 1)  # b has 2 rows < 7
    assert coverage.metrics()["test_rows_unseen_share"] == 0.5
    assert "50% of the test rows are about entities with no training row (1 of 3)" in coverage.warning()
    # Every test entity known: no warning; an account-level model (no entity column): no coverage.
    known, _ = evaluation.entity_coverage(train, test[test.job_id != "c"], ["job_id"])
    assert known.warning() is None and known.seen == 1.0
    assert evaluation.entity_coverage(train, test, []) is None
