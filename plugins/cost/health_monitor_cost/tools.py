"""The cost agent's tools: anomalies, budget forecast and commit variance, savings."""

from __future__ import annotations

from health_monitor.sdk import entity_tool, hookimpl, listing_tool, ranking_tool

TOOLS = (
    listing_tool(
        "list_workspaces",
        "cost",
        "cost_anomaly_detector",
        "workspace_id",
        "List the workspace IDs that have cost predictions; other cost tools take one of these.",
    ),
    entity_tool(
        "cost_anomalies",
        "cost",
        "cost_anomaly_detector",
        "workspace_id",
        "Daily cost anomaly verdicts of one workspace over a date range: anomaly_score (0-1, share "
        "of normal days that looked less unusual), is_anomaly, newest first.",
        "list_workspaces",
    ),
    ranking_tool(
        "top_cost_anomalies",
        "cost",
        "cost_anomaly_detector",
        "The workspace-days with the most unusual spend on one day (default: the latest), highest "
        "anomaly_score first.",
        within="workspace_id",
        listed_by="list_workspaces",
    ),
    entity_tool(
        "budget_forecast",
        "cost",
        "budget_forecaster",
        "workspace_id",
        "Month-end spend forecast of one workspace: P10/P50/P90 (prediction_p10, prediction, "
        "prediction_p90), year-to-date cost, cumulative forecast and commit/budget variance.",
        "list_workspaces",
    ),
    entity_tool(
        "commitment_recommendation",
        "cost",
        "commitment_recommender",
        "workspace_id",
        "Recommended spend commitment for one workspace with the expected savings and coverage.",
        "list_workspaces",
    ),
    ranking_tool(
        "job_cost_savings",
        "cost",
        "job_cost_optimizer",
        "Jobs with the largest estimated savings on their next run day, with the recommendation "
        "(e.g. move to a job cluster) and predicted cost.",
        order_by="estimated_savings",
        within="workspace_id",
        listed_by="list_workspaces",
    ),
)


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
