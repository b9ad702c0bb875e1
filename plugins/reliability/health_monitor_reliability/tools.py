"""The reliability agent's tools: failure risk, SLA breach risk, durations, retries, health."""

from __future__ import annotations

from health_monitor.sdk import entity_tool, hookimpl, listing_tool, ranking_tool

TOOLS = (
    listing_tool(
        "list_jobs",
        "reliability",
        "job_failure_predictor",
        "job_id",
        "List the job IDs that have reliability predictions; other reliability tools take one.",
    ),
    entity_tool(
        "job_failure_risk",
        "reliability",
        "job_failure_predictor",
        "job_id",
        "Probability that one job fails on a day (default: its next scored day) and its risk_level.",
        "list_jobs",
    ),
    ranking_tool(
        "riskiest_jobs",
        "reliability",
        "job_failure_predictor",
        "The jobs most likely to fail on one day (default: the latest scored day).",
    ),
    entity_tool(
        "run_failure_risk",
        "reliability",
        "run_failure_predictor",
        "job_id",
        "Probability that each run of one job fails, scored at its start (default: its latest run), "
        "with its run_id, start_date and risk_level.",
        "list_jobs",
    ),
    ranking_tool(
        "riskiest_runs",
        "reliability",
        "run_failure_predictor",
        "The job runs that started on one day (default: the latest scored day) most likely to fail, "
        "each scored at its start.",
    ),
    entity_tool(
        "sla_breach_risk",
        "reliability",
        "sla_breach_predictor",
        "job_id",
        "Probability that one job's run breaches its SLA (duration or end time) on a day.",
        "list_jobs",
    ),
    entity_tool(
        "job_duration_forecast",
        "reliability",
        "job_duration_forecaster",
        "job_id",
        "Forecast run duration of one job with its P10-P90 interval.",
        "list_jobs",
    ),
    entity_tool(
        "run_duration_forecast",
        "reliability",
        "run_duration_forecaster",
        "job_id",
        "Forecast duration of each run of one job if it succeeds, scored at its start (default: its "
        "latest run), with its run_id, start_date and P10-P90 interval.",
        "list_jobs",
    ),
    ranking_tool(
        "retry_success_chances",
        "reliability",
        "retry_success_predictor",
        "Failed runs of one day ranked by the chance a retry succeeds, with the recommended action.",
    ),
    entity_tool(
        "pipeline_health",
        "reliability",
        "pipeline_health_scorer",
        "job_id",
        "0-100 health score of one job with its component scores (failure, duration stability, "
        "SLA, recovery).",
        "list_jobs",
    ),
)


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
