"""Reliability models."""

from __future__ import annotations

from sklearn.model_selection import TunedThresholdClassifierCV
from xgboost import XGBClassifier

from health_monitor.baselines import HistoryRateClassifier
from health_monitor.featurekit import with_next_day
from health_monitor.specs import Lookup, Model, ProblemType, Tables
from health_monitor_reliability.runs import job_runs


def job_days(tables: Tables):
    """Every day a job ran, plus the day after its last run (the day to forecast), each looked
    up as of the day before."""
    days = job_runs(tables).select("job_id", "run_date").distinct()
    return with_next_day(days, "job_id", "run_date", active_within_days=7)  # jobs still active


FAILURE_FEATURES = (
    "rolling_failure_rate_30d",
    "recent_failure_rate_7d",
    "total_failures_30d",
    "prev_day_failed",
    "failure_rate",
    "total_runs",
    "runs_per_day_7d",
    "failed_days_3d",
    "failed_days_7d",
    "failed_days_30d",
    "failed_day_rate_30d",
    "failed_day_rate_all",
    "run_days_all",
    "consecutive_failed_days",
    "days_since_last_failure",
    "avg_duration_sec",
    "duration_cv",
    "rolling_avg_duration_30d",
    "rolling_repair_rate_30d",
    "avg_mem_used_percent",
    "peak_mem_7d",
    "memory_pressure_rate_7d",
    "avg_cpu_wait_percent",
    "dbr_upgraded_7d",
    "days_since_dbr_upgrade",
    "days_since_job_change",
    "end_hour_delay",
    "upstream_jobs",
    "upstream_failed",
    "upstream_failed_days_7d",
    "upstream_end_hour_delay",
    "task_count",
    "max_retries",
    "day_of_week",
)


def _failure_estimator():
    xgb = XGBClassifier(
        n_estimators=200,
        max_depth=3,
        min_child_weight=5,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        eval_metric="logloss",
        n_jobs=2,
        random_state=0,
    )
    # Failures are rare: pick the probability threshold that maximises F1 on training folds.
    return TunedThresholdClassifierCV(xgb, scoring="f1", cv=3, random_state=0)


JOB_FAILURE_PREDICTOR = Model(
    name="job_failure_predictor",
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("job_id", "run_date"),
    time_column="run_date",
    lookups=(
        Lookup("reliability_features", ("job_id",), FAILURE_FEATURES, timestamp_lookup_key="as_of_date"),
    ),
    base=job_days,
    estimator=_failure_estimator,
    baseline=lambda: HistoryRateClassifier(column="rolling_failure_rate_30d"),
    baseline_name="the job's own 30-day failure rate, threshold tuned on training rows",
    description="Probability that a job has a failed run on a day, from what was known the day before.",
)
