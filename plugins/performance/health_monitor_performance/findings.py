"""When a performance prediction is a finding (the ``register_findings`` hook).

Three models have no rule, because their forecasts cross nothing a person acts on:
``query_performance_forecaster`` (a statement's duration before it runs; slowdowns are
``performance_regression_detector``'s), ``cluster_capacity_planner`` (peak workers; no
workspace capacity or quota is known to compare them with) and ``cache_hit_predictor`` (the
share of statements served from the result cache; no target exists)."""

from __future__ import annotations

from health_monitor.sdk import FindingRule
from health_monitor.sdk.findingkit import choose, is_set, number, numeric, text

# Statements flagged a day can run into the hundreds: keep the likeliest few.
MAX_STATEMENTS_A_DAY = 5
DOWNSIZE_STEPS = 2  # one size down is within the forecast's noise; two or more is a saving
# A mis-sized warehouse stays mis-sized day after day: keep the largest mismatches (up first).
WAREHOUSES_A_DAY = 5

WAREHOUSE_SIZE = FindingRule(
    model="warehouse_optimizer",
    when=lambda rows: (numeric(rows, "size_steps") > 0) | (numeric(rows, "size_steps") <= -DOWNSIZE_STEPS),
    entity=("warehouse_id",),
    entity_kind="warehouse",
    severity=lambda rows: choose([numeric(rows, "size_steps") > 0], ["medium"], "low"),
    reason=lambda rows: (
        "tomorrow's statements need "
        + rows["recommended_size"].astype(str)
        + " against the current "
        + rows["current_size"].astype(str)
        + " ("
        + number(rows["size_steps"])
        + " size steps; expected p90 execution "
        + number(rows["expected_p90_exec_s"], 1)
        + " s at that size)"
    ),
    action=lambda rows: choose(
        [numeric(rows, "size_steps") > 0],
        ["size the warehouse up (its statements miss the p90 target at the current size)"],
        "size the warehouse down: the same statements meet the p90 target at the smaller size",
    ),
    score=lambda rows: numeric(rows, "size_steps").abs() / 10.0,
    columns=("size_steps", "recommended_size", "current_size", "expected_p90_exec_s"),
    max_per_day=WAREHOUSES_A_DAY,
)

QUERY_OPTIMIZATION = FindingRule(
    model="query_optimization_recommender",
    when=lambda rows: is_set(rows, "prediction") & (rows["recommendation"].astype(str) != "none"),
    entity=("statement_id",),
    entity_kind="statement",
    severity="low",
    reason=lambda rows: (
        "statement started "
        + text(rows["start_time"]).str.slice(0, 16)
        + " is likely to need optimizing (probability "
        + number(rows["probability"], 2)
        + ")"
    ),
    action=lambda rows: rows["recommendation"].astype(str),
    columns=("prediction", "probability", "recommendation"),
    max_per_day=MAX_STATEMENTS_A_DAY,
)

MIGRATION = FindingRule(
    model="dbr_migration_risk_scorer",
    when=lambda rows: is_set(rows, "prediction"),
    entity=("job_id",),
    entity_kind="job",
    severity=lambda rows: choose([rows["risk_level"] == "HIGH"], ["medium"], "low"),
    reason=lambda rows: (
        "likely to fail after its runtime upgrade (risk score "
        + number(rows["risk_score"])
        + "/100, "
        + rows["risk_level"].astype(str).str.lower()
        + ")"
    ),
    action="test the job on the new Databricks Runtime before the upgrade, or pin its current runtime",
    columns=("prediction", "probability", "risk_score", "risk_level"),
)

REGRESSION = FindingRule(
    model="performance_regression_detector",
    when=lambda rows: is_set(rows, "is_anomaly"),
    entity=("warehouse_id",),
    entity_kind="warehouse",
    severity=lambda rows: choose([numeric(rows, "anomaly_score") >= 0.999], ["high"], "medium"),
    reason=lambda rows: (
        "statements on "
        + text(rows["date"])
        + " slower or heavier than the warehouse's own 14 days before (anomaly score "
        + number(rows["anomaly_score"], 4)
        + ")"
    ),
    action="compare the day's slowest recurring queries with their history (query profile); check "
    "for a resize down, data growth or a changed query",
    columns=("is_anomaly", "anomaly_score", "date"),
)

RULES = (WAREHOUSE_SIZE, QUERY_OPTIMIZATION, MIGRATION, REGRESSION)
