"""Quality feature tables: table freshness per day, and catalog shape per snapshot."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import FAILURE_STATES, calendar, prior_days, ratio, window_median

NEVER_DAYS = 3650  # "days since" for something never seen: longer than any history


def freshness_features(tables: Tables):
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    daily = checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date")).agg(
        F.max("hours_since_last_commit").alias("hours_since_last_commit"),
        F.max((F.upper("freshness_status") == "UNHEALTHY").cast("int")).alias("was_stale"),
        F.max((F.upper("completeness_status") == "UNHEALTHY").cast("int")).alias("was_incomplete"),
        F.max("daily_row_count").alias("daily_row_count"),
        F.max("upstream_job_id").alias("upstream_job_id"),
        F.max("num_downstream_tables").alias("num_downstream_tables"),
        # The monitor's own expectation: the next commit is due this long after the last one.
        F.max(
            (
                F.unix_timestamp("commit_freshness_predicted_value")
                - F.unix_timestamp("commit_freshness_last_value")
            )
            / 3600.0
        ).alias("expected_commit_interval_hours"),
    )
    slices = tables.gold("fact_job_run_timeline").where(F.col("result_state").isNotNull())
    upstream = slices.groupBy(
        F.col("job_id").alias("upstream_job_id"), F.to_date("period_end_time").alias("check_date")
    ).agg(
        F.max(F.col("result_state").isin(*FAILURE_STATES).cast("int")).alias("upstream_failed"),
        (F.max(F.hour("period_end_time")) + F.max(F.minute("period_end_time")) / 60.0).alias(
            "upstream_end_hour"
        ),
    )
    daily = daily.join(upstream, ["upstream_job_id", "check_date"], "left")
    w7 = prior_days("table_full_name", "check_date", 7, include_today=True)
    w14 = prior_days("table_full_name", "check_date", 14, include_today=True)
    w30 = prior_days("table_full_name", "check_date", 30, include_today=True)
    hist = daily.select(
        "*",
        F.avg("hours_since_last_commit").over(w7).alias("avg_staleness_7d"),
        F.stddev("hours_since_last_commit").over(w7).alias("std_staleness_7d"),
        F.max("hours_since_last_commit").over(w30).alias("max_staleness_30d"),
        F.avg("was_stale").over(w30).alias("stale_rate_30d"),
        F.avg("upstream_failed").over(w7).alias("upstream_failure_rate_7d"),
        F.avg("upstream_end_hour").over(w7).alias("upstream_avg_end_hour_7d"),
        F.avg("daily_row_count").over(w7).alias("avg_row_count_7d"),
        # Robust "usual" staleness: a stale day moves the mean a lot and the median not at all.
        window_median("hours_since_last_commit", w7).alias("median_staleness_7d"),
        window_median("hours_since_last_commit", w14).alias("median_staleness_14d"),
        F.min("hours_since_last_commit").over(w7).alias("min_staleness_7d"),
        F.sum("was_stale").over(w7).alias("stale_days_7d"),
        F.avg("upstream_end_hour")
        .over(prior_days("table_full_name", "check_date", 7))
        .alias("upstream_usual_end_hour"),
    )
    return hist.select(
        "table_full_name",
        "check_date",
        "hours_since_last_commit",
        "avg_staleness_7d",
        "std_staleness_7d",
        "max_staleness_30d",
        "stale_rate_30d",
        "was_stale",
        "was_incomplete",
        ratio(F.col("daily_row_count"), F.col("avg_row_count_7d")).alias("row_count_vs_7d"),
        F.coalesce("upstream_failed", F.lit(0)).alias("upstream_failed"),
        "upstream_failure_rate_7d",
        "upstream_end_hour",
        "upstream_avg_end_hour_7d",
        (F.col("upstream_end_hour") - F.col("upstream_usual_end_hour")).alias("upstream_end_hour_delay"),
        "median_staleness_7d",
        "median_staleness_14d",
        "min_staleness_7d",
        "stale_days_7d",
        "num_downstream_tables",
        "expected_commit_interval_hours",
        *calendar("check_date"),
    )


def quality_features(tables: Tables):
    """Catalog-level shape per daily information_schema snapshot (the architecture's table)."""
    tabs = tables.gold("information_schema_tables_snapshot")
    cols = tables.gold("information_schema_columns_snapshot")
    t = tabs.groupBy(F.col("table_catalog").alias("catalog_name"), "snapshot_date").agg(
        F.count(F.lit(1)).alias("table_count")
    )
    c = cols.groupBy(F.col("table_catalog").alias("catalog_name"), "snapshot_date").agg(
        F.count(F.lit(1)).alias("column_count"),
        F.avg((F.col("is_nullable") == "YES").cast("double")).alias("nullable_column_ratio"),
    )
    return t.join(c, ["catalog_name", "snapshot_date"], "left").select(
        "catalog_name",
        "snapshot_date",
        "table_count",
        "column_count",
        "nullable_column_ratio",
        ratio(F.col("column_count"), F.col("table_count")).alias("avg_columns_per_table"),
    )


FRESHNESS_FEATURES = FeatureTable(
    name="freshness_features",
    domain="quality",
    primary_keys=("table_full_name", "check_date"),
    timestamp_key="check_date",
    # Its longest window: the 30 check days up to the row's own.
    lookback_days=30,
    compute=freshness_features,
    description="Per table and day: hours since its last commit, its history, and its upstream job's health.",
    sources=("fact_data_quality_monitoring_table_results", "fact_job_run_timeline"),
)

QUALITY_FEATURES = FeatureTable(
    name="quality_features",
    domain="quality",
    primary_keys=("catalog_name", "snapshot_date"),
    timestamp_key="snapshot_date",
    compute=quality_features,
    description="Per catalog and daily information_schema snapshot: tables, columns, nullability.",
    sources=("information_schema_tables_snapshot", "information_schema_columns_snapshot"),
)


def _full_name(prefix: str = "table"):
    return F.concat_ws(".", f"{prefix}_catalog", f"{prefix}_schema", f"{prefix}_name")


def schema_diffs(tables: Tables):
    """Per table and snapshot day: what changed in its columns since its previous snapshot."""
    cols = tables.gold("information_schema_columns_snapshot").select(
        _full_name().alias("table_full_name"),
        "snapshot_date",
        "column_name",
        "full_data_type",
        "is_nullable",
    )
    days = (
        cols.groupBy("table_full_name", "snapshot_date")
        .agg(
            F.count(F.lit(1)).alias("column_count"),
            F.avg((F.col("is_nullable") == "YES").cast("double")).alias("nullable_share"),
        )
        .withColumn(
            "prev_date",
            F.lag("snapshot_date").over(Window.partitionBy("table_full_name").orderBy("snapshot_date")),
        )
    )
    prev = cols.select(
        "table_full_name",
        F.col("snapshot_date").alias("prev_date"),
        "column_name",
        F.col("full_data_type").alias("prev_type"),
        F.col("is_nullable").alias("prev_nullable"),
    )
    current = (
        cols.join(
            days.select("table_full_name", "snapshot_date", "prev_date"), ["table_full_name", "snapshot_date"]
        )
        .where(F.col("prev_date").isNotNull())
        .join(prev, ["table_full_name", "prev_date", "column_name"], "left")
        .groupBy("table_full_name", "snapshot_date")
        .agg(
            F.sum(F.col("prev_type").isNull().cast("int")).alias("columns_added"),
            F.sum(
                (F.col("prev_type").isNotNull() & (F.col("prev_type") != F.col("full_data_type"))).cast("int")
            ).alias("columns_retyped"),
            F.sum(((F.col("prev_nullable") == "YES") & (F.col("is_nullable") == "NO")).cast("int")).alias(
                "columns_made_required"
            ),
            F.sum((F.col("prev_type").isNull() & (F.col("is_nullable") == "NO")).cast("int")).alias(
                "required_columns_added"
            ),
        )
    )
    now = cols.select("table_full_name", "snapshot_date", "column_name")
    dropped = (
        days.where(F.col("prev_date").isNotNull())
        .select("table_full_name", "snapshot_date", "prev_date")
        .join(prev.select("table_full_name", "prev_date", "column_name"), ["table_full_name", "prev_date"])
        .join(now, ["table_full_name", "snapshot_date", "column_name"], "left_anti")
        .groupBy("table_full_name", "snapshot_date")
        .agg(F.count(F.lit(1)).alias("columns_dropped"))
    )
    counts = ("columns_added", "columns_retyped", "columns_made_required", "required_columns_added")
    diff = days.join(current, ["table_full_name", "snapshot_date"], "left").join(
        dropped, ["table_full_name", "snapshot_date"], "left"
    )
    return diff.select(
        "table_full_name",
        "snapshot_date",
        "column_count",
        "nullable_share",
        *[F.coalesce(c, F.lit(0)).alias(c) for c in (*counts, "columns_dropped")],
        F.coalesce(
            F.col("column_count")
            - F.lag("column_count").over(Window.partitionBy("table_full_name").orderBy("snapshot_date")),
            F.lit(0),
        ).alias("column_count_delta"),
    )


def _reader_edges(tables: Tables):
    """(table, job) read edges from lineage, each from the day it was first seen."""
    return (
        tables.gold("fact_table_lineage")
        .where((F.col("entity_type") == "JOB") & F.col("source_table_full_name").isNotNull())
        .groupBy(F.col("source_table_full_name").alias("table_full_name"), F.col("entity_id").alias("job_id"))
        .agg(F.min("event_date").alias("first_read"))
    )


def _writer_edits(tables: Tables):
    """Per job: the days its definition changed (dim_job versions after the first)."""
    versions = tables.gold("dim_job").select("job_id", "change_time", "create_time")
    return versions.where(F.col("change_time") > F.col("create_time")).select(
        "job_id", F.to_date("change_time").alias("edit_date")
    )


def schema_features(tables: Tables):
    """Per table and daily snapshot: the schema diff against the previous snapshot, the table's
    change history, its writer job's edits and the jobs that read it."""
    diff = schema_diffs(tables)
    diff = diff.withColumn(
        "schema_changed",
        (
            (
                F.col("columns_added")
                + F.col("columns_dropped")
                + F.col("columns_retyped")
                + F.col("columns_made_required")
            )
            > 0
        ).cast("int"),
    ).withColumn(
        "breaking_columns",
        F.col("columns_dropped") + F.col("columns_retyped") + F.col("columns_made_required"),
    )
    tabs = tables.gold("information_schema_tables_snapshot").select(
        _full_name().alias("table_full_name"),
        "snapshot_date",
        F.datediff("snapshot_date", F.to_date("created")).alias("table_age_days"),
        F.datediff("snapshot_date", F.to_date("last_altered")).alias("days_since_altered"),
        F.col("table_type").isin("VIEW", "MATERIALIZED_VIEW").cast("int").alias("is_view"),
    )
    diff = diff.join(tabs, ["table_full_name", "snapshot_date"], "left")

    ever = (
        Window.partitionBy("table_full_name")
        .orderBy("snapshot_date")
        .rowsBetween(Window.unboundedPreceding, 0)
    )
    w30 = prior_days("table_full_name", "snapshot_date", 30, include_today=True)
    w90 = prior_days("table_full_name", "snapshot_date", 90, include_today=True)
    hist = diff.select(
        "*",
        F.sum("schema_changed").over(ever).alias("changes_total"),
        F.count(F.lit(1)).over(ever).alias("days_observed"),
        F.sum("schema_changed").over(w30).alias("changes_30d"),
        F.sum("schema_changed").over(w90).alias("changes_90d"),
        F.max(F.when(F.col("schema_changed") == 1, F.col("snapshot_date"))).over(ever).alias("last_change"),
    )

    # Writer job: the job the monitor names as the table's writer, and its definition edits.
    writer = (
        tables.gold("fact_data_quality_monitoring_table_results")
        .where(F.col("upstream_job_id").isNotNull())
        .groupBy("table_full_name", F.to_date("event_time").alias("snapshot_date"))
        .agg(F.max("upstream_job_id").alias("writer_job_id"))
    )
    hist = hist.join(writer, ["table_full_name", "snapshot_date"], "left")
    edits = _writer_edits(tables)
    edit_stats = (
        hist.select("table_full_name", "snapshot_date", "writer_job_id")
        .join(edits, F.col("writer_job_id") == edits["job_id"])
        .where(F.col("edit_date") <= F.col("snapshot_date"))
        .groupBy("table_full_name", "snapshot_date")
        .agg(
            F.sum((F.datediff("snapshot_date", "edit_date") < 30).cast("int")).alias("writer_edits_30d"),
            F.min(F.datediff("snapshot_date", "edit_date")).alias("days_since_writer_edit"),
        )
    )
    hist = hist.join(edit_stats, ["table_full_name", "snapshot_date"], "left")

    # Readers: jobs seen reading the table up to the day (who a schema change would break).
    readers = (
        hist.select("table_full_name", "snapshot_date")
        .join(_reader_edges(tables), "table_full_name")
        .where(F.col("first_read") <= F.col("snapshot_date"))
        .groupBy("table_full_name", "snapshot_date")
        .agg(F.countDistinct("job_id").alias("reader_jobs"))
    )
    hist = hist.join(readers, ["table_full_name", "snapshot_date"], "left")
    return hist.select(
        "table_full_name",
        "snapshot_date",
        "column_count",
        "nullable_share",
        "column_count_delta",
        "columns_added",
        "columns_dropped",
        "columns_retyped",
        "columns_made_required",
        "required_columns_added",
        "breaking_columns",
        "schema_changed",
        "changes_total",
        "changes_30d",
        "changes_90d",
        ratio(F.col("changes_total"), F.col("days_observed")).alias("change_rate_history"),
        # Never changed in the snapshots: unchanged since its last definition change.
        F.coalesce(F.datediff("snapshot_date", "last_change"), F.col("days_since_altered")).alias(
            "days_since_change"
        ),
        "table_age_days",
        "days_since_altered",
        "is_view",
        F.coalesce("writer_edits_30d", F.lit(0)).alias("writer_edits_30d"),
        F.coalesce("days_since_writer_edit", F.lit(NEVER_DAYS)).alias("days_since_writer_edit"),
        F.coalesce("reader_jobs", F.lit(0)).alias("reader_jobs"),
        *calendar("snapshot_date")[:2],
    )


def table_quality_features(tables: Tables):
    """Per table and daily scan: its completeness result (daily rows against the monitor's
    predicted range) and the recent history of that result."""
    checks = tables.gold("fact_data_quality_monitoring_table_results")
    mid = (F.col("daily_row_count_min_predicted") + F.col("daily_row_count_max_predicted")) / 2.0
    daily = checks.groupBy("table_full_name", F.to_date("event_time").alias("check_date")).agg(
        F.max(ratio(F.col("daily_row_count"), mid)).alias("completeness_ratio"),
        F.max(ratio(F.col("daily_row_count_min_predicted"), mid)).alias("healthy_ratio_floor"),
        F.max((F.upper("completeness_status") == "UNHEALTHY").cast("int")).alias("incomplete"),
        F.max((F.col("daily_row_count") == 0).cast("int")).alias("no_rows"),
        F.max("total_row_count").alias("total_row_count"),
    )
    daily = daily.withColumn(
        "degraded",
        (
            (F.col("completeness_ratio") > 0) & (F.col("completeness_ratio") < F.col("healthy_ratio_floor"))
        ).cast("int"),
    )
    order = Window.partitionBy("table_full_name").orderBy("check_date")
    ever = order.rowsBetween(Window.unboundedPreceding, 0)
    daily = daily.withColumn("__run", F.sum(1 - F.col("degraded")).over(ever))
    run = (
        Window.partitionBy("table_full_name", "__run")
        .orderBy("check_date")
        .rowsBetween(Window.unboundedPreceding, 0)
    )
    w7 = prior_days("table_full_name", "check_date", 7, include_today=True)
    w30 = prior_days("table_full_name", "check_date", 30, include_today=True)
    # Nonzero days only: a day without a commit says "stale", not "fewer rows".
    present = F.when(F.col("no_rows") == 0, F.col("completeness_ratio"))
    hist = daily.select(
        "*",
        F.sum("degraded").over(run).alias("degraded_run_days"),
        F.lag("completeness_ratio").over(order).alias("completeness_ratio_prev"),
        window_median("completeness_ratio", w7).alias("completeness_median_7d"),
        F.avg(present).over(w7).alias("completeness_mean_7d"),
        F.stddev(present).over(w7).alias("completeness_std_7d"),
        F.min(present).over(w7).alias("completeness_min_7d"),
        F.avg(present).over(w30).alias("completeness_mean_30d"),
        F.sum("incomplete").over(w7).alias("incomplete_days_7d"),
        F.sum("incomplete").over(w30).alias("incomplete_days_30d"),
        F.sum("degraded").over(w30).alias("degraded_days_30d"),
        F.sum("no_rows").over(w7).alias("no_row_days_7d"),
    )
    return hist.select(
        "table_full_name",
        "check_date",
        "completeness_ratio",
        "completeness_ratio_prev",
        "healthy_ratio_floor",
        "incomplete",
        "degraded",
        "no_rows",
        "degraded_run_days",
        "completeness_median_7d",
        "completeness_mean_7d",
        "completeness_std_7d",
        "completeness_min_7d",
        "completeness_mean_30d",
        "incomplete_days_7d",
        "incomplete_days_30d",
        "degraded_days_30d",
        "no_row_days_7d",
    )


SCHEMA_FEATURES = FeatureTable(
    name="schema_features",
    domain="quality",
    primary_keys=("table_full_name", "snapshot_date"),
    timestamp_key="snapshot_date",
    compute=schema_features,
    description=(
        "Per table and daily information_schema snapshot: columns added, dropped, retyped or made "
        "required since the previous snapshot; its change history; its writer job's edits; how many "
        "jobs read it."
    ),
    sources=(
        "information_schema_columns_snapshot",
        "information_schema_tables_snapshot",
        "fact_data_quality_monitoring_table_results",
        "dim_job",
        "fact_table_lineage",
    ),
)

TABLE_QUALITY_FEATURES = FeatureTable(
    name="table_quality_features",
    domain="quality",
    primary_keys=("table_full_name", "check_date"),
    timestamp_key="check_date",
    compute=table_quality_features,
    description=(
        "Per table and daily scan: daily rows against the monitor's predicted range (completeness "
        "ratio), degraded days and their run length, and the ratio's recent level and spread."
    ),
    sources=("fact_data_quality_monitoring_table_results",),
)
