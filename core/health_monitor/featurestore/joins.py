"""Feature joins in Spark: exact lookups and point-in-time (as-of) lookups.

The as-of join unions the base rows with the feature rows per key, orders them by time and
carries the last feature row forward (``last(..., ignorenulls)`` over a window). That is
O(n log n) per key, where a range join would pair every base row with every older feature row.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from health_monitor.errors import SchemaError
from health_monitor.featurestore import FeatureLookup


def feature_columns(lookup: FeatureLookup, table_columns: list[str], primary_keys: list[str]) -> list[str]:
    names = lookup.feature_names
    if names is None:
        return [c for c in table_columns if c not in primary_keys]
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in table_columns]
    if missing:
        raise SchemaError(f"feature table {lookup.table_name} has no feature(s) {missing}")
    return names


def apply_lookup(
    base: DataFrame,
    features: DataFrame,
    lookup: FeatureLookup,
    primary_keys: list[str],
    timestamp_key: str | None,
) -> DataFrame:
    """``base`` with the lookup's features appended (null where no feature row matches)."""
    keys = lookup.keys
    missing = [
        k
        for k in keys + ([lookup.timestamp_lookup_key] if lookup.timestamp_lookup_key else [])
        if k not in base.columns
    ]
    if missing:
        raise SchemaError(f"lookup on {lookup.table_name}: the base DataFrame has no column(s) {missing}")
    table_keys = (
        [k for k in primary_keys if k != timestamp_key] if lookup.timestamp_lookup_key else list(primary_keys)
    )
    if len(keys) != len(table_keys):
        raise SchemaError(
            f"lookup on {lookup.table_name}: lookup_key {keys} does not match the table's keys {table_keys}"
            + (
                " (its timestamp key is matched by timestamp_lookup_key)"
                if lookup.timestamp_lookup_key
                else ""
            )
        )
    names = feature_columns(lookup, features.columns, primary_keys)
    renames = lookup.rename_outputs or {}
    outputs = [renames.get(n, n) for n in names]
    clash = [o for o in outputs if o in base.columns]
    if clash:
        raise SchemaError(
            f"lookup on {lookup.table_name}: output column(s) {clash} already exist; use rename_outputs"
        )
    base_types = dict(base.dtypes)
    key_cols = [F.col(tk).cast(base_types[bk]).alias(bk) for tk, bk in zip(table_keys, keys, strict=True)]

    if lookup.timestamp_lookup_key is None:
        right = features.select(*key_cols, *[F.col(n).alias(o) for n, o in zip(names, outputs, strict=True)])
        joined = base.join(right, on=keys, how="left")
    else:
        joined = _as_of(base, features, lookup, key_cols, keys, timestamp_key, names, outputs)

    for name, value in (lookup.default_values or {}).items():
        if name in outputs:
            joined = joined.withColumn(name, F.coalesce(F.col(name), F.lit(value)))
    return joined


def _as_of(base, features, lookup, key_cols, keys, timestamp_key, names, outputs) -> DataFrame:
    ts = lookup.timestamp_lookup_key
    feat_struct = F.struct(*[F.col(n).alias(o) for n, o in zip(names, outputs, strict=True)])
    right = features.select(
        *key_cols,
        F.col(timestamp_key).cast("timestamp").alias("__ts"),
        feat_struct.alias("__f"),
        F.lit(0).alias("__side"),
    )
    left = base.select(
        *[F.col(k) for k in keys],
        F.col(ts).cast("timestamp").alias("__ts"),
        F.lit(None).cast(right.schema["__f"].dataType).alias("__f"),
        F.lit(1).alias("__side"),
        F.struct(*[F.col(c) for c in base.columns]).alias("__b"),
    )
    right = right.withColumn("__b", F.lit(None).cast(left.schema["__b"].dataType))
    unioned = left.unionByName(right)
    # Feature rows sort before base rows at the same instant: "at or before" includes equal times.
    window = Window.partitionBy(*keys).orderBy("__ts", "__side").rowsBetween(Window.unboundedPreceding, 0)
    carried = unioned.select(
        "__side",
        "__b",
        "__ts",
        F.last("__f", ignorenulls=True).over(window).alias("__last"),
        F.last(F.when(F.col("__side") == 0, F.col("__ts")), ignorenulls=True).over(window).alias("__last_ts"),
    ).where(F.col("__side") == 1)
    if lookup.lookback_window is not None:
        seconds = int(lookup.lookback_window.total_seconds())
        too_old = F.col("__last_ts") < F.col("__ts") - F.expr(f"INTERVAL {seconds} SECONDS")
        carried = carried.withColumn("__last", F.when(too_old, F.lit(None)).otherwise(F.col("__last")))
    return carried.select("__b.*", *[F.col(f"__last.{o}").alias(o) for o in outputs])
