"""Gold steps of the billing family: usage priced at list and contract price, prices, SKUs, commits.

``billing.usage`` keeps its corrections as rows (RETRACTION negates an original, RESTATEMENT
restates it, each with a later ``ingestion_date``), so ``fact_usage`` keeps every record and sums
net out; its grain is the day a row became known, which is where corrections land.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_monitor.gold.build import BuildContext, GoldStep

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Price periods still open (price_end_time NULL) end here.
_FAR_FUTURE = dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)

# billing_origin_product -> product_family, as the simulator's SKU catalog groups them; serverless
# notebooks (INTERACTIVE) bill as all-purpose compute. Products not listed are OTHER.
PRODUCT_FAMILIES = {
    "JOBS": "JOBS",
    "ALL_PURPOSE": "ALL_PURPOSE",
    "INTERACTIVE": "ALL_PURPOSE",
    "SQL": "SQL",
    "DLT": "DLT",
    "MODEL_SERVING": "MODEL_SERVING",
    "DEFAULT_STORAGE": "STORAGE",
}
# Products that only exist serverless; their SKU names do not all say SERVERLESS (default storage).
SERVERLESS_PRODUCTS = ("INTERACTIVE", "DEFAULT_STORAGE", "VECTOR_SEARCH", "APPS", "DATABASE")


def _known_date() -> Column:
    """The day a usage row became known: its ingestion_date, or (older or partial exports without
    one) the day after its usage ended, since records usually arrive within 12 hours."""
    from pyspark.sql import functions as F

    return F.coalesce(F.col("ingestion_date"), F.date_add(F.to_date("usage_end_time"), 1))


def _effective_list_price() -> Column:
    """pricing.effective_list.default: the promotional price while one runs, else the default."""
    from pyspark.sql import functions as F

    return F.coalesce(
        F.col("pricing.effective_list.default"),
        F.col("pricing.promotional.default"),
        F.col("pricing.default"),
    ).cast("double")


def _price_periods(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    return ctx.system("billing.list_prices").select(
        F.col("sku_name").alias("__sku"),
        F.col("cloud").alias("__cloud"),
        F.col("usage_unit").alias("__unit"),
        F.col("price_start_time").alias("__from"),
        F.coalesce(F.col("price_end_time"), F.lit(_FAR_FUTURE)).alias("__to"),
        _effective_list_price().alias("list_price"),
    )


def _account_discount_by_day(ctx: BuildContext) -> DataFrame:
    """usage_date -> discount_pct of the ACCOUNT_COMMIT covering that day (the latest-starting one
    when periods overlap). A few hundred rows per commitment year."""
    from pyspark.sql import functions as F

    commits = ctx.input("commitments").where(
        (F.col("commit_type") == "ACCOUNT_COMMIT") & (F.col("period_end") >= F.col("period_start"))
    )
    days = commits.select(
        F.explode(F.sequence("period_start", "period_end")).alias("usage_date"),
        "discount_pct",
        "period_start",
        "commit_id",
    )
    return days.groupBy("usage_date").agg(
        F.max_by("discount_pct", F.struct("period_start", "commit_id")).alias("discount_pct")
    )


def build_fact_usage(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    usage = ctx.system("billing.usage").withColumn("__known", _known_date())
    if ctx.since is not None:
        usage = usage.where(F.col("__known") >= F.lit(ctx.since))
    prices = _price_periods(ctx)
    priced = usage.join(
        F.broadcast(prices),
        (F.col("sku_name") == F.col("__sku"))
        & (F.col("cloud") == F.col("__cloud"))
        & (F.col("usage_unit") == F.col("__unit"))
        & (F.col("usage_end_time") >= F.col("__from"))
        & (F.col("usage_end_time") < F.col("__to")),
        "left",
    ).join(F.broadcast(_account_discount_by_day(ctx)), "usage_date", "left")

    stats = priced.agg(
        F.sum(F.col("ingestion_date").isNull().cast("long")).alias("derived"),
        F.sum(F.col("list_price").isNull().cast("long")).alias("unpriced"),
    ).collect()[0]  # a global aggregate: exactly one row
    if stats["derived"]:
        ctx.note(
            f"billing.usage: {stats['derived']:,} row(s) have no ingestion_date; fact_usage takes "
            "date(usage_end_time) + 1 day as the day they became known (records usually arrive "
            "within 12 h)"
        )
    if stats["unpriced"]:
        ctx.note(
            f"billing.usage: {stats['unpriced']:,} row(s) have no list price for their SKU, cloud "
            "and unit at usage_end_time in billing.list_prices; their prices and costs are NULL"
        )

    quantity = F.col("usage_quantity").cast("double")
    effective_price = F.col("list_price") * (1 - F.coalesce(F.col("discount_pct"), F.lit(0.0)) / 100)
    tags = F.coalesce(F.col("custom_tags"), F.create_map().cast("map<string,string>"))
    meta = lambda field: F.col(f"usage_metadata.{field}").alias(field)  # noqa: E731
    return priced.select(
        "record_id",
        "account_id",
        "workspace_id",
        "sku_name",
        "cloud",
        "usage_start_time",
        "usage_end_time",
        "usage_date",
        quantity.alias("usage_quantity"),
        "usage_unit",
        "usage_type",
        "record_type",
        F.col("__known").alias("ingestion_date"),
        "billing_origin_product",
        F.col("product_features.is_serverless").alias("product_features_is_serverless"),
        F.col("product_features.is_photon").alias("product_features_is_photon"),
        "list_price",
        effective_price.alias("effective_price"),
        (quantity * F.col("list_price")).alias("list_cost"),
        (quantity * effective_price).alias("effective_cost"),
        meta("cluster_id"),
        meta("job_id"),
        meta("job_run_id"),
        meta("warehouse_id"),
        meta("dlt_pipeline_id"),
        meta("endpoint_name"),
        meta("node_type"),
        F.col("identity_metadata.run_as").alias("run_as"),
        F.col("identity_metadata.owned_by").alias("owned_by"),
        tags.alias("custom_tags"),
        (F.size(tags) > 0).alias("is_tagged"),
    )


def build_fact_list_prices(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    return ctx.system("billing.list_prices").select(
        "account_id",
        "sku_name",
        "cloud",
        "currency_code",
        "usage_unit",
        "price_start_time",
        "price_end_time",
        F.col("pricing.default").cast("double").alias("pricing_default"),
        F.col("pricing.promotional.default").cast("double").alias("pricing_promotional_default"),
        _effective_list_price().alias("pricing_effective_list_default"),
    )


def build_dim_sku(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    seen = (
        ctx.system("billing.usage")
        .groupBy("sku_name", "cloud", "usage_unit", "billing_origin_product")
        .agg(
            F.count(F.lit(1)).alias("__rows"),
            F.max(F.col("product_features.is_serverless").cast("int")).alias("__serverless"),
        )
    )
    # Several products can bill under one SKU (predictive optimization under serverless jobs):
    # the SKU takes the product with the most rows.
    skus = seen.groupBy("sku_name").agg(
        F.max_by(
            F.struct("cloud", "usage_unit", "billing_origin_product"),
            F.struct("__rows", "billing_origin_product", "cloud", "usage_unit"),
        ).alias("__sku"),
        F.max("__serverless").alias("__serverless"),
    )
    latest = (
        ctx.system("billing.list_prices")
        .groupBy(
            F.col("sku_name").alias("__p_sku"),
            F.col("cloud").alias("__p_cloud"),
            F.col("usage_unit").alias("__p_unit"),
        )
        .agg(F.max_by(_effective_list_price(), F.col("price_start_time")).alias("current_list_price"))
    )
    product = F.col("__sku.billing_origin_product")
    families = F.create_map(*[F.lit(x) for pair in PRODUCT_FAMILIES.items() for x in pair])
    return skus.join(
        F.broadcast(latest),
        (F.col("sku_name") == F.col("__p_sku"))
        & (F.col("__sku.cloud") == F.col("__p_cloud"))
        & (F.col("__sku.usage_unit") == F.col("__p_unit")),
        "left",
    ).select(
        "sku_name",
        F.col("__sku.cloud").alias("cloud"),
        F.col("__sku.usage_unit").alias("usage_unit"),
        product.alias("billing_origin_product"),
        F.coalesce(F.element_at(families, product), F.lit("OTHER")).alias("product_family"),
        (
            F.coalesce(F.col("__serverless") == 1, F.lit(False))
            | F.col("sku_name").contains("SERVERLESS")
            | product.isin(*SERVERLESS_PRODUCTS)
        ).alias("is_serverless"),
        "current_list_price",
    )


def build_commit_configurations(ctx: BuildContext) -> DataFrame:
    from pyspark.sql import functions as F

    account = (
        ctx.system("billing.usage")
        .where(F.col("account_id").isNotNull())
        .select(F.col("account_id").alias("__account"))
        .limit(1)
    )
    commits = ctx.input("commitments")
    return commits.join(F.broadcast(account), F.lit(True), "left").select(
        "commit_id",
        F.coalesce(F.col("account_id"), F.col("__account")).alias("account_id"),
        "workspace_id",
        "commit_type",
        "period_start",
        "period_end",
        "commit_amount_usd",
        "discount_pct",
        F.coalesce(F.col("currency_code"), F.lit("USD")).alias("currency_code"),
    )


STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        table="fact_usage",
        sources=("billing.usage", "billing.list_prices"),
        inputs=("commitments",),
        transform="Every billing.usage record (RETRACTION and RESTATEMENT rows kept, so sums net out), "
        "joined to the broadcast billing.list_prices period of its sku_name, cloud and usage_unit that "
        "is open at usage_end_time (list_price = pricing.effective_list.default; NULL, with a note, "
        "when no period matches) and to the discount of the ACCOUNT_COMMIT covering usage_date "
        "(0 without one); usage_metadata and identity_metadata fields and product_features "
        "is_serverless/is_photon flattened, custom_tags NULL -> empty map. ingestion_date NULL -> "
        "date(usage_end_time) + 1 day, counted in a note.",
        build=build_fact_usage,
        grain="ingestion_date",
        # Corrections carry their own later ingestion_date, so they fall inside the rebuilt days;
        # the look-back covers rows readable only after the last build though ingested before it
        # (system tables refresh within ~12 h) and derived dates running a day ahead. 3 days.
        late_days=3,
    ),
    GoldStep(
        table="fact_list_prices",
        sources=("billing.list_prices",),
        transform="billing.list_prices as is, the pricing struct flattened to pricing_default, "
        "pricing_promotional_default and pricing_effective_list_default (effective_list, else "
        "promotional, else default when an export lacks it).",
        build=build_fact_list_prices,
    ),
    GoldStep(
        table="dim_sku",
        sources=("billing.usage", "billing.list_prices"),
        transform="One row per sku_name seen in billing.usage, with the cloud, usage_unit and "
        "billing_origin_product it bills most rows under; product_family from billing_origin_product "
        "(JOBS, ALL_PURPOSE incl. INTERACTIVE, SQL, DLT, MODEL_SERVING, DEFAULT_STORAGE -> STORAGE, "
        "else OTHER); is_serverless when any row says product_features.is_serverless, the SKU name "
        "says SERVERLESS or the product only exists serverless; current_list_price = the effective "
        "list price of the latest billing.list_prices period.",
        build=build_dim_sku,
    ),
    GoldStep(
        table="commit_configurations",
        sources=("billing.usage",),
        inputs=("commitments",),
        transform="The commitments section of the account file as is; a NULL account_id takes the "
        "account_id of billing.usage, a NULL currency_code is USD.",
        build=build_commit_configurations,
    ),
)
