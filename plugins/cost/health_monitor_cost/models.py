"""Cost models."""

from __future__ import annotations

from sklearn.ensemble import IsolationForest

from health_monitor.baselines import ZScoreRule
from health_monitor.specs import Lookup, Model, ProblemType, Tables


def _workspace_days(tables: Tables):
    return tables.features("cost_features").select("workspace_id", "usage_date")


COST_ANOMALY_DETECTOR = Model(
    name="cost_anomaly_detector",
    domain="cost",
    problem_type=ProblemType.ANOMALY_DETECTION,
    keys=("workspace_id", "usage_date"),
    time_column="usage_date",
    lookups=(
        Lookup(
            "cost_features",
            ("workspace_id", "usage_date"),
            (
                "z_score_7d",
                "dbu_change_pct_7d",
                "cost_vs_30d_ratio",
                "cost_per_dbu_vs_7d",
                "sku_count_change_7d",
                "untagged_cost_pct",
                "all_purpose_share",
                "is_weekend",
            ),
        ),
    ),
    base=_workspace_days,
    estimator=lambda: IsolationForest(n_estimators=200, contamination=0.03, random_state=0),
    baseline=lambda: ZScoreRule(column="z_score_7d", threshold=3.0),
    baseline_name="z-score > 3 on daily cost vs the prior 7 days",
    description="Unusual daily spend of a workspace against its own recent history.",
)
