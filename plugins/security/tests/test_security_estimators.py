import numpy as np
import pandas as pd
from sklearn.base import clone

from health_monitor.sdk import CalibratedDetector, TailEvidence
from health_monitor_security.detectors import NonAdminGrantRule
from health_monitor_security.outputs import deviation_outputs, privilege_outputs
from health_monitor_security.regressors import RelativeErrorRegressor


def _honest_days(rows=5000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"volume": rng.poisson(10, rows), "tables": rng.poisson(3, rows), "exports": np.zeros(rows)}
    ).astype("float64")


def test_tail_evidence_ranks_a_day_high_on_several_measures_above_one_extreme_on_one():
    X = _honest_days()
    probe = pd.DataFrame(
        {"volume": [10.0, 500.0, 30.0], "tables": [3.0, 3.0, 15.0], "exports": [0.0, 0.0, 5.0]}
    )
    scores = clone(TailEvidence()).fit(X).score_samples(probe)
    # one measure far beyond every honest day adds log(n + 1) at most; three beyond it add three times that
    assert scores[0] > scores[1] > scores[2]
    detector = clone(CalibratedDetector(TailEvidence(), alarm_budget=0.2)).fit(X)
    assert detector.predict(probe)[[0, 2]].tolist() == [1, -1]


def test_non_admin_grant_rule_spares_known_admins():
    X = pd.DataFrame({"admin_group_grants": [0.0, 1.0, 1.0], "is_known_admin": [0.0, 0.0, 1.0]})
    rule = NonAdminGrantRule().fit(X)
    assert rule.predict(X).tolist() == [1, -1, 1]


def test_relative_error_regressor_predicts_below_the_mean_of_skewed_counts():
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(1)
    y = 1.0 + rng.poisson(3, 400)
    X = pd.DataFrame({"x": np.ones(400)})
    model = RelativeErrorRegressor(QuantileRegressor(quantile=0.5, alpha=0.0)).fit(X, y)
    assert 1.0 <= model.predict(X)[0] <= y.mean()


def test_deviation_score_is_null_for_a_day_not_yet_seen():
    features = pd.DataFrame({"actual_events": [10.0, 40.0, np.nan]})
    predicted = pd.DataFrame(
        {
            "prediction": [10.0, 10.0, 10.0],
            "prediction_p10": [5.0, 5.0, 5.0],
            "prediction_p90": [20.0, 20.0, 20.0],
        }
    )
    out = deviation_outputs(features, predicted)
    assert out["deviation_score"].iloc[0] == 0.0
    assert out["deviation_score"].iloc[1] > 3 and bool(out["deviation_alert"].iloc[1])
    assert np.isnan(out["deviation_score"].iloc[2]) and not bool(out["deviation_alert"].iloc[2])


def test_privilege_outputs_name_the_most_serious_action():
    features = pd.DataFrame(
        {
            "admin_group_grants": [1.0, 0.0, 0.0],
            "self_grants": [2.0, 0.0, 0.0],
            "permission_changes": [2.0, 1.0, 0.0],
            "admin_grants_by_non_admin": [1.0, 0.0, 0.0],
            "privilege_by_non_admin": [3.0, 1.0, 0.0],
        }
    )
    predicted = pd.DataFrame({"is_anomaly": [1.0, 0.0, 0.0], "anomaly_score": [1.0, 0.5, 0.1]})
    out = privilege_outputs(features, predicted)
    assert out["suspicious_action"].tolist() == ["admin_group_grant", "permission_change", "none"]
    assert out["risk_level"].tolist() == ["critical", "medium", "low"]
