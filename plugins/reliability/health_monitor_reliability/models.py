"""Reliability models: failure, duration, SLA breach, retry success and pipeline health."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import functions as F
from xgboost import XGBClassifier, XGBRegressor

from health_monitor.sdk import (
    F1ThresholdClassifier,
    HistoryRateClassifier,
    LastValueRegressor,
    Lookup,
    Model,
    ProblemType,
    RelativeRegressor,
    Tables,
)
from health_monitor.sdk.featurekit import with_next_day
from health_monitor_reliability.baselines import (
    OwnHistoryClassifier,
    StrongerRuleClassifier,
    StrongerRuleRegressor,
)
from health_monitor_reliability.run_features import ACTIVE_DAYS, started_runs
from health_monitor_reliability.runs import job_runs

MEDIUM_RISK_PROBABILITY = 0.1  # below the decision threshold, still at least a 1-in-10 chance


# The keys of a day on (job days, run starts) need this many days of runs before it: a day's own
# runs, and for the next day or run, whether the job ran within ACTIVE_DAYS before it.
ACTIVE_LOOKBACK_DAYS = ACTIVE_DAYS + 1


def job_days(tables: Tables):
    """Every day a job ran, plus the day after its last run (the day to forecast), each looked
    up as of the day before."""
    days = job_runs(tables).select("job_id", "run_date").distinct()
    return with_next_day(days, "job_id", "run_date", active_within_days=ACTIVE_DAYS)


def sla_job_days(tables: Tables):
    """Job days of the jobs that have an SLA."""
    return job_days(tables).join(
        tables.gold("dim_job_sla").select("job_id").distinct(), "job_id", "left_semi"
    )


def failed_runs(tables: Tables):
    """Every failed run, scored when it ended; daily history is looked up as of the day before."""
    failed = job_runs(tables).where(F.col("failed") == 1)
    return failed.select(
        "run_id",
        "job_id",
        F.to_date("end_time").alias("failed_date"),
        F.date_sub(F.to_date("end_time"), 1).alias("as_of_date"),
    )


def _xgb_classifier():
    return XGBClassifier(
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


def _guarded_classifier():
    # Pick the F1 threshold on out-of-fold probabilities, never flagging more than 3x the base rate.
    return F1ThresholdClassifier(_xgb_classifier(), cv=3, max_positive_ratio=3.0)


def risk_level(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """HIGH when the model flags the row, MEDIUM when the probability is still 10% or more."""
    flagged = predicted["prediction"].to_numpy() >= 1
    medium = predicted["probability"].to_numpy() >= MEDIUM_RISK_PROBABILITY
    return pd.DataFrame({"risk_level": np.where(flagged, "HIGH", np.where(medium, "MEDIUM", "LOW"))})


# -- job_failure_predictor ---------------------------------------------------------------------

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

JOB_FAILURE_PREDICTOR = Model(
    name="job_failure_predictor",
    endpoint="/job-failure-risk",  # the design documents' real-time endpoint
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("job_id", "run_date"),
    time_column="run_date",
    lookups=(
        Lookup("reliability_features", ("job_id",), FAILURE_FEATURES, timestamp_lookup_key="as_of_date"),
    ),
    base=job_days,
    lookback_days=ACTIVE_LOOKBACK_DAYS,
    estimator=_guarded_classifier,
    baseline=lambda: HistoryRateClassifier(column="rolling_failure_rate_30d"),
    baseline_name="the job's own 30-day failure rate, threshold tuned on training rows",
    description="Probability that a job has a failed run on a day, from what was known the day before.",
    outputs=(("risk_level", "string"),),
    enrich=risk_level,
    notes=(
        "Many failures come from per-run randomness that no feature of the day before can see; "
        "what the day before does show is a job's peak memory climbing towards its limit, a "
        "recent edit or runtime upgrade, and its upstream jobs' failures. The F1 threshold is guarded (at most 3x the training failure rate flagged) so that at "
        "small scale, with few failed days to tune on, it does not collapse to flagging every "
        "job-day."
    ),
)

# -- run_failure_predictor -------------------------------------------------------------------

RUN_FAILURE_FEATURES = (
    "is_retry",
    "hour_of_day",
    "day_of_week",
    "runs_before",
    "failure_rate_all",
    "failure_rate_last_runs",
    "failure_rate_7d",
    "runs_7d",
    "failures_7d",
    "runs_24h",
    "failures_24h",
    "retries_7d",
    "retry_failures_7d",
    "last_run_failed",
    "consecutive_failed_runs",
    "hours_since_failure",
    "hours_since_last_run",
    "hours_since_job_edit",
    "max_retries",
    "task_count",
    "dbr_version_num",
    "hours_on_runtime",
    "last_run_peak_mem",
    "memory_pressure_rate_7d",
    "upstream_jobs",
    "upstreams_waiting",
    "upstream_failures_24h",
)
# The two naive rules: the job's run-history failure rate, and "repeat the last outcome".
RUN_FAILURE_RULES = ("failure_rate_all", "last_run_failed")


def run_starts(tables: Tables):
    """Every started run (finished or still running), scored as of its start."""
    return started_runs(tables).select("job_id", "run_id", "start_date")


def per_run(features: tuple[str, ...]) -> dict:
    """What a model of runs at their start declares: its keys and base, and ``features`` of
    run_start_features looked up as of the start."""
    return {
        "keys": ("job_id", "run_id", "start_date"),
        "time_column": "start_date",
        "entity": ("job_id",),  # a row is a run; the job is what training has seen before
        "lookups": (
            Lookup("run_start_features", ("job_id", "run_id"), features, timestamp_lookup_key="start_date"),
        ),
        "base": run_starts,
        "lookback_days": ACTIVE_LOOKBACK_DAYS,
    }


RUN_FAILURE_PREDICTOR = Model(
    name="run_failure_predictor",
    endpoint="/run-failure-risk",
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    **per_run(RUN_FAILURE_FEATURES),
    estimator=_guarded_classifier,
    baseline=lambda: StrongerRuleClassifier(columns=RUN_FAILURE_RULES),
    baseline_name=(
        "the stronger on the training rows (F1) of two rules: the job's failure rate over its runs that "
        "ended before the start, and repeating the job's last outcome"
    ),
    description=(
        "Probability that one job run fails, from what was known when it started: the job's runs that "
        "had ended by then (their outcomes and peak memory), its last edit, its cluster's runtime, the "
        "hour, and whether the jobs that write the tables it reads had succeeded yet that day."
    ),
    outputs=(("risk_level", "string"),),
    enrich=risk_level,
    notes=(
        "The unit is the run, not the job-day: a job that runs every few minutes gets a prediction "
        "per run, from the runs that ended before it started (a run still running when another "
        "starts is not in that run's history)."
    ),
)

# -- job_duration_forecaster -------------------------------------------------------------------

DURATION_REFERENCES = (
    "success_duration_median_7d",
    "last_success_duration_sec",
    "success_duration_median_28d",
)
DURATION_FEATURES = (
    *DURATION_REFERENCES,
    "success_avg_duration_sec",
    "duration_trend_7d_28d",
    "duration_cv_28d",
    "avg_duration_sec",
    "rolling_avg_duration_30d",
    "runs_per_day_7d",
    "total_runs",
    "failure_rate",
    "avg_mem_used_percent",
    "peak_mem_7d",
    "days_since_job_change",
    "days_since_dbr_upgrade",
    "upstream_end_hour_delay",
    "task_count",
    "day_of_week",
    "next_day_of_week",
    "next_is_month_end",
)


def _duration_xgb():
    # The absolute error of log(duration / usual duration): the conditional median ratio, which
    # suits a relative error metric and ignores the rare 10x runaway day.
    return XGBRegressor(
        n_estimators=300,
        max_depth=4,
        min_child_weight=5,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        objective="reg:absoluteerror",
        n_jobs=2,
        random_state=0,
    )


def _duration_estimator():
    return RelativeRegressor(_duration_xgb(), reference=DURATION_REFERENCES, relative_weights=True)


JOB_DURATION_FORECASTER = Model(
    name="job_duration_forecaster",
    domain="reliability",
    problem_type=ProblemType.REGRESSION,
    keys=("job_id", "run_date"),
    time_column="run_date",
    lookups=(
        Lookup("reliability_features", ("job_id",), DURATION_FEATURES, timestamp_lookup_key="as_of_date"),
    ),
    base=job_days,
    lookback_days=ACTIVE_LOOKBACK_DAYS,
    estimator=_duration_estimator,
    baseline=lambda: LastValueRegressor(column="success_duration_median_7d"),
    baseline_name="the median of the job's successful-run days over the last 7 days",
    description=(
        "Mean duration (seconds) of a job's successful runs on a day, from what was known the day "
        "before, with an 80% interval (P10-P90)."
    ),
    notes=(
        "May miss the MAPE <= 15% goal: most rows are daily jobs with one run a day, whose "
        "duration varies log-normally run to run, a noise floor no feature of the day before "
        "removes; jobs with many runs a day do much better."
    ),
)

# -- run_duration_forecaster -------------------------------------------------------------------

# The job's usual duration, tried in order: over its whole history (the steadiest), its last 10
# runs, its last successful run.
RUN_DURATION_REFERENCES = (
    "success_duration_avg_all",
    "success_duration_avg_last_runs",
    "last_success_duration_sec",
)
# The naive rules: repeat the last successful run's duration, or the mean of the successful runs
# among the last 10, over 7 days or over the job's whole history.
RUN_DURATION_RULES = (
    "last_success_duration_sec",
    "success_duration_avg_last_runs",
    "success_duration_avg_7d",
    "success_duration_avg_all",
)
RUN_DURATION_RECENT = (
    "success_duration_avg_7d",
    "success_duration_avg_last_runs",
    "last_success_duration_sec",
)
RUN_DURATION_FEATURES = (
    *RUN_DURATION_REFERENCES,
    "success_duration_avg_7d",
    "last_run_duration_sec",
    "is_retry",
    "hour_of_day",
    "day_of_week",
    "days_to_month_end",
    "runs_before",
    "runs_7d",
    "runs_24h",
    "failure_rate_7d",
    "last_run_failed",
    "hours_since_last_run",
    "hours_since_job_edit",
    "task_count",
    "dbr_version_num",
    "hours_on_runtime",
    "last_run_peak_mem",
    "memory_pressure_rate_7d",
    "upstreams_waiting",
)


def _run_duration_estimator():
    # The recent durations also enter as ratios to the usual one: a job slowing down shows there.
    return RelativeRegressor(_duration_xgb(), reference=RUN_DURATION_REFERENCES, scaled=RUN_DURATION_RECENT)


RUN_DURATION_FORECASTER = Model(
    name="run_duration_forecaster",
    endpoint="/run-duration-forecast",
    domain="reliability",
    problem_type=ProblemType.REGRESSION,
    **per_run(RUN_DURATION_FEATURES),
    estimator=_run_duration_estimator,
    baseline=lambda: StrongerRuleRegressor(columns=RUN_DURATION_RULES),
    baseline_name=(
        "the stronger on the training rows (MAPE) of four rules: the duration of the job's last successful "
        "run, and the mean of its successful runs among the last 10, over 7 days and over its history, "
        "all among the runs that ended before the start"
    ),
    description=(
        "Duration (seconds) of one job run if it succeeds, from what was known when it started, with "
        "an 80% interval (P10-P90)."
    ),
    notes=(
        "The unit is the run, not the job-day: a job that runs every few minutes gets a forecast "
        "per run, from the runs that ended before it started. Failed runs are not labelled (they "
        "stop early); a run still running is scored, and so is each active job's next run."
    ),
)

# -- sla_breach_predictor ----------------------------------------------------------------------

SLA_FEATURES = (
    "sla_breached",
    "sla_breaches",
    "sla_breached_days_7d",
    "sla_breached_days_30d",
    "sla_breach_day_rate_all",
    "days_since_sla_breach",
    "max_duration_sla_ratio",
    "duration_sla_ratio_max_7d",
    "min_end_margin_hours",
    "end_margin_hours_min_7d",
    "has_deadline",
    "sla_duration_seconds",
    "success_duration_median_7d",
    "duration_trend_7d_28d",
    "end_hour_delay",
    "upstream_end_hour_delay",
    "upstream_failed",
    "prev_day_failed",
    "failed_days_7d",
    "days_since_job_change",
    "runs_per_day_7d",
    "next_day_of_week",
    "next_is_month_end",
)

SLA_BREACH_PREDICTOR = Model(
    name="sla_breach_predictor",
    endpoint="/sla-breach-risk",  # the design documents' real-time endpoint
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("job_id", "run_date"),
    time_column="run_date",
    lookups=(Lookup("reliability_features", ("job_id",), SLA_FEATURES, timestamp_lookup_key="as_of_date"),),
    base=sla_job_days,
    lookback_days=ACTIVE_LOOKBACK_DAYS,
    estimator=_guarded_classifier,
    baseline=lambda: OwnHistoryClassifier(column="sla_breached_days_7d", scale=7.0),
    baseline_name="the job's own SLA breach days over the last 7 days, threshold tuned on training rows",
    description=(
        "Probability that a run of a job breaches its SLA (dim_job_sla duration or deadline hour) on a "
        "day, from what was known the day before."
    ),
    outputs=(("risk_level", "string"),),
    enrich=risk_level,
    notes=(
        "May stay far from its F1 goal: breaches are rare and most are one-off runs over the "
        "duration limit; only multi-day causes (queued runs, duration regressions) show the day "
        "before, so the model mostly catches the days after a first breach."
    ),
)

# -- retry_success_predictor -------------------------------------------------------------------

RETRY_RUN_FEATURES = (
    "is_retry",
    "timed_out",
    "error_state",
    "term_execution_error",
    "term_driver_error",
    "duration_vs_usual",
    "peak_mem_used_percent",
    "memory_pressure",
    "failures_24h",
    "runs_24h",
    "consecutive_failed_runs",
    "retries_before",
    "retry_success_rate_before",
    "retry_failures_7d",
    "last_retry_succeeded",
    "hours_since_job_edit",
    "hour_of_day",
)
RETRY_JOB_FEATURES = (
    "failed_day_rate_all",
    "rolling_failure_rate_30d",
    "consecutive_failed_days",
    "upstream_failed",
    "upstream_failed_days_7d",
    "max_retries",
)
AUTO_RETRY_PROBABILITY = 0.5
INVESTIGATE_PROBABILITY = 0.2


def recommended_action(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """AUTO_RETRY when a retry likely succeeds, INVESTIGATE when it likely fails, else RETRY_AND_WATCH."""
    p = predicted["probability"].to_numpy()
    action = np.where(
        p >= AUTO_RETRY_PROBABILITY,
        "AUTO_RETRY",
        np.where(p < INVESTIGATE_PROBABILITY, "INVESTIGATE", "RETRY_AND_WATCH"),
    )
    return pd.DataFrame({"recommended_action": action})


RETRY_SUCCESS_PREDICTOR = Model(
    name="retry_success_predictor",
    endpoint="/retry-success",  # the design documents' real-time endpoint
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("run_id",),
    time_column="failed_date",
    fixed_time=True,  # the day a run failed never moves: the daily run scores only the recent days' failures
    lookups=(
        Lookup("failed_run_features", ("run_id",), RETRY_RUN_FEATURES, timestamp_lookup_key="failed_date"),
        Lookup("reliability_features", ("job_id",), RETRY_JOB_FEATURES, timestamp_lookup_key="as_of_date"),
    ),
    base=failed_runs,
    # A failed run is known by its final slice of the timeline, which starts at most an hour
    # before the run ended: a day of Gold before the first day scored holds it.
    lookback_days=1,
    estimator=lambda: F1ThresholdClassifier(_xgb_classifier(), cv=3, max_positive_ratio=3.0),
    baseline=lambda: OwnHistoryClassifier(column="retry_success_rate_before"),
    baseline_name="the job's own retry success rate before the failure, threshold tuned on training rows",
    description="Probability that retrying a failed job run succeeds, from what was known when it failed.",
    outputs=(("recommended_action", "string"),),
    enrich=recommended_action,
    notes=(
        "Most retries succeed, so F1 of the success class is high for any rule that retries "
        "nearly everything: model and baseline may tie on F1 and differ in ranking (ROC AUC). "
        "Failed retries are mostly per-run chance on flaky or memory-bound jobs."
    ),
)

# -- pipeline_health_scorer --------------------------------------------------------------------

HEALTH_FEATURES = (
    "failed_day_rate_30d",
    "failed_day_rate_all",
    "failed_days_7d",
    "consecutive_failed_days",
    "days_since_last_failure",
    "prev_day_failed",
    "recent_failure_rate_7d",
    "incident",
    "incident_days_7d",
    "incident_days_30d",
    "days_since_incident",
    "sla_breached_days_30d",
    "sla_breach_day_rate_all",
    "duration_sla_ratio_max_7d",
    "end_margin_hours_min_7d",
    "duration_cv_28d",
    "duration_trend_7d_28d",
    "retry_success_rate_all",
    "max_retries",
    "runs_per_day_7d",
    "days_since_job_change",
    "upstream_failed_days_7d",
    "memory_pressure_rate_7d",
    "has_deadline",
)
HEALTH_OUTPUTS = (
    ("health_score", "double"),
    ("health_status", "string"),
    ("failure_score", "double"),
    ("duration_stability_score", "double"),
    ("sla_score", "double"),
    ("recovery_score", "double"),
)
SLA_BREACH_DAYS_TO_ZERO = 5.0  # breached days in 30 that bring the SLA score to 0
HEALTHY_SCORE = 80.0


def _column(features: pd.DataFrame, name: str, default: float) -> np.ndarray:
    values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype="float64")
    return np.where(np.isnan(values), default, values)


def health_components(features: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The 0-100 health score (100 x the probability of no incident in the next 7 days), its
    status, and the component scores a person reads it by (each 0-100, higher is healthier)."""
    score = 100.0 * (1.0 - predicted["probability"].to_numpy(dtype="float64"))
    flagged = predicted["prediction"].to_numpy() >= 1
    status = np.where(flagged, "CRITICAL", np.where(score < HEALTHY_SCORE, "WARNING", "HEALTHY"))
    failure = 100.0 * (1.0 - np.clip(_column(features, "failed_day_rate_30d", 0.0), 0, 1))
    drift = np.maximum(_column(features, "duration_trend_7d_28d", 1.0) - 1.0, 0.0)
    stability = 100.0 * np.clip(1.0 - _column(features, "duration_cv_28d", 0.0) - drift, 0, 1)
    sla = 100.0 * np.clip(
        1.0 - _column(features, "sla_breached_days_30d", 0.0) / SLA_BREACH_DAYS_TO_ZERO, 0, 1
    )
    recovery = 100.0 * np.clip(_column(features, "retry_success_rate_all", 1.0), 0, 1)
    return pd.DataFrame(
        {
            "health_score": np.round(score, 1),
            "health_status": status,
            "failure_score": np.round(failure, 1),
            "duration_stability_score": np.round(stability, 1),
            "sla_score": np.round(sla, 1),
            "recovery_score": np.round(recovery, 1),
        }
    )


PIPELINE_HEALTH_SCORER = Model(
    name="pipeline_health_scorer",
    domain="reliability",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("job_id", "run_date"),
    time_column="run_date",
    lookups=(
        Lookup("reliability_features", ("job_id",), HEALTH_FEATURES, timestamp_lookup_key="as_of_date"),
    ),
    base=job_days,
    lookback_days=ACTIVE_LOOKBACK_DAYS,
    estimator=_guarded_classifier,
    baseline=lambda: OwnHistoryClassifier(column="failed_day_rate_30d"),
    baseline_name="the job's own share of failed days over 30 days, threshold tuned on training rows",
    description=(
        "A job's 0-100 health score: 100 x the probability of no incident day (last run failed or an SLA "
        "breach) in the next 7 days, with failure, duration stability, SLA and recovery component scores."
    ),
    outputs=HEALTH_OUTPUTS,
    enrich=health_components,
    notes=(
        "Evaluated as a classifier of an incident day in the next 7 days; the component scores "
        "are fixed rules over the same features, shown for reading, not evaluated."
    ),
)

MODELS = (
    JOB_FAILURE_PREDICTOR,
    RUN_FAILURE_PREDICTOR,
    JOB_DURATION_FORECASTER,
    RUN_DURATION_FORECASTER,
    SLA_BREACH_PREDICTOR,
    RETRY_SUCCESS_PREDICTOR,
    PIPELINE_HEALTH_SCORER,
)
