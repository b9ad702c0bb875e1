"""Performance models."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F
from sklearn.compose import TransformedTargetRegressor
from xgboost import XGBRegressor

from health_monitor.baselines import LastValueRegressor
from health_monitor.specs import Lookup, Model, ProblemType, Tables

QUERY_FEATURES = (
    "query_text_length",
    "join_count",
    "subquery_count",
    "has_aggregation",
    "has_window_function",
    "statement_type_code",
    "hour_of_day",
    "day_of_week",
    "is_peak_hours",
    "query_historical_avg_s",
    "prev_duration_s",
    "query_history_count",
    "historical_bytes_read",
    "historical_spill_bytes",
    "warehouse_recent_queries_10m",
    "warehouse_size_code",
    "warehouse_max_clusters",
    "is_serverless",
)


def statements(tables: Tables):
    q = tables.gold("fact_query_history").where(F.col("warehouse_id").isNotNull())
    return q.select("statement_id", "start_time")


def _duration_estimator():
    # Durations span milliseconds to hours: fit on log seconds so relative errors count alike.
    xgb = XGBRegressor(
        n_estimators=400, max_depth=6, learning_rate=0.05, subsample=0.8, n_jobs=2, random_state=0
    )
    return TransformedTargetRegressor(regressor=xgb, func=np.log1p, inverse_func=np.expm1)


QUERY_PERFORMANCE_FORECASTER = Model(
    name="query_performance_forecaster",
    domain="performance",
    problem_type=ProblemType.REGRESSION,
    keys=("statement_id",),
    time_column="start_time",
    lookups=(Lookup("query_features", ("statement_id",), QUERY_FEATURES),),
    base=statements,
    estimator=_duration_estimator,
    baseline=lambda: LastValueRegressor(column="prev_duration_s"),
    baseline_name="last value: the previous run of the same query fingerprint",
    description="Duration in seconds of a SQL statement, predicted before it runs.",
)
