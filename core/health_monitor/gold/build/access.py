"""Gold steps of the access family: audit events, table lineage and SQL statement history.

All three are one-to-one flattenings of their system table (no join, no window, no shuffle), read
from the first day to rebuild on: ``event_date`` is the partition column of the audit and lineage
tables, so the filter prunes files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from health_monitor.gold.build import BuildContext, GoldStep

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def _from_day(ctx: BuildContext, name: str, day_column: str) -> DataFrame:
    """System table ``name`` from ``ctx.since`` on (all of it for a full build)."""
    df = ctx.system(name)
    if ctx.since is None:
        return df
    return df.where(F.col(day_column) >= F.lit(ctx.since))


def audit_logs(ctx: BuildContext) -> DataFrame:
    audit = _from_day(ctx, "access.audit", "event_date")
    return audit.select(
        "event_id",
        "account_id",
        "workspace_id",
        "version",
        "event_time",
        "event_date",
        "service_name",
        "action_name",
        F.coalesce("user_identity.email", "user_identity.subject_name").alias("user_identity_email"),
        "source_ip_address",
        "user_agent",
        "session_id",
        "request_id",
        F.coalesce("request_params", F.create_map().cast("map<string,string>")).alias("request_params"),
        F.col("response.status_code").alias("response_status_code"),
        F.col("response.error_message").alias("response_error_message"),
        F.coalesce(
            "audit_level",
            F.when(F.col("workspace_id") == "0", "ACCOUNT_LEVEL").otherwise("WORKSPACE_LEVEL"),
        ).alias("audit_level"),
    )


# The entity a lineage row belongs to when only entity_metadata names it. A job running a notebook
# or a saved query names both: the job comes first, as the Gold links tables to the jobs that
# write them. (type, id field, run id) in order of precedence.
_METADATA_ENTITIES = (
    ("JOB", "job_info.job_id", "job_info.job_run_id"),
    ("PIPELINE", "dlt_pipeline_info.dlt_pipeline_id", "dlt_pipeline_info.dlt_update_id"),
    ("DASHBOARD_V3", "dashboard_id", None),
    ("DBSQL_DASHBOARD", "legacy_dashboard_id", None),
    ("DBSQL_QUERY", "sql_query_id", None),
    ("NOTEBOOK", "notebook_id", None),
)
_STATEMENT_RUNS = ("DASHBOARD_V3", "DBSQL_DASHBOARD", "DBSQL_QUERY")


def _metadata_entity() -> tuple[Column, Column, Column]:
    """(entity_type, entity_id, entity_run_id) of the first entity entity_metadata names;
    dashboards and queries run as the row's statement_id, notebooks have no run id there."""
    has = [F.col(f"entity_metadata.{id_field}").isNotNull() for _, id_field, _ in _METADATA_ENTITIES]

    def first(values: list[Column]) -> Column:
        expr = F.when(has[0], values[0])
        for condition, value in zip(has[1:], values[1:], strict=True):
            expr = expr.when(condition, value)
        return expr

    def run_id(name: str, run_field: str | None) -> Column:
        if run_field:
            return F.col(f"entity_metadata.{run_field}")
        return F.col("statement_id") if name in _STATEMENT_RUNS else F.lit(None).cast("string")

    return (
        first([F.lit(name) for name, _, _ in _METADATA_ENTITIES]),
        first([F.col(f"entity_metadata.{id_field}") for _, id_field, _ in _METADATA_ENTITIES]),
        first([run_id(name, run_field) for name, _, run_field in _METADATA_ENTITIES]),
    )


def table_lineage(ctx: BuildContext) -> DataFrame:
    lineage = _from_day(ctx, "access.table_lineage", "event_date")
    from_metadata = F.col("entity_type").isNull()
    kind, ident, run = _metadata_entity()
    return lineage.select(
        "record_id",
        "event_id",
        "account_id",
        "metastore_id",
        "workspace_id",
        "event_time",
        "event_date",
        "created_by",
        F.when(from_metadata, kind).otherwise(F.col("entity_type")).alias("entity_type"),
        F.when(from_metadata, ident).otherwise(F.col("entity_id")).alias("entity_id"),
        F.when(from_metadata, run).otherwise(F.col("entity_run_id")).alias("entity_run_id"),
        "source_table_full_name",
        "source_table_catalog",
        "source_table_schema",
        "source_table_name",
        "source_type",
        "target_table_full_name",
        "target_table_catalog",
        "target_table_schema",
        "target_table_name",
        "target_type",
        "statement_id",
    )


# Counters a statement that failed or was cancelled early never reached: 0, not unknown.
_COUNTERS = (
    "waiting_for_compute_duration_ms",
    "waiting_at_capacity_duration_ms",
    "compilation_duration_ms",
    "execution_duration_ms",
    "read_bytes",
    "read_rows",
    "read_files",
    "pruned_files",
    "produced_rows",
    "spilled_local_bytes",
    "written_bytes",
    "read_io_cache_percent",
)


def query_history(ctx: BuildContext) -> DataFrame:
    # A statement is in query.history once it ends, so end_time is when it becomes known: an
    # incremental run from day D re-reads every statement that ended on D or later, including
    # those that started before D and were still running at the previous run.
    queries = ctx.system("query.history").where(F.col("end_time").isNotNull())
    if ctx.since is not None:
        queries = queries.where(F.col("end_time") >= F.lit(ctx.since).cast("timestamp"))
    return queries.select(
        "statement_id",
        "account_id",
        "workspace_id",
        "session_id",
        "executed_by",
        F.col("compute.type").alias("compute_type"),
        F.col("compute.warehouse_id").alias("warehouse_id"),
        "statement_type",
        "statement_text",
        "client_application",
        "execution_status",
        "error_message",
        "start_time",
        "end_time",
        "total_duration_ms",
        *[F.coalesce(F.col(c).cast("bigint"), F.lit(0)).alias(c) for c in _COUNTERS],
        F.coalesce("from_result_cache", F.lit(False)).alias("from_result_cache"),
        F.col("query_source.job_info.job_id").alias("query_source_job_id"),
        F.coalesce("query_source.dashboard_id", "query_source.legacy_dashboard_id").alias(
            "query_source_dashboard_id"
        ),
        F.col("query_source.sql_query_id").alias("query_source_sql_query_id"),
    )


STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        table="fact_audit_logs",
        sources=("access.audit",),
        grain="event_date",
        transform=(
            "One row per audit event, flattened: `user_identity.email` (its `subject_name` when the "
            "email is NULL), `response.status_code` and `response.error_message`; a NULL "
            "`request_params` becomes an empty map and a NULL `audit_level` follows `workspace_id` "
            "('0' is ACCOUNT_LEVEL). `identity_metadata` and `response.result` are not carried."
        ),
        build=audit_logs,
    ),
    GoldStep(
        table="fact_table_lineage",
        sources=("access.table_lineage",),
        grain="event_date",
        transform=(
            "One row per lineage record. `entity_type`/`entity_id`/`entity_run_id` are the row's "
            "columns; when `entity_type` is NULL they come from `entity_metadata` (job_info, then the "
            "DLT pipeline, dashboard, legacy dashboard, SQL query, notebook; a dashboard or query runs "
            "as the row's `statement_id`). PATH sources and targets keep their type with NULL table "
            "names (`source_path`/`target_path` are not carried); `direct_access` is not carried."
        ),
        build=table_lineage,
    ),
    GoldStep(
        table="fact_query_history",
        sources=("query.history",),
        grain="end_time",
        transform=(
            "One row per finished statement (`end_time` set), `compute` and `query_source` flattened "
            "(`compute.type`, `compute.warehouse_id`, `job_info.job_id`, `dashboard_id` or else "
            "`legacy_dashboard_id`, `sql_query_id`); duration and I/O counters a statement never "
            "reached are 0, `read_io_cache_percent` widens from tinyint. Incremental by `end_time`, "
            "the time a statement appears in `query.history`, so one still running at the last build "
            "is picked up by the next."
        ),
        build=query_history,
    ),
)
