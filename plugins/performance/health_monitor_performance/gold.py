"""Gold rows the performance feature tables and labels share: statements with the warehouse
size they ran on, and finished job runs with the runtime they ran on."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from health_monitor.sdk import Tables
from health_monitor.sdk.featurekit import dbr_number, finished_job_runs, version_at

# system.compute.warehouses spells sizes 2X_SMALL ... 4X_LARGE; the UI spells them "2X-Small".
SIZES = ["2X_SMALL", "X_SMALL", "SMALL", "MEDIUM", "LARGE", "X_LARGE", "2X_LARGE", "3X_LARGE", "4X_LARGE"]
# A "full scan": a statement that read at least this many files and pruned none.
FULL_SCAN_MIN_FILES = 8


def code(column: str, values: list[str]):
    """1-based position of the column's value in ``values`` (case, '-' and ' ' ignored); unknown -> len+1."""
    normalized = F.upper(F.regexp_replace(F.col(column), "[- ]", "_"))
    expr = F.lit(len(values) + 1)
    for i, value in reversed(list(enumerate(values, start=1))):
        expr = F.when(normalized == value, F.lit(i)).otherwise(expr)
    return expr


def power(size_code):
    """Relative compute of a size: each size doubles the previous one (2X_SMALL = 1)."""
    return F.pow(F.lit(2.0), size_code - F.lit(1))


def fingerprint(text):
    """A statement's text with literals replaced, hashed: the runs of one query share it."""
    return F.sha2(F.regexp_replace(F.regexp_replace(text, r"'[^']*'", "?"), r"\b\d+\b", "?"), 256)


def sized_statements(tables: Tables):
    """Warehouse statements with their fingerprint and the warehouse size in force at their start."""
    q = tables.gold("fact_query_history").where(F.col("warehouse_id").isNotNull())
    q = q.withColumn("fingerprint", fingerprint(F.upper(F.coalesce(F.col("statement_text"), F.lit("")))))
    size = {"size_code": code("warehouse_size", SIZES)}
    return version_at(q, tables.gold("dim_warehouse"), "warehouse_id", "start_time", "statement_id", size)


def finished_runs(tables: Tables, ended_from: dt.date | None = None):
    """One row per finished job run (that ended on ``ended_from`` or later, when given): its end
    date (when the run became known), duration, failure flag and the runtime version of its
    cluster as it stood when the run ended (null on serverless)."""
    runs = finished_job_runs(tables)  # the same rebuild as other plugins': one per stage
    if ended_from is not None:
        runs = runs.where(F.to_date("end_time") >= F.lit(ended_from))
    runtime = {"dbr": dbr_number("dbr_version")}
    return tables.shared(  # the job-day features and the migration model's keys
        version_at(runs, tables.gold("dim_cluster"), "cluster_id", "end_time", "run_id", runtime)
        .withColumn("end_date", F.to_date("end_time"))
        .withColumn("duration_s", F.col("duration_sec").cast("double"))
    )
