"""Unit tests of the quality plugin's own estimator and output columns (no Spark)."""

import numpy as np
import pandas as pd
from sklearn.base import clone

from health_monitor_quality.estimators import HistogramOutlierScore
from health_monitor_quality.models import (
    CHANGE_INPUTS,
    SCHEMA_CHANGE_PREDICTOR,
    change_risk,
    degradation_risk,
    drift_details,
    freshness_risk,
)


def test_histogram_outlier_score_flags_values_never_seen_in_training():
    rng = np.random.default_rng(0)
    X = np.zeros((1000, 3))
    X[:5, 0] = 1  # a change of a kind seen a few times
    X[:, 2] = rng.normal(size=1000)
    model = clone(HistogramOutlierScore(contamination=0.01)).fit(X)
    rows = np.array([[0, 0, 0.0], [1, 0, 0.0], [0, 2, 0.0], [0, 0, 50.0]])
    assert model.predict(rows).tolist() == [1, -1, -1, -1]
    scores = model.score_samples(rows)
    assert scores[0] > scores[1] > scores[2]  # seen 5 times is less strange than never


def test_histogram_outlier_score_on_constant_training_data():
    model = HistogramOutlierScore().fit(np.zeros((50, 2)))
    assert model.predict(np.array([[0, 0], [0, 1]])).tolist() == [1, -1]


def test_drift_details_names_the_kind_of_change():
    features = pd.DataFrame(
        {
            "columns_added": [0, 1, 0, 0, 1],
            "columns_dropped": [0, 0, 1, 0, 1],
            "columns_retyped": [0, 0, 0, 2, 0],
            "columns_made_required": [0, 0, 0, 0, None],
        }
    )
    out = drift_details(features, pd.DataFrame(index=range(5)))
    assert out["drift_type"].tolist() == ["none", "column_added", "column_dropped", "type_changed", "mixed"]
    assert out["columns_changed"].tolist() == [0, 1, 1, 2, 2]


def test_risk_bands():
    fresh = freshness_risk(
        pd.DataFrame({"expected_commit_interval_hours": [24.0, 24.0, None]}),
        pd.DataFrame({"prediction": [30.0, 10.0, 3.0], "prediction_p90": [40.0, 26.0, 4.0]}),
    )
    assert fresh["freshness_risk"].tolist() == ["high", "medium", "low"]
    change = change_risk(pd.DataFrame(index=range(3)), pd.DataFrame({"probability": [0.2, 0.02, 0.001]}))
    assert change["risk_level"].tolist() == ["high", "medium", "low"]
    degradation = degradation_risk(
        pd.DataFrame({"healthy_ratio_floor": [0.68, 0.68, None]}),
        pd.DataFrame({"prediction": [0.3, 0.9, 1.0], "prediction_p10": [0.2, 0.6, 0.9]}),
    )
    assert degradation["degradation_risk"].tolist() == ["high", "medium", "low"]


def test_the_schema_change_estimator_trains_when_no_fold_can_rank():
    """On a short history the few changes cannot make XGBoost split (``min_child_weight=5``), so
    every fold's model is constant. The model still trains, rather than failing the run
    (sklearn's TunedThresholdClassifierCV raised here, on ``demo --days 45``), and flags no
    table rather than every table (its guard: at most three times the change rate)."""
    X = pd.DataFrame(0.0, index=range(300), columns=list(CHANGE_INPUTS))
    y = np.zeros(300, dtype=int)
    y[::25] = 1  # 12 changes in 300 table-days
    model = SCHEMA_CHANGE_PREDICTOR.estimator().fit(X, y)
    assert model.predict(X).sum() == 0
    assert np.allclose(model.predict_proba(X)[:, 1], y.mean(), atol=0.01)
