"""Resource features for tags and chargeback: which team a billed resource belongs to.

A resource is a job, an all-purpose cluster, a SQL warehouse or a DLT pipeline: what billing rows
name and what the ``team`` tag is set on. Tag values are encoded as codes (their rank among the
values seen on billing rows) so that estimators, which take numbers, can read a candidate team.
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor_cost.billing import LAG, billing_lag, in_first_report, judged_days, team_tag

RESOURCE_KEYS = ["resource_type", "resource_id"]
RESOURCE_TYPES = ("JOB", "CLUSTER", "WAREHOUSE", "PIPELINE")


def _usage_resources(usage):
    """Billing rows with the resource they bill (``resource_type``, ``resource_id``)."""
    kind = (
        F.when(F.col("job_id").isNotNull(), F.lit("JOB"))
        .when(F.col("warehouse_id").isNotNull(), F.lit("WAREHOUSE"))
        .when(F.col("dlt_pipeline_id").isNotNull(), F.lit("PIPELINE"))
        .when(F.col("cluster_id").isNotNull(), F.lit("CLUSTER"))
    )
    rid = F.coalesce("job_id", "warehouse_id", "dlt_pipeline_id", "cluster_id")
    return usage.select("*", kind.alias("resource_type"), rid.alias("resource_id")).where(
        F.col("resource_type").isNotNull()
    )


def _named(tables: Tables):
    """Name, owner and creation date of each named resource (from its first version)."""
    first = lambda c, t: F.min_by(c, t)  # noqa: E731
    jobs = (
        tables.gold("dim_job")
        .groupBy("workspace_id", F.col("job_id").alias("resource_id"))
        .agg(
            first("name", "change_time").alias("name"),
            first("creator_user_name", "change_time").alias("owner"),
            F.min("create_time").alias("created"),
        )
        .withColumn("resource_type", F.lit("JOB"))
    )
    clusters = (
        tables.gold("dim_cluster")
        .where(F.col("cluster_source") != "JOB")
        .groupBy("workspace_id", F.col("cluster_id").alias("resource_id"))
        .agg(
            first("cluster_name", "change_time").alias("name"),
            first("owned_by", "change_time").alias("owner"),
            F.min("create_time").alias("created"),
        )
        .withColumn("resource_type", F.lit("CLUSTER"))
    )
    warehouses = (
        tables.gold("dim_warehouse")
        .groupBy("workspace_id", F.col("warehouse_id").alias("resource_id"))
        .agg(
            first("warehouse_name", "change_time").alias("name"),
            first("created_by", "change_time").alias("owner"),
            F.min("change_time").alias("created"),
        )
        .withColumn("resource_type", F.lit("WAREHOUSE"))
    )
    return jobs.unionByName(clusters).unionByName(warehouses)


def team_vocabulary(usage):
    """Every team tag value seen on billing rows, with its code (rank in sorted order, from 0)."""
    return (
        usage.select(team_tag().alias("team"))
        .where(F.col("team").isNotNull())
        .distinct()
        .withColumn("team_code", F.dense_rank().over(Window.orderBy("team")) - 1)
    )


def _name_hint(resources, vocab):
    """The team whose value appears as a word in the resource's name (the longest if several)."""
    word = F.expr("lower(name) rlike concat('(^|[^a-z])', team, '([^a-z]|$)')")
    hits = (
        resources.where(F.col("name").isNotNull())
        .select(*RESOURCE_KEYS, "name")
        # driver-read: one row per distinct team tag value
        .crossJoin(F.broadcast(vocab))
        .where(word)
    )
    return hits.groupBy(*RESOURCE_KEYS).agg(
        F.max_by("team_code", F.length("team")).alias("name_team_code"),
        F.count("*").alias("name_team_matches"),
    )


def _prior_mode(resources, group: str, prefix: str):
    """Per resource: the most frequent team code among tagged resources of the same ``group``
    created before it, and that team's share of them."""
    a = resources.select(*RESOURCE_KEYS, F.col(group).alias("__g"), F.col("created").alias("__t"))
    b = resources.where(F.col("team_code").isNotNull()).select(
        F.col(group).alias("__g"), F.col("created").alias("__tb"), F.col("team_code").alias("__team")
    )
    counts = (
        a.join(b, (a["__g"] == b["__g"]) & (b["__tb"] < a["__t"]))
        .groupBy(*RESOURCE_KEYS, "__team")
        .agg(F.count("*").alias("__n"))
    )
    return counts.groupBy(*RESOURCE_KEYS).agg(
        F.max_by("__team", F.struct("__n", -F.col("__team"))).alias(f"{prefix}_team_code"),
        (F.max("__n") / F.sum("__n")).alias(f"{prefix}_team_share"),
        F.sum("__n").alias(f"{prefix}_tagged_count"),
    )


def resources(tables: Tables):
    """Every billed resource: keys, workspace, name, owner, creation time, its team tag."""
    usage = _usage_resources(tables.gold("fact_usage"))
    vocab = team_vocabulary(usage)
    # Workspace and owner from the first billed record, as a named resource's are its first
    # version's (ties broken by value: whichever partition a row came from, the same answer).
    # Text cannot sit in a hash aggregate's buffer, so aggregating it over every billing row would
    # sort them all. Grouped first by the text itself (hash keys), a resource's rows collapse to
    # one per workspace, team and owner; the text is aggregated over those few.
    per_value = usage.groupBy(
        *RESOURCE_KEYS,
        "workspace_id",
        team_tag().alias("team"),
        F.coalesce("run_as", "owned_by").alias("owner"),
    ).agg(
        F.min("usage_start_time").alias("__first"),
        F.sum("list_cost").alias("__cost"),
        F.max(F.col("product_features_is_serverless").cast("int")).alias("is_serverless"),
    )
    owner = F.col("owner")
    billed = per_value.groupBy(*RESOURCE_KEYS).agg(
        F.min_by("workspace_id", F.struct("__first", "workspace_id")).alias("workspace_id"),
        F.max("team").alias("team"),
        F.min_by(owner, F.when(owner.isNotNull(), F.struct("__first", owner))).alias("__billed_owner"),
        F.min("__first").alias("__first_billed"),
        F.sum("__cost").alias("total_cost"),
        F.max("is_serverless").alias("is_serverless"),
    )
    named = _named(tables).drop("workspace_id")
    out = billed.join(named, RESOURCE_KEYS, "left").select(
        *RESOURCE_KEYS,
        "workspace_id",
        "name",
        F.coalesce("owner", "__billed_owner").alias("owner"),
        F.coalesce("created", "__first_billed").alias("created"),
        "team",
        "total_cost",
        "is_serverless",
    )
    # One row per resource, read by the features' five branches: computed once for all of them,
    # not once per branch (the team vocabulary, also read by the name hint, is its own small scan).
    return tables.shared(out.join(vocab, "team", "left")), vocab


def resource_tag_features(tables: Tables):
    res, vocab = resources(tables)
    ws_code = F.dense_rank().over(Window.orderBy("workspace_id")) - 1
    type_code = F.array_position(F.array(*[F.lit(t) for t in RESOURCE_TYPES]), F.col("resource_type")) - 1
    # The first word of the name: a naming convention ("backfill_...", "shared-...") that earlier
    # resources of one team share.
    res = res.withColumn(
        "__prefix", F.lower(F.regexp_extract(F.coalesce("name", F.lit("")), r"^([^_\s-]+)", 1))
    )
    out = (
        res.select("*", ws_code.alias("workspace_code"), type_code.cast("int").alias("resource_type_code"))
        .join(_prior_mode(res.where(F.col("__prefix") != ""), "__prefix", "prefix"), RESOURCE_KEYS, "left")
        .join(_name_hint(res, vocab), RESOURCE_KEYS, "left")
        .join(_prior_mode(res, "workspace_id", "workspace"), RESOURCE_KEYS, "left")
        .join(_prior_mode(res, "owner", "owner"), RESOURCE_KEYS, "left")
    )
    return out.select(
        *RESOURCE_KEYS,
        "workspace_id",
        F.to_date("created").alias("first_seen_date"),
        "team",
        "workspace_code",
        "resource_type_code",
        "name_team_code",
        F.coalesce("name_team_matches", F.lit(0)).alias("name_team_matches"),
        "workspace_team_code",
        "workspace_team_share",
        F.coalesce("workspace_tagged_count", F.lit(0)).alias("workspace_tagged_count"),
        "owner_team_code",
        "owner_team_share",
        F.coalesce("owner_tagged_count", F.lit(0)).alias("owner_tagged_count"),
        "prefix_team_code",
        "prefix_team_share",
        F.coalesce("prefix_tagged_count", F.lit(0)).alias("prefix_tagged_count"),
        F.log1p(F.greatest("total_cost", F.lit(0.0))).alias("log_total_cost"),
        F.coalesce("is_serverless", F.lit(0)).alias("is_serverless"),
    )


RESOURCE_TAG_FEATURES = FeatureTable(
    name="resource_tag_features",
    domain="cost",
    primary_keys=("resource_type", "resource_id"),
    compute=resource_tag_features,
    description=(
        "Per billed resource (job, all-purpose cluster, warehouse, pipeline): its team tag if any, "
        "the team named in its name, and the most frequent team among tagged resources of its "
        "workspace, owner and name prefix created before it (codes: rank of the team among tag values)."
    ),
    sources=("fact_usage", "dim_job", "dim_cluster", "dim_warehouse"),
)


def resource_daily_spend(tables: Tables):
    """Per resource and usage day, its spend as first reported when the day is judged (rows
    ingested within the workspace's billing lag, see :func:`~health_monitor_cost.billing.judged_days`)."""
    usage = tables.gold("fact_usage")
    judged = judged_days(billing_lag(usage, ["workspace_id"]), ["workspace_id"])
    usage = _usage_resources(usage.join(judged, ["workspace_id", "usage_date"]).where(in_first_report()))
    family = F.col("billing_origin_product")
    return usage.groupBy(*RESOURCE_KEYS, "usage_date", "as_of_date").agg(
        F.first("workspace_id").alias("workspace_id"),
        F.first(LAG).alias(LAG),
        F.sum("list_cost").alias("cost_reported"),
        F.sum("usage_quantity").alias("quantity_reported"),
        F.count("*").alias("records"),
        F.avg((family == "JOBS").cast("double")).alias("jobs_share"),
        F.avg((family == "ALL_PURPOSE").cast("double")).alias("all_purpose_share"),
        F.avg((family == "SQL").cast("double")).alias("sql_share"),
        F.avg(F.coalesce(F.col("product_features_is_serverless").cast("double"), F.lit(0.0))).alias(
            "serverless_share"
        ),
        F.avg(F.coalesce(F.col("product_features_is_photon").cast("double"), F.lit(0.0))).alias(
            "photon_share"
        ),
        F.max(F.col("is_tagged").cast("int")).alias("is_tagged"),
    )


RESOURCE_DAILY_SPEND = FeatureTable(
    name="resource_daily_spend",
    domain="cost",
    primary_keys=("resource_type", "resource_id", "usage_date", "as_of_date"),
    timestamp_key="as_of_date",
    # The 14 ingestion days that measure the lag, and the usage day (at most 3 days before).
    lookback_days=15,
    compute=resource_daily_spend,
    description=(
        "Per billed resource and usage day, its spend as first reported on as_of_date, the day the "
        "workspace's billing lag (billing_lag_days) makes the usage day known (rows ingested by "
        "then): cost, quantity, product mix, serverless and photon shares, whether it is tagged."
    ),
    sources=("fact_usage",),
)
