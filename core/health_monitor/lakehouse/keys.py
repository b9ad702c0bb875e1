"""Primary-key enforcement for Spark DataFrames, shared by the lakehouse, feature and prediction
tables: one Spark job that also counts the rows and, when asked, the days they cover."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from health_monitor.errors import PrimaryKeyError, SchemaError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass(frozen=True)
class KeyCheck:
    """What :func:`check_primary_key` counted: the rows, and with ``day`` the first and last day
    and (with ``since``) the rows whose day is before it."""

    rows: int
    first: dt.date | None = None
    last: dt.date | None = None
    early: int = 0


def check_primary_key(
    name: str, df: DataFrame, keys: list[str], day: Column | None = None, since: dt.date | None = None
) -> KeyCheck:
    """Raise PrimaryKeyError naming the table and how many keys are null or duplicated; else
    count the rows (and the days of ``day``, the rows before ``since``) in the same job."""
    from pyspark.sql import functions as F

    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise SchemaError(f"table {name}: primary key column(s) {missing} are not in the DataFrame")
    any_null = F.lit(False)
    for k in keys:
        any_null = any_null | F.col(k).isNull()
    # Per key (per row when there is none; columns named apart from the keys): its rows, whether
    # its key is null, its days.
    per_key = [F.count(F.lit(1)).alias("__n"), F.max(any_null.cast("int")).alias("__null_key")]
    per_row = [F.lit(1).alias("__n"), F.lit(0).alias("__null_key")]
    overall = [
        F.coalesce(F.sum("__n"), F.lit(0)).alias("rows"),
        F.coalesce(F.sum(F.when(F.col("__null_key") == 1, F.col("__n"))), F.lit(0)).alias("null_rows"),
        F.coalesce(F.sum(F.when((F.col("__null_key") == 0) & (F.col("__n") > 1), F.lit(1))), F.lit(0)).alias(
            "dup_keys"
        ),
    ]
    if day is not None:
        per_key += [F.min(day).alias("__first"), F.max(day).alias("__last")]
        per_row += [day.alias("__first"), day.alias("__last")]
        overall += [F.min("__first").alias("first"), F.max("__last").alias("last")]
        if since is not None:
            early = (day < F.lit(since)).cast("long")
            per_key.append(F.sum(early).alias("__early"))
            per_row.append(early.alias("__early"))
            overall.append(F.coalesce(F.sum("__early"), F.lit(0)).alias("early"))
    groups = df.groupBy(*keys).agg(*per_key) if keys else df.select(*per_row)
    stats = groups.agg(*overall).collect()[0]  # a global aggregate: one row
    problems = []
    if stats["null_rows"]:
        problems.append(f"{stats['null_rows']} row(s) with a null key")
    if stats["dup_keys"]:
        problems.append(f"{stats['dup_keys']} duplicated key(s)")
    if problems:
        raise PrimaryKeyError(
            f"table {name}: primary key {keys} has {' and '.join(problems)}; nothing was written"
        )
    found = stats.asDict()
    return KeyCheck(int(found["rows"]), found.get("first"), found.get("last"), int(found.get("early") or 0))
