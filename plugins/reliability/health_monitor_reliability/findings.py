"""When a reliability prediction is a finding (the ``register_findings`` hook). The job models
forecast the day after each job's last run, so their findings are about tomorrow.

``job_duration_forecaster`` has no rule: a duration forecast crosses nothing in its own outputs;
a run over its SLA is ``sla_breach_predictor``'s finding.

The failure and health models are tuned for F1 on job-days, so they flag about a tenth of the
jobs every day; their findings are the day's ``JOBS_A_DAY`` riskiest jobs (the prediction tables
keep every flagged job for dashboards and tools)."""

from __future__ import annotations

from health_monitor.sdk import FindingRule
from health_monitor.sdk.findingkit import choose, number, numeric, text
from health_monitor_reliability.models import INVESTIGATE_PROBABILITY

JOBS_A_DAY = 10  # what a person reads of one model's job risks in a day


def _flagged(rows):
    return numeric(rows, "prediction") >= 1


FAILURE = FindingRule(
    model="job_failure_predictor",
    when=_flagged,
    entity=("job_id",),
    entity_kind="job",
    severity=lambda rows: choose([numeric(rows, "probability") >= 0.5], ["high"], "medium"),
    reason=lambda rows: (
        "likely to fail on "
        + text(rows["run_date"])
        + " (probability "
        + number(rows["probability"], 2)
        + ", over the model's tuned threshold)"
    ),
    action="look at the job's recent failed runs and their errors; fix the cause before its next run",
    max_per_day=JOBS_A_DAY,
    columns=("prediction", "probability", "run_date"),
)

SLA = FindingRule(
    model="sla_breach_predictor",
    when=_flagged,
    entity=("job_id",),
    entity_kind="job",
    severity="high",
    reason=lambda rows: (
        "likely to breach its SLA on "
        + text(rows["run_date"])
        + " (probability "
        + number(rows["probability"], 2)
        + ")"
    ),
    action="start the job earlier or give it more compute; warn the consumers of its output",
    columns=("prediction", "probability", "run_date"),
)

RETRY = FindingRule(
    model="retry_success_predictor",
    when=lambda rows: rows["recommended_action"].astype(str) == "INVESTIGATE",
    entity=("job_id",),
    entity_kind="job",
    severity="medium",
    reason=lambda rows: (
        "run "
        + text(rows["run_id"])
        + " failed on "
        + text(rows["failed_date"])
        + " and a retry succeeds with probability "
        + number(rows["probability"], 2)
        + f" only (under {INVESTIGATE_PROBABILITY:.0%})"
    ),
    action="do not retry blindly: read the run's error and fix its cause (memory, code, upstream data)",
    score=lambda rows: 1.0 - numeric(rows, "probability"),
    columns=("recommended_action", "probability", "run_id", "failed_date"),
)

HEALTH = FindingRule(
    model="pipeline_health_scorer",
    when=lambda rows: rows["health_status"].astype(str) == "CRITICAL",
    entity=("job_id",),
    entity_kind="job",
    severity="medium",
    reason=lambda rows: (
        "health score "
        + number(rows["health_score"])
        + "/100 (failures "
        + number(rows["failure_score"])
        + ", duration stability "
        + number(rows["duration_stability_score"])
        + ", SLA "
        + number(rows["sla_score"])
        + ", recovery "
        + number(rows["recovery_score"])
        + "): an incident in the next 7 days is likely"
    ),
    action="review the job's weakest component score: its failures, unstable durations or SLA misses",
    max_per_day=JOBS_A_DAY,
    columns=(
        "health_status",
        "health_score",
        "failure_score",
        "duration_stability_score",
        "sla_score",
        "recovery_score",
    ),
)

RULES = (FAILURE, SLA, RETRY, HEALTH)
