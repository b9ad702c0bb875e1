"""The Gold contract: which tables exist, their columns, types, keys and system-table sources.

The contract is the one place that says what a Gold table looks like. The simulator builds
tables against it, `read_gold_export` checks a user's own export against it, and
`docs/gold-contract.md` is rendered from it (`render_markdown`), so the three cannot drift.

Conventions that hold for every table:

* IDs are strings, as in the system tables (workspace ids are 15-16 digit numbers held as text).
* Timestamps are UTC with microsecond precision (`timestamp[us, tz=UTC]`); naive timestamps
  read from files are taken to be UTC.
* Money and usage quantities are `double` (the system tables use `decimal(38,18)`; a double keeps
  about 15 significant digits, more than the feature pipelines need).
* Struct columns of the system tables are flattened to `<struct>_<field>` columns.
* Columns outside the contract are dropped by `conform` and ignored by `check_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

GOLD_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "map<string,string>": pa.map_(pa.string(), pa.string()),
}


class GoldContractError(ValueError):
    """A Gold table does not meet the contract. The message names the table and the column."""


@dataclass(frozen=True)
class GoldColumn:
    """One column of a Gold table. `type` is one of `GOLD_TYPES`."""

    name: str
    type: str
    nullable: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in GOLD_TYPES:
            raise ValueError(f"column {self.name!r}: type {self.type!r} is not one of {sorted(GOLD_TYPES)}")


@dataclass(frozen=True)
class GoldTable:
    """A Gold table: its columns in order, its primary key, and the system table(s) it maps from."""

    name: str
    columns: tuple[GoldColumn, ...]
    primary_key: tuple[str, ...]
    description: str
    source: str
    # When a row becomes known (a fact's end, a version's change time); None for static tables.
    # Point-in-time tests cut the Gold layer at a moment by this column.
    time_column: str | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r}: duplicate column names")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"table {self.name!r}: primary key columns {missing} are not columns")
        if self.time_column is not None and self.time_column not in names:
            raise ValueError(f"table {self.name!r}: time column {self.time_column!r} is not a column")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> GoldColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, type_: str, description: str = "", nullable: bool = True) -> GoldColumn:
    return GoldColumn(name, type_, nullable, description)


def _k(name: str, type_: str, description: str = "") -> GoldColumn:
    """A column that may not be null (keys and always-set values)."""
    return GoldColumn(name, type_, False, description)


_TABLES: tuple[GoldTable, ...] = (
    # ---------------------------------------------------------------- cost
    GoldTable(
        name="fact_usage",
        time_column="ingestion_date",  # late rows and corrections land days after the usage
        description="Billable usage, one row per hourly (or shorter) usage slice per resource and SKU. "
        "Corrections are kept: sum usage_quantity over record types for true totals.",
        source="system.billing.usage joined to system.billing.list_prices (effective_list price at usage_end_time) "
        "and the account discount (account file)",
        primary_key=("record_id",),
        columns=(
            _k("record_id", "string", "UUID of the usage record"),
            _k("account_id", "string", "Account UUID"),
            _k("workspace_id", "string", "Workspace ID (15-16 digits)"),
            _k("sku_name", "string", "SKU, e.g. PREMIUM_JOBS_COMPUTE"),
            _k("cloud", "string", "AWS, AZURE or GCP"),
            _k("usage_start_time", "timestamp"),
            _k("usage_end_time", "timestamp"),
            _k("usage_date", "date"),
            _k("usage_quantity", "double", "Units consumed; negative on RETRACTION rows"),
            _k("usage_unit", "string", "DBU, DSU or GB"),
            _k("usage_type", "string", "COMPUTE_TIME, STORAGE_SPACE, ..."),
            _k("record_type", "string", "ORIGINAL, RETRACTION or RESTATEMENT"),
            _k(
                "ingestion_date",
                "date",
                "Day the row became known: billing.usage.ingestion_date, or date(usage_end_time) + 1 day "
                "when an export has none",
            ),
            _k(
                "billing_origin_product",
                "string",
                "JOBS, ALL_PURPOSE, SQL, DLT, MODEL_SERVING, DEFAULT_STORAGE, ... (newer products pass through)",
            ),
            _c("product_features_is_serverless", "boolean", "product_features.is_serverless"),
            _c("product_features_is_photon", "boolean", "product_features.is_photon"),
            _c(
                "list_price",
                "double",
                "USD per unit at usage_end_time (pricing.effective_list.default); NULL when "
                "billing.list_prices has no period for the SKU then",
            ),
            _c("effective_price", "double", "USD per unit after the ACCOUNT_COMMIT discount"),
            _c("list_cost", "double", "usage_quantity * list_price"),
            _c("effective_cost", "double", "usage_quantity * effective_price"),
            _c("cluster_id", "string", "usage_metadata.cluster_id (classic compute)"),
            _c(
                "job_id",
                "string",
                "usage_metadata.job_id (job compute and serverless jobs only; NULL for jobs on "
                "all-purpose compute)",
            ),
            _c("job_run_id", "string", "usage_metadata.job_run_id (= fact_job_run_timeline.run_id)"),
            _c("warehouse_id", "string", "usage_metadata.warehouse_id"),
            _c("dlt_pipeline_id", "string", "usage_metadata.dlt_pipeline_id"),
            _c("endpoint_name", "string", "usage_metadata.endpoint_name (model serving)"),
            _c("node_type", "string", "usage_metadata.node_type"),
            _c("run_as", "string", "identity_metadata.run_as (jobs, pipelines)"),
            _c("owned_by", "string", "identity_metadata.owned_by (SQL warehouses)"),
            _k("custom_tags", "map<string,string>", "Resource tags; empty map when untagged"),
            _k("is_tagged", "boolean", "custom_tags is not empty"),
        ),
    ),
    GoldTable(
        name="fact_list_prices",
        time_column="price_start_time",
        description="List price history per SKU; the open row has price_end_time NULL.",
        source="system.billing.list_prices (pricing struct flattened)",
        primary_key=("sku_name", "cloud", "usage_unit", "price_start_time"),
        columns=(
            _k("account_id", "string"),
            _k("sku_name", "string"),
            _k("cloud", "string"),
            _k("currency_code", "string", "USD"),
            _k("usage_unit", "string"),
            _k("price_start_time", "timestamp"),
            _c("price_end_time", "timestamp", "NULL for the current price"),
            _k("pricing_default", "double", "Long-term list price"),
            _c("pricing_promotional_default", "double", "Temporary price, when one applies"),
            _k("pricing_effective_list_default", "double", "The price to cost usage with"),
        ),
    ),
    GoldTable(
        name="dim_sku",
        description="One row per SKU seen in usage, with its product family and current list price.",
        source="DISTINCT system.billing.usage (sku_name, cloud, usage_unit, billing_origin_product) joined to the "
        "latest system.billing.list_prices period",
        primary_key=("sku_name",),
        columns=(
            _k("sku_name", "string"),
            _k("cloud", "string"),
            _k("usage_unit", "string"),
            _k("billing_origin_product", "string"),
            _k(
                "product_family",
                "string",
                "JOBS, ALL_PURPOSE, SQL, DLT, MODEL_SERVING, STORAGE, or OTHER for other products",
            ),
            _k("is_serverless", "boolean"),
            _c(
                "current_list_price",
                "double",
                "Effective list price of the latest price period; NULL when billing.list_prices has "
                "none for the SKU",
            ),
        ),
    ),
    GoldTable(
        name="dim_workspace",
        time_column="change_time",
        description="Workspaces, daily-snapshot SCD2: a new row when the name, status or URL changes.",
        source="system.access.workspaces_latest (snapshotted daily)",
        primary_key=("workspace_id", "change_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("workspace_name", "string"),
            _k("workspace_url", "string"),
            _c(
                "region",
                "string",
                "Cloud region, e.g. us-east-1. NULL from system tables: workspaces_latest has no region "
                "and no other system table records it",
            ),
            _c("cloud", "string", "AWS, AZURE or GCP, from the workspace URL's domain; else NULL"),
            _k("status", "string", "RUNNING, NOT_PROVISIONED, PROVISIONING, FAILED, BANNED"),
            _k("create_time", "timestamp"),
            _k("change_time", "timestamp"),
            _k("is_current", "boolean"),
        ),
    ),
    GoldTable(
        name="commit_configurations",
        description="The account's spend commitments: the contract (ACCOUNT_COMMIT, workspace_id NULL) and "
        "monthly budgets per workspace (WORKSPACE_MONTHLY_BUDGET).",
        source="Entered by the account owner in the account file (no system table; account_id from "
        "system.billing.usage when left empty); the discount applies to every SKU",
        primary_key=("commit_id",),
        columns=(
            _k("commit_id", "string"),
            _k("account_id", "string"),
            _c("workspace_id", "string", "NULL for the account-wide commit"),
            _k("commit_type", "string", "ACCOUNT_COMMIT or WORKSPACE_MONTHLY_BUDGET"),
            _k("period_start", "date"),
            _k("period_end", "date", "Inclusive"),
            _k("commit_amount_usd", "double"),
            _k("discount_pct", "double", "Contract discount, 0-100"),
            _k("currency_code", "string"),
        ),
    ),
    # ---------------------------------------------------------------- security
    GoldTable(
        name="fact_audit_logs",
        time_column="event_time",
        description="Audited events, one row per API request or action.",
        source="system.access.audit (user_identity and response structs flattened)",
        primary_key=("event_id",),
        columns=(
            _k("event_id", "string", "32 hex characters"),
            _k("account_id", "string"),
            _k("workspace_id", "string", "'0' for account-level events"),
            _k("version", "string"),
            _k("event_time", "timestamp"),
            _k("event_date", "date"),
            _k("service_name", "string"),
            _k("action_name", "string"),
            _k(
                "user_identity_email",
                "string",
                "user_identity.email (subject_name when NULL); System-User for background tasks",
            ),
            _c("source_ip_address", "string"),
            _c("user_agent", "string"),
            _c("session_id", "string"),
            _c("request_id", "string"),
            _k("request_params", "map<string,string>"),
            _k("response_status_code", "int"),
            _c("response_error_message", "string"),
            _k("audit_level", "string", "WORKSPACE_LEVEL or ACCOUNT_LEVEL"),
        ),
    ),
    GoldTable(
        name="fact_table_lineage",
        time_column="event_time",
        description="Table read and write events; reads have a source and no target. Job writes link "
        "tables to the jobs that produce them.",
        source="system.access.table_lineage (entity_metadata flattened to entity_type/entity_id/entity_run_id)",
        primary_key=("record_id",),
        columns=(
            _k("record_id", "string"),
            _k("event_id", "string", "Groups the rows of one event"),
            _k("account_id", "string"),
            _k("metastore_id", "string"),
            _k("workspace_id", "string"),
            _k("event_time", "timestamp"),
            _k("event_date", "date"),
            _c("created_by", "string", "User email, service principal or System-User"),
            _c(
                "entity_type",
                "string",
                "NOTEBOOK, JOB, PIPELINE, DBSQL_QUERY, DASHBOARD_V3, DBSQL_DASHBOARD or NULL",
            ),
            _c("entity_id", "string"),
            _c("entity_run_id", "string", "job_run_id for jobs, statement_id for queries"),
            _c("source_table_full_name", "string"),
            _c("source_table_catalog", "string"),
            _c("source_table_schema", "string"),
            _c("source_table_name", "string"),
            _c(
                "source_type",
                "string",
                "TABLE, VIEW, MATERIALIZED_VIEW, METRIC_VIEW, STREAMING_TABLE or PATH (then the "
                "source_table_* columns are NULL: the path itself is not carried)",
            ),
            _c("target_table_full_name", "string"),
            _c("target_table_catalog", "string"),
            _c("target_table_schema", "string"),
            _c("target_table_name", "string"),
            _c("target_type", "string"),
            _c("statement_id", "string", "FK to fact_query_history for warehouse queries"),
        ),
    ),
    # ---------------------------------------------------------------- performance
    GoldTable(
        name="fact_query_history",
        time_column="end_time",
        description="SQL statements run on SQL warehouses and serverless compute, one row per finished statement.",
        source="system.query.history (compute and query_source structs flattened)",
        primary_key=("statement_id",),
        columns=(
            _k("statement_id", "string", "UUID"),
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _c("session_id", "string"),
            _k("executed_by", "string"),
            _k("compute_type", "string", "WAREHOUSE or SERVERLESS_COMPUTE"),
            _c(
                "warehouse_id",
                "string",
                "compute.warehouse_id; NULL for SERVERLESS_COMPUTE statements (serverless notebooks, jobs)",
            ),
            _k("statement_type", "string", "SELECT, INSERT, MERGE, ...; new values kept as they are"),
            _k("statement_text", "string"),
            _c("client_application", "string"),
            _k("execution_status", "string", "FINISHED, FAILED or CANCELED"),
            _c("error_message", "string"),
            _k("start_time", "timestamp"),
            _k("end_time", "timestamp"),
            _k(
                "total_duration_ms",
                "bigint",
                "waiting_for_compute + waiting_at_capacity + compilation + execution",
            ),
            _k("waiting_for_compute_duration_ms", "bigint", "Cold start of the warehouse"),
            _k("waiting_at_capacity_duration_ms", "bigint", "Queued because the warehouse was full"),
            _k("compilation_duration_ms", "bigint"),
            _k("execution_duration_ms", "bigint"),
            _k("read_bytes", "bigint"),
            _k("read_rows", "bigint"),
            _k("read_files", "bigint"),
            _k("pruned_files", "bigint"),
            _k("produced_rows", "bigint"),
            _k("spilled_local_bytes", "bigint"),
            _k("written_bytes", "bigint"),
            _k("read_io_cache_percent", "int"),
            _k("from_result_cache", "boolean"),
            _c("query_source_job_id", "string"),
            _c("query_source_dashboard_id", "string"),
            _c("query_source_sql_query_id", "string", "The saved query; recurring statements share it"),
        ),
    ),
    GoldTable(
        name="dim_warehouse",
        time_column="change_time",
        description="SQL warehouses, SCD2: a new row per configuration change (e.g. a resize).",
        source="system.compute.warehouses",
        primary_key=("workspace_id", "warehouse_id", "change_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("warehouse_id", "string", "16 hex characters"),
            _k("warehouse_name", "string"),
            _k("warehouse_type", "string", "CLASSIC, PRO or SERVERLESS"),
            _k("warehouse_channel", "string"),
            _k(
                "warehouse_size",
                "string",
                "2X_SMALL, X_SMALL, SMALL, MEDIUM, LARGE, X_LARGE, 2X_LARGE, 3X_LARGE, 4X_LARGE",
            ),
            _k("min_clusters", "int"),
            _k("max_clusters", "int"),
            _k("auto_stop_minutes", "int"),
            _k("tags", "map<string,string>"),
            _c(
                "created_by",
                "string",
                "Creator of the warehouse. NULL from system tables when every row of the warehouse predates "
                "the column (Databricks added it later); otherwise filled from the warehouse's newer rows",
            ),
            _k("change_time", "timestamp"),
            _c("delete_time", "timestamp"),
            _k("is_current", "boolean"),
        ),
    ),
    GoldTable(
        name="fact_warehouse_events",
        time_column="event_time",
        description="Warehouse state and scaling events; cluster_count is the number of clusters running after the event.",
        source="system.compute.warehouse_events",
        primary_key=("workspace_id", "warehouse_id", "event_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("warehouse_id", "string"),
            _k("event_type", "string", "STARTING, RUNNING, SCALED_UP, SCALED_DOWN, STOPPING, STOPPED"),
            _k("cluster_count", "int"),
            _k("event_time", "timestamp"),
        ),
    ),
    # ---------------------------------------------------------------- reliability
    GoldTable(
        name="dim_job",
        time_column="change_time",
        description="Jobs, SCD2: one row per job version; is_current marks the latest. Rows emitted before "
        "Dec 2025 lack the newer lakeflow.jobs columns: what they cannot give is NULL or derived as each "
        "column says.",
        source="system.lakeflow.jobs (trigger struct reduced to trigger_type and quartz_cron_expression), "
        "system.lakeflow.job_tasks (task_count), system.lakeflow.job_run_timeline and system.compute.clusters "
        "(compute_kind; trigger_type and create_time on rows before Dec 2025)",
        primary_key=("workspace_id", "job_id", "change_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("job_id", "string", "Numeric string"),
            _k("name", "string"),
            _c("description", "string", "NULL from system tables on rows emitted before late Aug 2024"),
            _c(
                "creator_user_name",
                "string",
                "Email or service principal ID (creator_user_name, on rows since Dec 2025); on older rows the "
                "name another lakeflow.jobs row gives the same creator_id. NULL from system tables when no row "
                "names the creator (older rows hold only a numeric creator_id)",
            ),
            _k(
                "run_as",
                "string",
                "User email or service principal application ID (run_as_user_name, on rows since Dec 2025); on "
                "older rows the name another row gives the same principal, else the principal ID (lakeflow.jobs.run_as)",
            ),
            _k("tags", "map<string,string>"),
            _c(
                "task_count",
                "int",
                "Tasks of the version in lakeflow.job_tasks as of change_time; NULL when job_tasks holds no row "
                "of the job by then (rows older than 365 days are purged)",
            ),
            _c("max_retries", "int", "NULL from system tables: only the Jobs API knows a task's max_retries"),
            _c(
                "timeout_seconds",
                "bigint",
                "0 = no timeout. NULL from system tables on rows before Dec 2025 (a newer lakeflow.jobs column)",
            ),
            _c(
                "trigger_type",
                "string",
                "CRON, FILE_ARRIVAL, CONTINUOUS, ... or NULL (manual), from the trigger struct. Rows before Dec 2025 "
                "have none: there it is the trigger type of the version's non-manual runs (NULL when it only ran by "
                "hand; a version without runs takes its neighbour's)",
            ),
            _c("quartz_cron_expression", "string", "NULL from system tables on rows before Dec 2025"),
            _c(
                "compute_kind",
                "string",
                "JOB_CLUSTER, SERVERLESS or ALL_PURPOSE: the compute of the version's latest run (empty compute_ids: "
                "SERVERLESS; else the cluster's compute.clusters cluster_source). NULL when that cluster is not in "
                "compute.clusters or the job never ran",
            ),
            _c("paused", "boolean", "NULL from system tables on rows before Dec 2025"),
            _k(
                "create_time",
                "timestamp",
                "lakeflow.jobs.create_time (rows since Dec 2025); else the earliest of the job's first retained "
                "version and its first run",
            ),
            _k("change_time", "timestamp"),
            _c("delete_time", "timestamp"),
            _k("is_current", "boolean"),
        ),
    ),
    GoldTable(
        name="fact_job_run_timeline",
        time_column="period_end_time",
        description="Job runs cut into clock-hour slices; result_state and termination_code are set on the final slice only.",
        source="system.lakeflow.job_run_timeline (compute_ids reduced to cluster_id)",
        primary_key=("workspace_id", "run_id", "period_start_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("job_id", "string"),
            _k("run_id", "string", "Numeric string"),
            _c("run_name", "string"),
            _k("period_start_time", "timestamp"),
            _k("period_end_time", "timestamp"),
            _k("trigger_type", "string", "CRON, CONTINUOUS, FILE_ARRIVAL, ONETIME, ONETIME_RETRY"),
            _k("run_type", "string", "JOB_RUN, SUBMIT_RUN, WORKFLOW_RUN"),
            _c(
                "result_state",
                "string",
                "SUCCEEDED, FAILED, SKIPPED, CANCELLED, TIMED_OUT, ERROR; final slice only",
            ),
            _c("termination_code", "string", "Final slice only"),
            _c(
                "cluster_id",
                "string",
                "The run's classic cluster: the first cluster ID of compute (2026) or compute_ids; NULL on serverless",
            ),
        ),
    ),
    GoldTable(
        name="fact_job_task_run_timeline",
        time_column="period_end_time",
        description="Task runs cut into clock-hour slices; result_state and termination_code on the final slice only. "
        "Tasks that never started (after a failed task) are not listed.",
        source="system.lakeflow.job_task_run_timeline",
        primary_key=("workspace_id", "run_id", "period_start_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("job_id", "string"),
            _k("run_id", "string", "Task run ID"),
            _c(
                "job_run_id",
                "string",
                "The parent job run (fact_job_run_timeline.run_id); NULL on rows before late Aug 2024 (system-table gap)",
            ),
            _k("task_key", "string"),
            _k("period_start_time", "timestamp"),
            _k("period_end_time", "timestamp"),
            _c("result_state", "string"),
            _c("termination_code", "string"),
            _c("cluster_id", "string", "First cluster of compute (2026) or compute_ids; NULL on serverless"),
        ),
    ),
    GoldTable(
        name="dim_cluster",
        time_column="change_time",
        description="Classic clusters, SCD2: job clusters have one row; all-purpose clusters get a row per "
        "change (runtime upgrade, auto-termination edit).",
        source="system.compute.clusters",
        primary_key=("workspace_id", "cluster_id", "change_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("cluster_id", "string", "MMDD-HHMMSS-xxxxxxxx"),
            _k("cluster_name", "string"),
            _k("owned_by", "string"),
            _k("create_time", "timestamp", "The earliest create_time of the cluster's rows"),
            _c("delete_time", "timestamp"),
            _k("driver_node_type", "string"),
            _k("worker_node_type", "string"),
            _c("worker_count", "bigint", "Fixed-size clusters only"),
            _c("min_autoscale_workers", "bigint", "Autoscaling clusters only"),
            _c("max_autoscale_workers", "bigint", "Autoscaling clusters only"),
            _c("auto_termination_minutes", "bigint", "0 = never"),
            _k("cluster_source", "string", "UI, API, JOB"),
            _k("dbr_version", "string", "e.g. 15.4.x-scala2.12"),
            _k(
                "data_security_mode",
                "string",
                "DATA_SECURITY_MODE_STANDARD, DATA_SECURITY_MODE_DEDICATED, ...; the legacy USER_ISOLATION and "
                "SINGLE_USER are renamed to these",
            ),
            _k("tags", "map<string,string>", "Custom tags; empty when the cluster has none"),
            _k("change_time", "timestamp"),
            _k("change_date", "date"),
            _k("is_current", "boolean"),
        ),
    ),
    GoldTable(
        name="fact_node_timeline",
        time_column="end_time",
        description="Instance utilisation at hourly grain (the system table is per minute): one row per instance per "
        "clock hour it ran, start_time/end_time clipped to the instance's uptime; cpu and swap are duration-weighted "
        "averages over the row, mem_used_percent its peak, network bytes its totals.",
        source="system.compute.node_timeline (aggregated from minutes to clock hours)",
        primary_key=("workspace_id", "instance_id", "start_time"),
        columns=(
            _k("account_id", "string"),
            _k("workspace_id", "string"),
            _k("cluster_id", "string"),
            _k("instance_id", "string", "e.g. i-0123456789abcdef0"),
            _k("start_time", "timestamp"),
            _k("end_time", "timestamp"),
            _k("driver", "boolean"),
            _k("node_type", "string"),
            _k("cpu_user_percent", "double"),
            _k("cpu_system_percent", "double"),
            _k("cpu_wait_percent", "double"),
            _k("mem_used_percent", "double", "Peak over the hour"),
            _k("mem_swap_percent", "double"),
            _k("network_sent_bytes", "bigint", "Total over the row"),
            _k("network_received_bytes", "bigint", "Total over the row"),
        ),
    ),
    GoldTable(
        name="dim_job_sla",
        description="The service level agreed per job: a maximum run duration and, for daily jobs, the UTC hour by "
        "which the run must have finished.",
        source="The job_slas section of the account file, entered by job owners (no system table holds SLAs; "
        "lakeflow.jobs.health_rules RUN_DURATION_SECONDS, since Dec 2025, is the closest)",
        primary_key=("workspace_id", "job_id"),
        columns=(
            _k("workspace_id", "string"),
            _k("job_id", "string"),
            _k("sla_duration_seconds", "bigint"),
            _c("sla_end_hour_utc", "int", "Deadline hour (0-23) for daily jobs; NULL otherwise"),
            _k("sla_owner", "string"),
        ),
    ),
    # ---------------------------------------------------------------- quality
    GoldTable(
        name="information_schema_tables_snapshot",
        time_column="snapshot_date",
        description="Daily snapshot of the tables in each monitored catalog, so schema history can be compared.",
        source="system.information_schema.tables (snapshotted daily)",
        primary_key=("snapshot_date", "table_catalog", "table_schema", "table_name"),
        columns=(
            _k("snapshot_date", "date"),
            _k("table_catalog", "string"),
            _k("table_schema", "string"),
            _k("table_name", "string"),
            _k("table_type", "string", "MANAGED, EXTERNAL, VIEW, MATERIALIZED_VIEW, STREAMING_TABLE"),
            _k("table_owner", "string"),
            _k("created", "timestamp"),
            _k("created_by", "string"),
            _k("last_altered", "timestamp", "Last definition change"),
            _k("last_altered_by", "string"),
            _c("data_source_format", "string", "DELTA, PARQUET, ...; may be NULL for views"),
            _c("comment", "string"),
        ),
    ),
    GoldTable(
        name="information_schema_columns_snapshot",
        time_column="snapshot_date",
        description="Daily snapshot of the columns of each monitored table.",
        source="system.information_schema.columns (snapshotted daily)",
        primary_key=("snapshot_date", "table_catalog", "table_schema", "table_name", "column_name"),
        columns=(
            _k("snapshot_date", "date"),
            _k("table_catalog", "string"),
            _k("table_schema", "string"),
            _k("table_name", "string"),
            _k("column_name", "string"),
            _k("ordinal_position", "int", "From 1 (the real information_schema view counts from 0)"),
            _k("data_type", "string", "STRING, LONG, INT, DOUBLE, DECIMAL, DATE, TIMESTAMP, BOOLEAN, ..."),
            _k("full_data_type", "string"),
            _k("is_nullable", "string", "YES or NO"),
        ),
    ),
    GoldTable(
        name="fact_data_quality_monitoring_table_results",
        time_column="event_time",
        description="One row per monitored table per daily scan: freshness (hours since the last commit vs the "
        "predicted commit time), completeness (daily rows vs the predicted range) and the rolled-up status.",
        source="system.data_quality_monitoring.table_results (freshness/completeness structs flattened)",
        primary_key=("table_full_name", "event_time"),
        columns=(
            _k("event_time", "timestamp"),
            _k("catalog_name", "string"),
            _k("schema_name", "string"),
            _k("table_name", "string"),
            _k("table_full_name", "string"),
            _k("status", "string", "Healthy, Unhealthy or Unknown"),
            _k("freshness_status", "string"),
            _c("commit_freshness_last_value", "timestamp", "Last commit before the scan"),
            _c("commit_freshness_predicted_value", "timestamp", "When the next commit was expected"),
            _c("hours_since_last_commit", "double"),
            _k("completeness_status", "string"),
            _c("daily_row_count", "bigint"),
            _c("daily_row_count_min_predicted", "bigint"),
            _c("daily_row_count_max_predicted", "bigint"),
            _c("total_row_count", "bigint"),
            _c(
                "upstream_job_id",
                "string",
                "root_cause_analysis.upstream_jobs[0].job_id: the job writing the table",
            ),
            _c("num_downstream_tables", "bigint", "downstream_impact.num_downstream_tables"),
        ),
    ),
)

GOLD_TABLES: dict[str, GoldTable] = {t.name: t for t in _TABLES}


def arrow_schema(table: GoldTable) -> pa.Schema:
    """The Arrow schema of a Gold table, columns in contract order, nullability as declared."""
    return pa.schema([pa.field(c.name, GOLD_TYPES[c.type], nullable=c.nullable) for c in table.columns])


def _table(name: str) -> GoldTable:
    try:
        return GOLD_TABLES[name]
    except KeyError:
        raise GoldContractError(
            f"unknown Gold table {name!r}; expected one of {sorted(GOLD_TABLES)}"
        ) from None


def _type_name(t: pa.DataType) -> str:
    for name, gt in GOLD_TYPES.items():
        if t.equals(gt):
            return name
    return str(t)


def check_table(name: str, table: pa.Table) -> None:
    """Raise GoldContractError unless `table` meets the contract of Gold table `name`.

    Checks, in order: every contract column is present with exactly the contract type; non-nullable
    columns hold no nulls; the primary key has no nulls and no duplicates. Extra columns are ignored.
    """
    spec = _table(name)
    present = set(table.column_names)
    missing = [c.name for c in spec.columns if c.name not in present]
    if missing:
        raise GoldContractError(f"{name}: missing column(s) {', '.join(missing)}")
    for col in spec.columns:
        found = table.schema.field(col.name).type
        if not found.equals(GOLD_TYPES[col.type]):
            raise GoldContractError(
                f"{name}.{col.name}: wrong type, expected {col.type} ({GOLD_TYPES[col.type]}), found {found}"
            )
    for col in spec.columns:
        nulls = table.column(col.name).null_count
        if nulls and (not col.nullable or col.name in spec.primary_key):
            raise GoldContractError(f"{name}.{col.name}: {nulls} null value(s) in a non-nullable column")
    _check_unique(spec, table)


def _check_unique(spec: GoldTable, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    keys = table.select(list(spec.primary_key))
    # Maps cannot be grouped, but no key column is a map; timestamps group fine.
    distinct = keys.group_by(list(spec.primary_key)).aggregate([]).num_rows
    dupes = table.num_rows - distinct
    if dupes:
        raise GoldContractError(
            f"{spec.name}: {dupes} duplicate primary key row(s) on ({', '.join(spec.primary_key)})"
        )


def _cast_column(table_name: str, col: GoldColumn, arr: pa.ChunkedArray) -> pa.ChunkedArray:
    target = GOLD_TYPES[col.type]
    found = arr.type
    if found.equals(target):
        return arr
    where = f"{table_name}.{col.name}"
    if pa.types.is_null(found):
        return pa.chunked_array([pa.nulls(len(arr), target)])
    if col.type == "timestamp":
        if pa.types.is_timestamp(found):
            if found.tz is None:
                arr = pc.assume_timezone(arr, "UTC")
            return arr.cast(target)
        if pa.types.is_string(found) or pa.types.is_large_string(found):
            return _parse_strings(where, arr, target)
        if pa.types.is_date(found):
            return pc.assume_timezone(arr.cast(pa.timestamp("us")), "UTC")
    if col.type == "date":
        if pa.types.is_string(found) or pa.types.is_large_string(found):
            return _parse_strings(where, arr, target)
        if pa.types.is_timestamp(found) or pa.types.is_date(found):
            return arr.cast(target)
    if col.type in ("bigint", "int", "double") and (
        pa.types.is_integer(found) or pa.types.is_floating(found)
    ):
        try:
            return arr.cast(target)  # safe cast: fails on overflow or lost fractions
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise GoldContractError(f"{where}: cannot cast {found} to {col.type}: {exc}") from None
    if col.type == "string" and (pa.types.is_large_string(found) or pa.types.is_dictionary(found)):
        return arr.cast(target)
    if col.type == "string" and pa.types.is_integer(found):
        # IDs exported as numbers by CSV type inference (e.g. workspace_id, job_id).
        return arr.cast(target)
    if col.type == "boolean" and (pa.types.is_string(found) or pa.types.is_large_string(found)):
        return _parse_strings(where, arr, target)
    if col.type == "map<string,string>" and pa.types.is_map(found):
        try:
            return arr.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise GoldContractError(f"{where}: cannot cast {found} to {col.type}: {exc}") from None
    if col.type == "map<string,string>" and (pa.types.is_string(found) or pa.types.is_large_string(found)):
        return _parse_json_maps(where, arr)
    raise GoldContractError(f"{where}: wrong type, expected {col.type} ({target}), found {found}")


def _parse_strings(where: str, arr: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    for attempt in _string_casts(target):
        try:
            return attempt(arr)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    bad = _first_unparseable(arr, target)
    raise GoldContractError(f"{where}: cannot parse {bad!r} as {target}")


def _string_casts(target: pa.DataType):
    if pa.types.is_timestamp(target):
        # With an offset ("...+00:00", "...Z") or naive, which is read as UTC.
        return (
            lambda a: pc.cast(a, target),
            lambda a: pc.assume_timezone(pc.cast(a, pa.timestamp("us")), "UTC"),
        )
    if pa.types.is_boolean(target):
        return (lambda a: pc.cast(pc.utf8_lower(a), target),)
    return (lambda a: pc.cast(a, target),)


def _first_unparseable(arr: pa.ChunkedArray, target: pa.DataType) -> str | None:
    for value in arr.to_pylist():
        if value is None:
            continue
        ok = False
        for attempt in _string_casts(target):
            try:
                attempt(pa.chunked_array([pa.array([value])]))
                ok = True
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        if not ok:
            return value
    return None


def _parse_json_maps(where: str, arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """CSV exports hold maps as JSON objects, e.g. {"team": "data"}."""
    import json

    out: list[list[tuple[str, str | None]] | None] = []
    for value in arr.to_pylist():
        if value is None or value == "":
            out.append(None if value is None else [])
            continue
        try:
            obj = json.loads(value)
        except json.JSONDecodeError:
            raise GoldContractError(f"{where}: cannot parse {value!r} as a JSON object map") from None
        if not isinstance(obj, dict):
            raise GoldContractError(f"{where}: {value!r} is not a JSON object")
        out.append([(str(k), None if v is None else str(v)) for k, v in obj.items()])
    return pa.chunked_array([pa.array(out, type=GOLD_TYPES["map<string,string>"])])


def conform(name: str, table: pa.Table) -> pa.Table:
    """Cast safely-castable columns to the contract types and order columns as in the contract.

    Extra columns are dropped. Missing columns and unsafe or unparseable values raise
    GoldContractError naming the table and column. Nullability and keys are checked by `check_table`.
    """
    spec = _table(name)
    present = set(table.column_names)
    missing = [c.name for c in spec.columns if c.name not in present]
    if missing:
        raise GoldContractError(f"{name}: missing column(s) {', '.join(missing)}")
    arrays = [_cast_column(name, col, table.column(col.name)) for col in spec.columns]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(spec))


def _build_steps() -> dict:
    from health_monitor.gold.build import gold_steps

    return gold_steps()


def _sources(table: GoldTable, steps: dict) -> str:
    step = steps.get(table.name)
    if step is None:
        return table.source
    parts = [f"`system.{s}`" for s in step.sources]
    parts += [f"account file: `{i}`" for i in step.inputs]
    return ", ".join(parts) + (" (*snapshot*)" if step.snapshot else "")


def render_markdown() -> str:
    """The Gold contract as Markdown; docs/gold-contract.md is exactly this text."""
    lines = [
        "# Gold contract",
        "",
        "<!-- Generated by health_monitor.gold.contract.render_markdown(); do not edit by hand. -->",
        "",
        "Every Gold table the feature pipelines read, with its columns, types, primary key and the",
        "system table(s) it maps from. The contract lives in `core/health_monitor/gold/contract.py`;",
        "this page is rendered from it and a test keeps the two equal.",
        "",
        "Conventions:",
        "",
        "- IDs are strings (workspace ids are 15-16 digit numbers held as text).",
        "- `timestamp` is UTC with microsecond precision; naive timestamps in an export are read as UTC.",
        "- Money and quantities are `double` (the system tables use `decimal(38,18)`).",
        "- Struct columns are flattened to `<struct>_<field>`.",
        "- Columns outside the contract are dropped on load; a missing column, a wrong type, a null in a",
        "  non-nullable column or a duplicate primary key is an error naming the table and column.",
        "",
        "Each table is built from the system tables by one step of `health-monitor gold`",
        "(`core/health_monitor/gold/build/`); the sources and the transformation below are the step's own,",
        "so they cannot drift from the code. Tables marked *snapshot* are appended to daily by",
        "`health-monitor snapshot`, because the system tables keep only their current state.",
        "",
        "| Table | Primary key | Built from |",
        "|---|---|---|",
    ]
    steps = _build_steps()
    for t in _TABLES:
        lines.append(f"| [`{t.name}`](#{t.name}) | {', '.join(t.primary_key)} | {_sources(t, steps)} |")
    gaps = [(t.name, c) for t in _TABLES for c in t.columns if "NULL from system tables" in c.description]
    lines += [
        "",
        "Columns that no system table fills (always, or on rows older than the column in Databricks):",
        "they are NULL, and the features that read them lose that signal on a real account.",
        "",
        *[f"- `{table}.{c.name}`: {c.description}" for table, c in gaps],
    ]
    for t in _TABLES:
        step = steps.get(t.name)
        how = [f"- Transformation: {step.transform}"] if step is not None else []
        if step is not None and step.grain:
            how.append(
                f"- Incremental: rows whose `{step.grain}` falls on or after the last build's latest day "
                f"minus {step.late_days} day(s) are rebuilt; older rows are kept"
            )
        lines += [
            "",
            f"## {t.name}",
            "",
            t.description,
            "",
            f"- Built from: {_sources(t, steps)}",
            *how,
            f"- Primary key: `({', '.join(t.primary_key)})`",
            f"- Known at: `{t.time_column}`" if t.time_column else "- Known at: static (no time column)",
            "",
            "| Column | Type | Nullable | Description |",
            "|---|---|---|---|",
        ]
        for c in t.columns:
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.description} |")
    lines += ["", *_account_inputs_section()]
    return "\n".join(lines) + "\n"


def _account_inputs_section() -> list[str]:
    """The account file's format, from the docstring of the module that reads it."""
    import inspect

    from health_monitor.system import inputs

    doc = inspect.getdoc(inputs) or ""
    intro, _, rest = doc.partition("::")
    example, _, after = rest.lstrip("\n").partition("\n\n")
    body = [line[4:] if line.startswith("    ") else line for line in example.strip("\n").splitlines()]
    return [
        "## Account inputs",
        "",
        " ".join(intro.split()) + ":",
        "",
        "```yaml",
        *body,
        "```",
        "",
        " ".join(line.strip() for line in after.strip().splitlines()),
    ]
