"""The Gold layer as it was at a moment, to prove feature tables do not look into the future.

A feature row at time ``t`` must come out the same whether it is computed from today's Gold
tables or from the Gold tables as they stood at ``t``. :class:`GoldAsOf` hides every Gold row
that became known after a cutoff (by the contract's ``time_column``) and recomputes ``is_current``
for versioned (SCD2) tables; :func:`leaks` compares the two computations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.errors import TableNotFoundError
from health_monitor.gold.contract import GOLD_TABLES
from health_monitor.sdk.specs import FeatureTable, Tables


class GoldTables:
    """A read-only :class:`~health_monitor.sdk.specs.Tables` over hand-written Gold DataFrames
    (``{short name: DataFrame}``), for tests of a plugin's feature and label functions. It has
    no ground truth; its feature tables are ``stored`` (``{name: DataFrame}``, none by default),
    standing for what an earlier run wrote, and ``rows_from`` is the first day a daily run asks
    for (None: every row, as a full run)."""

    def __init__(self, gold: dict, stored: dict | None = None, rows_from: dt.date | None = None):
        self._gold, self._stored, self._rows_from = dict(gold), dict(stored or {}), rows_from

    def gold(self, table: str):
        return self._gold[table]

    def features(self, table: str):
        if table not in self._stored:
            raise TableNotFoundError(table, "not among the stored feature tables given to GoldTables")
        return self._stored[table]

    def ground_truth(self, table: str):
        raise KeyError(table)

    def has_ground_truth(self) -> bool:
        return False

    def shared(self, df):
        return df  # tests compute each frame where it is used

    def rows_from(self) -> dt.date | None:
        return self._rows_from


class GoldAsOf:
    """A read-only :class:`~health_monitor.sdk.specs.Tables` that sees Gold up to the end of ``cutoff``."""

    def __init__(self, tables: Tables, cutoff: dt.date):
        self._tables = tables
        self.cutoff = cutoff

    def gold(self, table: str):
        df = self._tables.gold(table)
        spec = GOLD_TABLES.get(table)
        if spec is None or spec.time_column is None:
            return df
        column = spec.time_column
        if dict(df.dtypes)[column] == "date":
            known = F.col(column) <= F.lit(self.cutoff)
        else:  # known by the end of the cutoff day, midnight included
            known = F.col(column) <= F.lit(dt.datetime.combine(self.cutoff + dt.timedelta(days=1), dt.time()))
        df = df.where(known)
        if "is_current" in df.columns:
            version_of = [k for k in spec.primary_key if k != column]
            df = df.withColumn(
                "is_current", F.col(column) == F.max(column).over(Window.partitionBy(*version_of))
            )
        return df

    def features(self, table: str):
        raise NotImplementedError("point-in-time checks recompute feature tables from Gold only")

    def ground_truth(self, table: str):
        return self._tables.ground_truth(table)

    def has_ground_truth(self) -> bool:
        return self._tables.has_ground_truth()

    def shared(self, df):
        return df  # tests compute each frame where it is used

    def rows_from(self) -> dt.date | None:
        return None


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as naive UTC: Delta reads (Arrow) give tz-aware columns, Spark's ``toPandas``
    naive ones in the session time zone (UTC); compared as they are, no key would match."""
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def leaks(table: FeatureTable, full: pd.DataFrame, as_of: pd.DataFrame, cutoff: dt.date) -> dict[str, int]:
    """Per column, how many rows at or before ``cutoff`` differ between the full computation and the
    one from Gold as of ``cutoff`` (``__rows__``: rows present in only one of them)."""
    if table.timestamp_key is None:
        raise ValueError(f"feature table {table.name} has no timestamp key: it has no days to compare")
    return differing_rows(table.primary_keys, table.timestamp_key, full, as_of, lambda day: day <= cutoff)


def rows_from_differ(table: FeatureTable, gold: dict, whole, since: dt.date, stored=None) -> dict[str, int]:
    """Feature table ``table`` asked for its rows from ``since`` on, as a daily run asks, with
    ``stored`` (by default ``whole``, its whole computation over ``gold``) as what an earlier run
    wrote: :func:`differing_rows` between those rows and the whole's of the same days ({} when
    they are equal; a row of those days in only one of them counts under ``__rows__``)."""
    if table.timestamp_key is None:
        raise ValueError(f"feature table {table.name} has no timestamp key: it has no days to ask for")
    stored = whole if stored is None else stored
    recent = table.compute(GoldTables(gold, {table.name: stored}, since)).toPandas()
    return differing_rows(
        table.primary_keys, table.timestamp_key, whole.toPandas(), recent, lambda d: d >= since
    )


def differing_rows(
    keys: Sequence[str],
    ts: str,
    a: pd.DataFrame,
    b: pd.DataFrame,
    on: Callable[[pd.Series], pd.Series],
) -> dict[str, int]:
    """Per column, how many rows of the days ``on`` keeps (by column ``ts``) differ between two
    frames of rows keyed by ``keys`` (``__rows__``: rows present in only one of them)."""
    keys = list(keys)

    def kept(frame: pd.DataFrame) -> pd.DataFrame:
        frame = naive_utc(frame)
        return frame[on(pd.to_datetime(frame[ts]).dt.date)].set_index(keys).sort_index()

    a, b = kept(a), kept(b)
    problems = {}
    only_one = a.index.symmetric_difference(b.index)
    if len(only_one):
        problems["__rows__"] = len(only_one)
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            same = np.isclose(x.astype("float64"), y.astype("float64"), rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = (x.astype(str) == y.astype(str)).to_numpy()
        if (~same).sum():
            problems[column] = int((~same).sum())
    return problems
