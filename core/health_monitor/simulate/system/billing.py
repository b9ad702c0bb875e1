"""System tables of the billing family, written out from the simulated account's Gold tables.

``billing.usage`` carries the Gold usage rows (corrections included) with the real shapes:
``usage_quantity`` as ``decimal(38,18)``, the resource ids in ``usage_metadata``, ``run_as`` /
``owned_by`` in ``identity_metadata`` and the tiers and flags in ``product_features``, each
filled only for the products the docs say. ``billing.list_prices`` carries the price periods
(the simulated price change included) with the ``pricing`` struct.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.simulate import ids
from health_monitor.simulate.system import Builders, build_system

# "job_name: serverless jobs and job compute (job compute populated since Sep 2025)".
JOB_NAME_ON_JOB_COMPUTE_FROM = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> Builders:
    return {
        "billing.usage": lambda: usage(gold["fact_usage"], gold["dim_job"], rng),
        "billing.list_prices": lambda: list_prices(gold["fact_list_prices"]),
    }


def usage(fact: pa.Table, dim_job: pa.Table, rng: np.random.Generator) -> pa.Table:
    """``billing.usage`` from Gold ``fact_usage`` (job names from the current ``dim_job`` rows)."""
    col = fact.column
    product = col("billing_origin_product")
    serverless = col("product_features_is_serverless")
    sku = col("sku_name")
    is_product = lambda name: pc.fill_null(pc.equal(product, name), False)  # noqa: E731
    # "Not set for jobs on all-purpose compute": the run's usage bills to the cluster alone.
    on_job = pc.invert(is_product("ALL_PURPOSE"))
    job_id = _where(on_job, col("job_id"))
    job_run_id = _where(on_job, col("job_run_id"))
    classic_jobs = pc.and_(is_product("JOBS"), pc.invert(pc.fill_null(serverless, False)))
    names_known = pc.or_(
        pc.invert(classic_jobs),
        pc.greater_equal(
            col("usage_end_time"),
            pa.scalar(JOB_NAME_ON_JOB_COMPUTE_FROM, fact.schema.field("usage_end_time").type),
        ),
    )
    job_name = _where(names_known, _job_names(col("workspace_id"), job_id, dim_job))
    sql = is_product("SQL")
    pro_sql = pc.or_(pc.match_substring(sku, "SQL_PRO"), pc.match_substring(sku, "SERVERLESS_SQL"))
    serverless_pipeline = pc.and_(
        pc.or_(is_product("JOBS"), is_product("DLT")), pc.fill_null(serverless, False)
    )
    return build_system(
        "billing.usage",
        {
            "account_id": col("account_id"),
            "workspace_id": col("workspace_id"),
            "record_id": col("record_id"),
            "sku_name": sku,
            "cloud": col("cloud"),
            "usage_start_time": col("usage_start_time"),
            "usage_end_time": col("usage_end_time"),
            "usage_date": col("usage_date"),
            "custom_tags": col("custom_tags"),
            "usage_unit": col("usage_unit"),
            "usage_quantity": _decimal(col("usage_quantity")),
            "usage_metadata": {
                "cluster_id": col("cluster_id"),
                "job_id": job_id,
                "warehouse_id": col("warehouse_id"),
                "node_type": col("node_type"),
                "job_run_id": job_run_id,
                "dlt_pipeline_id": col("dlt_pipeline_id"),
                "endpoint_name": col("endpoint_name"),
                "endpoint_id": _ids_for(col("endpoint_name"), rng),
                "job_name": job_name,
            },
            "identity_metadata": {"run_as": col("run_as"), "owned_by": col("owned_by")},
            "record_type": col("record_type"),
            "ingestion_date": col("ingestion_date"),
            "billing_origin_product": product,
            "product_features": {
                "jobs_tier": _where(classic_jobs, "CLASSIC"),
                "sql_tier": _where(sql, pc.if_else(pro_sql, "PRO", "CLASSIC")),
                "is_serverless": serverless,
                "is_photon": col("product_features_is_photon"),
                "serving_type": _where(is_product("MODEL_SERVING"), "MODEL"),
                "performance_target": _where(serverless_pipeline, "PERFORMANCE_OPTIMIZED"),
            },
            "usage_type": col("usage_type"),
        },
        n=fact.num_rows,
    )


def list_prices(prices: pa.Table) -> pa.Table:
    """``billing.list_prices`` from Gold ``fact_list_prices``."""
    col = prices.column
    return build_system(
        "billing.list_prices",
        {
            "account_id": col("account_id"),
            "price_start_time": col("price_start_time"),
            "price_end_time": col("price_end_time"),
            "sku_name": col("sku_name"),
            "cloud": col("cloud"),
            "currency_code": col("currency_code"),
            "usage_unit": col("usage_unit"),
            "pricing": {
                "default": _decimal(col("pricing_default")),
                "promotional": {"default": _decimal(col("pricing_promotional_default"))},
                "effective_list": {"default": _decimal(col("pricing_effective_list_default"))},
            },
        },
        n=prices.num_rows,
    )


def _decimal(values: pa.ChunkedArray) -> pa.Array:
    """Doubles metered to 1e-6 (as the simulator rounds them) as exact decimals."""
    return pc.round(values, 6).cast(pa.decimal128(38, 6), safe=False).combine_chunks()


def _where(mask: pa.Array, values) -> pa.Array:
    """``values`` (an array or a string) where ``mask`` is true, NULL elsewhere."""
    if isinstance(values, str):
        values = pa.scalar(values)
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def _job_names(workspace_id, job_id, dim_job: pa.Table) -> pa.Array:
    """The current name of each (workspace, job), NULL where there is no job."""
    current = dim_job.filter(dim_job.column("is_current"))
    keys = pc.binary_join_element_wise(current.column("workspace_id"), current.column("job_id"), ":")
    wanted = pc.binary_join_element_wise(workspace_id, job_id, ":")
    return current.column("name").combine_chunks().take(pc.index_in(wanted, value_set=keys))


def _ids_for(names, rng: np.random.Generator) -> pa.Array:
    """A UUID per distinct non-null name (serving endpoints have ids next to their names), drawn
    in name order so that the same names get the same ids in a longer window (simulate --advance)."""
    distinct = pc.unique(pc.drop_null(names))
    distinct = distinct.take(pc.array_sort_indices(distinct))
    return ids.uuids(rng, len(distinct)).take(pc.index_in(names, value_set=distinct))
