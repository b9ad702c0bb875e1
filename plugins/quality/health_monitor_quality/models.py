"""Quality models."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F
from sklearn.compose import TransformedTargetRegressor
from xgboost import XGBRegressor

from health_monitor.baselines import LastValueRegressor
from health_monitor.featurekit import with_next_day
from health_monitor.specs import Lookup, Model, ProblemType, Tables


def table_days(tables: Tables):
    """Every table-day with a check, plus the next day for each table, looked up as of the day before."""
    days = (
        tables.gold("fact_data_quality_monitoring_table_results")
        .select("table_full_name", F.to_date("event_time").alias("check_date"))
        .distinct()
    )
    return with_next_day(days, "table_full_name", "check_date")


FRESHNESS_INPUTS = (
    "hours_since_last_commit",
    "avg_staleness_7d",
    "std_staleness_7d",
    "max_staleness_30d",
    "stale_rate_30d",
    "was_stale",
    "upstream_failed",
    "upstream_failure_rate_7d",
    "upstream_end_hour",
    "upstream_avg_end_hour_7d",
    "upstream_end_hour_delay",
    "median_staleness_7d",
    "median_staleness_14d",
    "min_staleness_7d",
    "stale_days_7d",
    "num_downstream_tables",
    "day_of_week",
)

MIN_HOURS = 0.01  # a commit right at the check: keep the log finite


def _log_hours(y):
    return np.log(np.maximum(y, MIN_HOURS))


def _freshness_estimator():
    # Staleness is a few hours on most days and ~a day when the writer fails or runs late. MAPE
    # punishes over-prediction of a normal day far more than missing a stale one, so fit the
    # absolute error of log hours (the median ratio) rather than squared error of hours (the mean).
    xgb = XGBRegressor(
        objective="reg:absoluteerror",
        n_estimators=300,
        max_depth=4,
        learning_rate=0.05,
        subsample=0.8,
        n_jobs=2,
        random_state=0,
    )
    return TransformedTargetRegressor(
        regressor=xgb, func=_log_hours, inverse_func=np.exp, check_inverse=False
    )


DATA_FRESHNESS_PREDICTOR = Model(
    name="data_freshness_predictor",
    domain="quality",
    problem_type=ProblemType.REGRESSION,
    keys=("table_full_name", "check_date"),
    time_column="check_date",
    lookups=(
        Lookup(
            "freshness_features",
            ("table_full_name",),
            FRESHNESS_INPUTS,
            timestamp_lookup_key="as_of_date",
            rename=(("hours_since_last_commit", "staleness_prev_day"),),
        ),
    ),
    base=table_days,
    estimator=_freshness_estimator,
    baseline=lambda: LastValueRegressor(column="staleness_prev_day"),
    baseline_name="last value: yesterday's hours since last commit",
    description="Hours since a table's last commit at tomorrow's check, from what was known today.",
)
