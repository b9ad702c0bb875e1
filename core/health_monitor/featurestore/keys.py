"""Primary-key enforcement for Spark DataFrames, shared by feature and prediction tables."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from health_monitor.errors import PrimaryKeyError, SchemaError


def check_primary_key(name: str, df: DataFrame, keys: list[str]) -> int:
    """Raise PrimaryKeyError naming the table and how many keys are null or duplicated; else
    return the number of rows (the same job counts them)."""
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise SchemaError(f"table {name}: primary key column(s) {missing} are not in the DataFrame")
    any_null = F.lit(False)
    for k in keys:
        any_null = any_null | F.col(k).isNull()
    stats = (
        df.groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("n"), F.max(any_null.cast("int")).alias("null_key"))
        .agg(
            F.coalesce(F.sum("n"), F.lit(0)).alias("rows"),
            F.coalesce(F.sum(F.when(F.col("null_key") == 1, F.col("n"))), F.lit(0)).alias("null_rows"),
            F.coalesce(F.sum(F.when((F.col("null_key") == 0) & (F.col("n") > 1), F.lit(1))), F.lit(0)).alias(
                "dup_keys"
            ),
        )
        .collect()[0]  # a global aggregate: exactly one row
    )
    problems = []
    if stats["null_rows"]:
        problems.append(f"{stats['null_rows']} row(s) with a null key")
    if stats["dup_keys"]:
        problems.append(f"{stats['dup_keys']} duplicated key(s)")
    if problems:
        raise PrimaryKeyError(
            f"table {name}: primary key {keys} has {' and '.join(problems)}; nothing was written"
        )
    return int(stats["rows"])
