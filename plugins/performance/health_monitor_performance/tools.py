"""The performance agent's tools: warehouse sizing, regressions, capacity, runtime upgrades."""

from __future__ import annotations

from health_monitor.sdk import entity_tool, hookimpl, listing_tool, ranking_tool

TOOLS = (
    listing_tool(
        "list_warehouses",
        "performance",
        "warehouse_optimizer",
        "warehouse_id",
        "List the SQL warehouse IDs that have performance predictions.",
    ),
    entity_tool(
        "warehouse_recommendation",
        "performance",
        "warehouse_optimizer",
        "warehouse_id",
        "Recommended size of one SQL warehouse for its next day against its current size.",
        "list_warehouses",
    ),
    ranking_tool(
        "performance_regressions",
        "performance",
        "performance_regression_detector",
        "Warehouses whose query times on one day (default: the latest) look most like a "
        "regression, highest anomaly_score first.",
    ),
    entity_tool(
        "cache_hit_forecast",
        "performance",
        "cache_hit_predictor",
        "warehouse_id",
        "Forecast share of a warehouse's statements served from the result cache (P10-P90).",
        "list_warehouses",
    ),
    entity_tool(
        "capacity_plan",
        "performance",
        "cluster_capacity_planner",
        "workspace_id",
        "Next-day peak worker forecast of a workspace's clusters (P10-P90) and the recommended worker count.",
        "list_workspaces_with_clusters",
    ),
    listing_tool(
        "list_workspaces_with_clusters",
        "performance",
        "cluster_capacity_planner",
        "workspace_id",
        "List the workspace IDs that have cluster capacity forecasts.",
    ),
    ranking_tool(
        "dbr_migration_risks",
        "performance",
        "dbr_migration_risk_scorer",
        "Jobs most at risk of failing or slowing down after a Databricks Runtime upgrade.",
    ),
    ranking_tool(
        "queries_to_optimize",
        "performance",
        "query_optimization_recommender",
        "Statements most likely to benefit from optimisation on one day, with a recommendation.",
    ),
)


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
