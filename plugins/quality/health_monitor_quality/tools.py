"""The quality agent's tools: freshness risk, schema drift and change risk, degradation."""

from __future__ import annotations

from health_monitor.sdk import entity_tool, hookimpl, listing_tool, ranking_tool

TOOLS = (
    listing_tool(
        "list_tables",
        "quality",
        "data_freshness_predictor",
        "table_full_name",
        "List the tables (catalog.schema.table) that have quality predictions.",
    ),
    entity_tool(
        "table_freshness_risk",
        "quality",
        "data_freshness_predictor",
        "table_full_name",
        "Forecast hours since the last commit of one table (P10-P90) and its freshness_risk.",
        "list_tables",
    ),
    ranking_tool(
        "stalest_tables",
        "quality",
        "data_freshness_predictor",
        "Tables forecast to be stalest on one day (default: the latest), most hours first.",
    ),
    ranking_tool(
        "schema_change_risks",
        "quality",
        "schema_change_predictor",
        "Tables most likely to change schema in the coming days, with a risk_level.",
    ),
    ranking_tool(
        "schema_drift_events",
        "quality",
        "schema_drift_detector",
        "Tables whose latest schema snapshot looks like unexpected drift, with the drift type and "
        "columns changed.",
    ),
    entity_tool(
        "quality_degradation_forecast",
        "quality",
        "data_quality_degradation_forecaster",
        "table_full_name",
        "Forecast of one table's next data-quality result (P10-P90) and its degradation_risk.",
        "list_tables",
    ),
)


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
