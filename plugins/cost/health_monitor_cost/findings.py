"""When a cost prediction is a finding (the ``register_findings`` hook).

``chargeback_attribution`` has no rule: it attributes every day's spend to a team, which is
bookkeeping, not something to act on; its table feeds chargeback reports."""

from __future__ import annotations

import pandas as pd

from health_monitor.sdk import FindingRule
from health_monitor.sdk.findingkit import choose, is_set, money, number, numeric, share, text

# A job recommendation saving less than this per run day is not worth a person's attention.
MIN_JOB_SAVINGS_USD = 1.0
HIGH_JOB_SAVINGS_USD = 100.0
# A commitment saves its discount on any steady spend, so every workspace qualifies every day: a
# standing suggestion, not news. Keep the few where it saves the most.
COMMITMENTS_A_DAY = 3


def _cost_anomaly_reason(rows: pd.DataFrame) -> pd.Series:
    return (
        "daily spend unlike the workspace's own prior week (anomaly score "
        + number(rows["anomaly_score"], 3)
        + ", judged on "
        + text(rows["as_of_date"] if "as_of_date" in rows else rows["usage_date"])
        + ")"
    )


COST_ANOMALY = FindingRule(
    model="cost_anomaly_detector",
    when=lambda rows: is_set(rows, "is_anomaly"),
    entity=("workspace_id",),
    entity_kind="workspace",
    severity=lambda rows: choose([numeric(rows, "anomaly_score") >= 0.999], ["high"], "medium"),
    reason=_cost_anomaly_reason,
    action="review the day's largest jobs and longest-running all-purpose clusters in the workspace",
    columns=("is_anomaly", "anomaly_score"),
)


def _budget_flag(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    status = rows["budget_status"].astype(str)
    over_budget = status.isin(["over", "at_risk"])
    over_commit = numeric(rows, "commit_variance") > 0
    return over_budget, over_commit


def _budget_reason(rows: pd.DataFrame) -> pd.Series:
    over_budget, _ = _budget_flag(rows)
    budget = (
        "month forecast "
        + money(rows["prediction"])
        + " (P10 "
        + money(rows["prediction_p10"])
        + ", P90 "
        + money(rows["prediction_p90"])
        + ") against a budget of "
        + money(rows["monthly_budget"])
        + ": "
        + rows["budget_status"].astype(str).str.replace("_", " ")
    )
    commit = (
        "on course to overshoot its share of the commitment by "
        + money(rows["commit_variance"])
        + " (year to date "
        + money(rows["ytd_cost"])
        + " at contract price)"
    )
    return budget.where(over_budget, commit)


BUDGET = FindingRule(
    model="budget_forecaster",
    when=lambda rows: _budget_flag(rows)[0] | _budget_flag(rows)[1],
    entity=("workspace_id",),
    entity_kind="workspace",
    severity=lambda rows: choose(
        [rows["budget_status"] == "over", rows["budget_status"] == "at_risk"], ["high", "medium"], "low"
    ),
    reason=_budget_reason,
    action=lambda rows: choose(
        [_budget_flag(rows)[0]],
        ["find the jobs and warehouses driving this month's spend; raise the budget or cut the spend"],
        "plan the commitment's renewal at the higher pace, or cut the spend that drives it",
    ),
    score=lambda rows: numeric(rows, "budget_variance").fillna(numeric(rows, "commit_variance")) / 1e6,
    columns=("budget_status", "commit_variance", "monthly_budget", "prediction", "ytd_cost"),
    references=("monthly_budget",),
)

COMMITMENT = FindingRule(
    model="commitment_recommender",
    when=lambda rows: numeric(rows, "expected_savings") > 0,
    entity=("workspace_id",),
    entity_kind="workspace",
    severity="low",
    reason=lambda rows: (
        "committing "
        + money(rows["recommended_commit"])
        + " for the next 30 days would save "
        + money(rows["expected_savings"])
        + " (covers "
        + share(rows["commit_coverage"])
        + " of the forecast spend)"
    ),
    action="consider a spend commitment of the recommended amount",
    score=lambda rows: numeric(rows, "expected_savings") / 1e6,
    columns=("recommended_commit", "expected_savings", "commit_coverage"),
    max_per_day=COMMITMENTS_A_DAY,
)

JOB_COST = FindingRule(
    model="job_cost_optimizer",
    when=lambda rows: (
        (rows["recommendation"] != "keep") & (numeric(rows, "estimated_savings") >= MIN_JOB_SAVINGS_USD)
    ),
    entity=("job_id",),
    entity_kind="job",
    severity=lambda rows: choose(
        [numeric(rows, "estimated_savings") >= HIGH_JOB_SAVINGS_USD], ["medium"], "low"
    ),
    reason=lambda rows: (
        rows["recommendation"].astype(str).str.replace("_", " ")
        + " would save about "
        + money(rows["estimated_savings"])
        + " of its "
        + money(rows["prediction"])
        + " forecast cost on its next run day"
    ),
    action=lambda rows: choose(
        [rows["recommendation"] == "move_to_job_cluster"],
        ["run the job on a job cluster instead of all-purpose compute"],
        "reduce the job cluster's workers (it averaged under 30% CPU over 7 days)",
    ),
    score=lambda rows: numeric(rows, "estimated_savings") / 1e6,
    columns=("recommendation", "estimated_savings", "prediction"),
)

TAG = FindingRule(
    model="tag_recommender",
    when=lambda rows: is_set(rows, "needs_tag") & rows["confidence"].isin(["high", "medium"]),
    entity=("resource_id",),
    entity_kind=lambda rows: (
        rows["resource_type"]
        .astype(str)
        .str.lower()
        .map({"job": "job", "warehouse": "warehouse"})
        .fillna("resource")
    ),
    severity="low",
    reason=lambda rows: (
        "untagged "
        + rows["resource_type"].astype(str).str.lower()
        + "; its spend most likely belongs to team "
        + text(rows["predicted_class"])
        + " (probability "
        + number(rows["probability"], 2)
        + ")"
    ),
    action=lambda rows: "tag it " + rows["tag_key"].astype(str) + "=" + text(rows["predicted_class"]),
    columns=("needs_tag", "confidence", "resource_type", "predicted_class", "probability", "tag_key"),
)

RULES = (COST_ANOMALY, BUDGET, COMMITMENT, JOB_COST, TAG)
