"""Gold steps of the quality family: data-quality monitoring results, and the daily snapshots of
``information_schema`` and ``workspaces_latest`` (which keep no history of their own).

The three snapshot steps return the rows of one snapshot, dated ``ctx.today``, from the current
system tables; :func:`health_monitor.gold.snapshot.take_snapshot` appends them to the history
tables (``gold`` never rebuilds those).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from health_monitor.gold.build import BuildContext, GoldStep

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SYSTEM_CATALOG = "system"  # a real information_schema lists it too; it is not monitored
INFO_SCHEMA = "information_schema"


def monitored(df: DataFrame) -> DataFrame:
    """Rows of information_schema.tables/columns about the account's own tables: not the system
    catalog, not internal catalogs (``__databricks_internal``), not information_schema views."""
    from pyspark.sql import functions as F

    return df.where(
        (F.col("table_catalog") != SYSTEM_CATALOG)
        & ~F.col("table_catalog").startswith("__")
        & (F.col("table_schema") != INFO_SCHEMA)
    )


def _table_results(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    df = ctx.system("data_quality_monitoring.table_results")
    if ctx.since is not None:
        df = df.where(F.to_date("event_time") >= F.lit(ctx.since))
    commit = F.col("freshness.commit_freshness")
    daily = F.col("completeness.daily_row_count")
    unknown = F.lit("Unknown")
    hours = (F.unix_micros("event_time") - F.unix_micros(commit["last_value"])) / 3.6e9
    return df.select(
        "event_time",
        "catalog_name",
        "schema_name",
        "table_name",
        F.concat_ws(".", "catalog_name", "schema_name", "table_name").alias("table_full_name"),
        F.coalesce("status", unknown).alias("status"),
        F.coalesce(F.col("freshness.status"), unknown).alias("freshness_status"),
        commit["last_value"].alias("commit_freshness_last_value"),
        commit["predicted_value"].alias("commit_freshness_predicted_value"),
        F.bround(hours, 3).alias("hours_since_last_commit"),
        F.coalesce(F.col("completeness.status"), unknown).alias("completeness_status"),
        daily["last_value"].alias("daily_row_count"),
        daily["min_predicted_value"].alias("daily_row_count_min_predicted"),
        daily["max_predicted_value"].alias("daily_row_count_max_predicted"),
        F.col("completeness.total_row_count.last_value").alias("total_row_count"),
        F.get(F.col("root_cause_analysis.upstream_jobs.job_id"), 0).alias("upstream_job_id"),
        F.col("downstream_impact.num_downstream_tables").alias("num_downstream_tables"),
    )


def _tables_snapshot(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    return monitored(ctx.system("information_schema.tables")).select(
        F.lit(ctx.today).cast("date").alias("snapshot_date"),
        "table_catalog",
        "table_schema",
        "table_name",
        "table_type",
        "table_owner",
        "created",
        "created_by",
        "last_altered",
        "last_altered_by",
        "data_source_format",
        "comment",
    )


def _columns_snapshot(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    table = Window.partitionBy("table_catalog", "table_schema", "table_name")
    first = F.min("ordinal_position").over(table)
    return monitored(ctx.system("information_schema.columns")).select(
        F.lit(ctx.today).cast("date").alias("snapshot_date"),
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        (F.col("ordinal_position") - first + 1).alias("ordinal_position"),
        "data_type",
        "full_data_type",
        "is_nullable",
    )


def cloud_of(url: Column) -> Column:
    """The cloud a workspace runs on, from its URL's domain; NULL for an unknown domain."""
    from pyspark.sql import functions as F

    host = F.lower(F.regexp_extract(url, r"^(?:https?://)?([^/]+)", 1))
    return (
        F.when(host.rlike(r"\.gcp\.databricks\.com$"), F.lit("GCP"))
        .when(host.rlike(r"\.cloud\.databricks\.(com|us|mil)$"), F.lit("AWS"))
        .when(host.rlike(r"(\.azuredatabricks\.net|\.databricks\.azure\.(cn|us))$"), F.lit("AZURE"))
    )


def _workspaces(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    return ctx.system("access.workspaces_latest").select(
        "account_id",
        "workspace_id",
        "workspace_name",
        "workspace_url",
        F.lit(None).cast("string").alias("region"),
        cloud_of(F.col("workspace_url")).alias("cloud"),
        "status",
        "create_time",
        F.col("create_time").alias("change_time"),
        F.lit(True).alias("is_current"),
    )


STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        table="fact_data_quality_monitoring_table_results",
        sources=("data_quality_monitoring.table_results",),
        transform=(
            "The freshness, completeness, downstream_impact and root_cause_analysis structs flattened "
            "(upstream_job_id = the first upstream job; a missing status is Unknown); "
            "hours_since_last_commit = event_time - freshness.commit_freshness.last_value."
        ),
        build=_table_results,
        grain="event_time",
    ),
    GoldStep(
        table="information_schema_tables_snapshot",
        sources=("information_schema.tables",),
        transform=(
            "Appended daily by `health-monitor snapshot`: the current rows of every catalog but "
            "`system` and `__*` internal ones, without the information_schema views, dated the snapshot day."
        ),
        build=_tables_snapshot,
        snapshot=True,
    ),
    GoldStep(
        table="information_schema_columns_snapshot",
        sources=("information_schema.columns",),
        transform=(
            "Appended daily by `health-monitor snapshot`: the current columns of the same tables, "
            "dated the snapshot day; ordinal_position renumbered from 1 per table (the real view counts from 0)."
        ),
        build=_columns_snapshot,
        snapshot=True,
    ),
    GoldStep(
        table="dim_workspace",
        sources=("access.workspaces_latest",),
        transform=(
            "SCD2 kept by `health-monitor snapshot`: a workspace's first row has change_time = create_time; "
            "a new row (change_time = the snapshot time) when its name, status or URL changed; is_current "
            "on its latest row. cloud from the URL's domain; region is NULL (no system table holds it)."
        ),
        build=_workspaces,
        snapshot=True,
    ),
)
