"""Performance models."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F
from sklearn.compose import TransformedTargetRegressor
from xgboost import XGBClassifier, XGBRegressor

from health_monitor.sdk import (
    CalibratedDetector,
    F1ThresholdClassifier,
    HistoryRateClassifier,
    LastValueRegressor,
    Lookup,
    Model,
    ProblemType,
    RelativeRegressor,
    Tables,
    ZScoreRule,
)
from health_monitor.sdk.featurekit import with_next_day
from health_monitor_performance.detectors import UpwardShiftDetector
from health_monitor_performance.features import STATEMENT_LATE_DAYS
from health_monitor_performance.outputs import (
    cache_outlook,
    capacity_recommendation,
    migration_risk,
    optimization_advice,
    warehouse_recommendation,
)

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
    endpoint="/query-forecast",  # the design documents' real-time endpoint
    domain="performance",
    problem_type=ProblemType.REGRESSION,
    keys=("statement_id",),
    time_column="start_time",
    lookups=(Lookup("query_features", ("statement_id",), QUERY_FEATURES),),
    base=statements,
    # A statement keeps its start and reaches Gold up to STATEMENT_LATE_DAYS after it; a day's
    # statements need no Gold before that day.
    fixed_time=True,
    late_days=STATEMENT_LATE_DAYS,
    lookback_days=0,
    estimator=_duration_estimator,
    baseline=lambda: LastValueRegressor(column="prev_duration_s"),
    baseline_name="last value: the previous run of the same query fingerprint",
    description="Duration in seconds of a SQL statement, predicted before it runs.",
)


# ---- warehouse-day models -------------------------------------------------------------------

SIZING_FEATURES = (
    "needed_size_code",
    "needed_size_code_7d",
    "needed_size_code_max_7d",
    "needed_size_code_6d_ago",
    "p90_work_s",
    "p90_exec_s",
    "p90_exec_s_7d",
    "warehouse_size_code",
    "warehouse_max_clusters",
    "spill_share",
    "spill_share_7d",
    "queued_share",
    "avg_queue_s",
    "statements",
    "statements_7d",
    "read_gb_per_statement",
    "at_max_clusters",
    "days_since_previous_active",
    "next_day_of_week",
    "next_is_weekend",
)

CACHE_FEATURES = (
    "cache_share",
    "cache_share_7d",
    "cache_share_28d",
    "cache_share_6d_ago",
    "statements",
    "statements_7d",
    "active_hours",
    "p90_exec_s",
    "days_since_previous_active",
    "next_day_of_week",
    "next_is_weekend",
)

REGRESSION_SIGNALS = (
    "max_fingerprint_slowdown",
    "max_fingerprint_bytes_growth",
    "p90_exec_ratio_14d",
    "read_per_statement_ratio_14d",
    "size_change_14d",
    "spill_share",
    "queued_share",
    "at_max_clusters",
)


def warehouse_forecast_days(tables: Tables):
    """Every warehouse-day seen, plus the next day for warehouses active in the last week."""
    days = tables.features("warehouse_day_features").select("warehouse_id", "date")
    return with_next_day(days, "warehouse_id", "date", active_within_days=7)


def warehouse_days_seen(tables: Tables):
    return tables.features("warehouse_day_features").select("warehouse_id", "date")


def _xgb_regressor(**kwargs):
    params = dict(n_estimators=300, max_depth=4, learning_rate=0.05, subsample=0.8, n_jobs=2, random_state=0)
    params.update(kwargs)
    return XGBRegressor(**params)


WAREHOUSE_OPTIMIZER = Model(
    name="warehouse_optimizer",
    endpoint="/warehouse-recommend",  # the design documents' real-time endpoint
    domain="performance",
    problem_type=ProblemType.REGRESSION,
    keys=("warehouse_id", "date"),
    time_column="date",
    lookups=(Lookup("warehouse_day_features", ("warehouse_id",), SIZING_FEATURES, "as_of_date"),),
    base=warehouse_forecast_days,
    estimator=lambda: _xgb_regressor(objective="reg:absoluteerror"),
    baseline=lambda: LastValueRegressor(column="warehouse_size_code"),
    baseline_name="keep the current size: the size in force at the end of the day before",
    description=(
        "The warehouse size (code 1 = 2X_SMALL ... 9 = 4X_LARGE) tomorrow's statements need to keep "
        "their p90 execution time at the target, from the warehouse's recent days; recommends a size."
    ),
    outputs=(
        ("recommended_size", "string"),
        ("current_size", "string"),
        ("size_steps", "int"),
        ("expected_p90_exec_s", "double"),
    ),
    enrich=warehouse_recommendation,
    notes=(
        "The label is a what-if from Gold, not an observed outcome: it assumes execution time "
        "scales inversely with size (each size doubles compute) and ignores queueing, which "
        "scales out with clusters rather than size. With a 30 s p90 target most BI warehouses "
        "need only 2X_SMALL, so the baseline 'keep the current size' is far off; yesterday's "
        "needed size is the strong input."
    ),
)

CACHE_HIT_PREDICTOR = Model(
    name="cache_hit_predictor",
    domain="performance",
    problem_type=ProblemType.REGRESSION,
    keys=("warehouse_id", "date"),
    time_column="date",
    lookups=(Lookup("warehouse_day_features", ("warehouse_id",), CACHE_FEATURES, "as_of_date"),),
    base=warehouse_forecast_days,
    estimator=lambda: _xgb_regressor(n_estimators=200, max_depth=3, objective="reg:absoluteerror"),
    baseline=lambda: LastValueRegressor(column="cache_share"),
    baseline_name="last value: the warehouse's result-cache share on its latest day",
    description="Tomorrow's share of a warehouse's finished statements answered from the result cache.",
    context=("statements_7d",),
    outputs=(("expected_cached_statements", "double"),),
    enrich=cache_outlook,
    notes=(
        "Result-cache hits are a steady share of BI warehouses' statements and zero elsewhere; "
        "day-to-day variation is mostly sampling noise, so any gain over last value comes from "
        "averaging history. MAPE counts only warehouse-days with hits."
    ),
)

# The performance regression detector's alarm budget (HEALTH_MONITOR_ALARM_BUDGET's unit): alarms per
# warehouse per 30 days. A policy, not a fitted value: an account runs three to four times more SQL
# warehouses than workspaces, so 0.25 per warehouse keeps a month's performance alarms at about the
# per-workspace detectors' volume (one per workspace, their default).
PER_WAREHOUSE_ALARM_BUDGET = 0.25

PERFORMANCE_REGRESSION_DETECTOR = Model(
    name="performance_regression_detector",
    domain="performance",
    problem_type=ProblemType.ANOMALY_DETECTION,
    keys=("warehouse_id", "date"),
    time_column="date",
    lookups=(
        Lookup(
            "warehouse_day_features", ("warehouse_id",), (*REGRESSION_SIGNALS, "p90_exec_zscore_14d"), "date"
        ),
    ),
    base=warehouse_days_seen,
    # Alarms at the budget, cut on held-out normal days, not at a fixed share (contamination).
    estimator=lambda: CalibratedDetector(UpwardShiftDetector(), alarm_budget=PER_WAREHOUSE_ALARM_BUDGET),
    baseline=lambda: ZScoreRule(column="p90_exec_zscore_14d", threshold=3.0),
    baseline_name="z-score rule: the day's p90 execution time over 3 sigma of its 14 days before",
    description=(
        "Flags warehouse-days whose statements got slower or heavier against the warehouse's own "
        "14 days before: a recurring query's slowdown or bytes growth, p90 latency, a resize down."
    ),
    context=("p90_exec_zscore_14d",),
    notes=(
        "Scored against ground truth incidents (query_performance_regression, "
        "warehouse_undersized); positives are few, so F1 moves by several points per day. "
        "An isolation forest on upward shifts only (a warehouse that got faster is not an anomaly), "
        "its threshold calibrated on held-out normal days to the alarm budget: the plugin's "
        "PER_WAREHOUSE_ALARM_BUDGET unless HEALTH_MONITOR_ALARM_BUDGET sets another (it used to "
        "flag a fixed share of days, whatever the budget). Job-level duration regressions belong "
        "to the reliability domain. "
        "Its recall per incident type and false alarms in the pooled backtest of "
        "benchmarks/bench_incidents.py are in docs/models.md, performance_regression_detector is "
        "calibrated."
    ),
)

# ---- statement model ------------------------------------------------------------------------

OPTIMIZATION_FEATURES = (
    *QUERY_FEATURES,
    "historical_spill_share",
    "historical_full_scan_share",
    "historical_queue_s",
    "historical_max_duration_s",
    "prev_spilled",
    "prev_full_scan",
    "historical_cache_rate",
)

QUERY_OPTIMIZATION_RECOMMENDER = Model(
    name="query_optimization_recommender",
    domain="performance",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("statement_id",),
    time_column="start_time",
    lookups=(Lookup("query_features", ("statement_id",), OPTIMIZATION_FEATURES),),
    base=statements,
    # A statement keeps its start and reaches Gold up to STATEMENT_LATE_DAYS after it; a day's
    # statements need no Gold before that day.
    fixed_time=True,
    late_days=STATEMENT_LATE_DAYS,
    lookback_days=0,
    estimator=lambda: XGBClassifier(
        n_estimators=200, max_depth=5, learning_rate=0.1, subsample=0.8, n_jobs=2, random_state=0
    ),
    baseline=lambda: HistoryRateClassifier(column="query_historical_avg_s"),
    baseline_name="duration rule: flag a statement whose fingerprint's average duration so far exceeds a threshold tuned for F1",
    description=(
        "Will this statement spill, scan without pruning or run far slower than its history? "
        "Flags it before it runs, with the optimisation its history points to."
    ),
    outputs=(("recommendation", "string"),),
    enrich=optimization_advice,
    notes=(
        "The recommendation text is a rule on the statement's history (spill, full scans, queueing, "
        "cache hits), not a learned multi-label output. ETL warehouses never prune in the simulator, "
        "so most of their statements are labelled full scans."
    ),
)

# ---- workspace-day model --------------------------------------------------------------------

CAPACITY_FEATURES = (
    "peak_workers",
    "avg_workers",
    "worker_hours",
    "peak_clusters",
    "avg_cpu_percent",
    "peak_mem_percent",
    "peak_workers_6d_ago",
    "peak_workers_13d_ago",
    "peak_workers_7d",
    "peak_workers_max_7d",
    "peak_workers_std_7d",
    "peak_workers_28d",
    "peak_workers_median_28d",
    "peak_workers_same_weekday_4w",
    "worker_hours_7d",
    "next_day_of_week",
    "next_is_weekend",
    "next_is_month_end",
)


# Level features the capacity model also sees relative to yesterday's peak.
CAPACITY_LEVELS = (
    "peak_workers_6d_ago",
    "peak_workers_13d_ago",
    "peak_workers_7d",
    "peak_workers_max_7d",
    "peak_workers_28d",
    "peak_workers_median_28d",
    "peak_workers_same_weekday_4w",
)


def workspace_forecast_days(tables: Tables):
    days = tables.features("workspace_capacity_features").select("workspace_id", "date")
    return with_next_day(days, "workspace_id", "date")


CLUSTER_CAPACITY_PLANNER = Model(
    name="cluster_capacity_planner",
    domain="performance",
    problem_type=ProblemType.REGRESSION,
    keys=("workspace_id", "date"),
    time_column="date",
    lookups=(Lookup("workspace_capacity_features", ("workspace_id",), CAPACITY_FEATURES, "as_of_date"),),
    base=workspace_forecast_days,
    estimator=lambda: RelativeRegressor(
        _xgb_regressor(n_estimators=200, max_depth=3, objective="reg:absoluteerror"),
        reference="peak_workers",
        scaled=CAPACITY_LEVELS,
    ),
    baseline=lambda: LastValueRegressor(column="peak_workers"),
    baseline_name="last value: yesterday's peak worker count (it beats the same weekday last week here)",
    description=(
        "Tomorrow's peak worker nodes (busiest clock hour) over a workspace's classic clusters, "
        "with an 80% interval; recommends the workers to plan for (the P90)."
    ),
    outputs=(("recommended_workers", "int"),),
    enrich=capacity_recommendation,
    notes=(
        "Workspaces' fleets shift level (backfills, runaway jobs), so the model predicts the "
        "change against yesterday's peak. Last value is the baseline because it beats the same "
        "weekday last week on the simulated account; the model tends to miss the same spike days "
        "as last value, so its MAE may not beat it even where its MAPE does. The P10-P90 interval"
        " aims at the 80% +/- 5 coverage goal."
    ),
)

# ---- job model ------------------------------------------------------------------------------

MIGRATION_FEATURES = (
    "days_since_dbr_change",
    "failure_rate_30d",
    "failure_rate_all",
    "failures_7d",
    "runs_30d",
    "duration_cv_30d",
    "log_mean_duration_30d",
    "dbr_version_num",
    "dbr_changes",
    "job_age_days",
    "task_count",
    "max_retries",
    "has_timeout",
    "is_scheduled",
    "job_versions",
)


ROLLOUT_DAYS_BEFORE = 7  # a workspace's rollout window: from this many days before its first runtime change
ROLLOUT_DAYS_AFTER = 14  # to this many days after its last one


def rollout_job_days(tables: Tables):
    """The days of classic jobs during their workspace's runtime rollouts (labelled), plus, for
    inference, the day after the latest for jobs still on an older runtime than the newest one
    running in the account."""
    days = tables.features("job_runtime_features").where(F.col("dbr_version_num").isNotNull())
    changes = days.where(F.col("days_since_dbr_change") == 0)
    windows = changes.groupBy("workspace_id").agg(
        F.date_sub(F.min("date"), ROLLOUT_DAYS_BEFORE).alias("first"),
        F.date_add(F.max("date"), ROLLOUT_DAYS_AFTER).alias("last"),
    )
    during = (
        days.join(windows, "workspace_id")
        .where(F.col("date").between(F.col("first"), F.col("last")))
        .select("job_id", "date")
    )
    horizon = days.agg(F.max("date").alias("horizon"))
    latest = (
        days.groupBy("job_id")
        .agg(F.max("date").alias("last"), F.max_by("dbr_version_num", "date").alias("dbr"))
        .crossJoin(horizon)
        .where(F.col("last") >= F.date_sub("horizon", 14))
    )
    newest = latest.agg(F.max("dbr").alias("newest"))
    pending = (
        latest.crossJoin(newest)
        .where(F.col("dbr") < F.col("newest"))
        .select("job_id", F.date_add("horizon", 1).alias("date"))
    )
    return during.unionByName(pending).distinct().withColumn("as_of_date", F.date_sub("date", 1))


def _migration_estimator():
    # Regressed days are rare: the decision threshold is tuned for F1 on out-of-fold training rows.
    return F1ThresholdClassifier(
        XGBClassifier(
            n_estimators=150, max_depth=3, learning_rate=0.05, min_child_weight=5, n_jobs=2, random_state=0
        ),
        quantiles=(0.5, 0.995, 80),  # never flags more than half the rows
    )


DBR_MIGRATION_RISK_SCORER = Model(
    name="dbr_migration_risk_scorer",
    domain="performance",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("job_id", "date"),
    time_column="date",
    lookups=(Lookup("job_runtime_features", ("job_id",), MIGRATION_FEATURES, "as_of_date"),),
    base=rollout_job_days,
    estimator=_migration_estimator,
    baseline=lambda: HistoryRateClassifier(column="failure_rate_30d"),
    baseline_name="own history: the job's 30-day failure rate, threshold tuned for F1",
    description=(
        "Risk that a job fails more or slows down on a day of its workspace's runtime (DBR) rollout, "
        "given whether and how recently its own runtime changed; jobs still on an older runtime are "
        "scored for the next day."
    ),
    outputs=(("risk_score", "int"), ("risk_level", "string")),
    enrich=migration_risk,
    notes=(
        "May not beat its baseline: which jobs are sensitive to a runtime upgrade is not visible "
        "in Gold before the upgrade, and runtime changes are rare in the simulated account, so "
        "the label is dominated by ordinary failures that the job's own failure rate already "
        "predicts. A day-of-change row only sees the change from the next day on (features are as"
        " of the day before)."
    ),
)
