"""Spark-free reads for agents and scoring: tables held in memory with key indexes.

:class:`OnlineStore` reads a table once through the lakehouse port (Arrow) and keeps it as a
pandas frame; :class:`OnlineTable` builds hash indexes on the columns it is filtered by, on first
use. The store checks a table's Delta version at most every ``refresh_seconds``, on the request
that finds it due, and reads the table again when the version moved. A lookup is then a
dictionary access plus a small slice: no Spark session, no SQL text, nothing written.

Key values are compared as text (``"1234"`` finds a bigint 1234; a date column matches
``"2025-06-30"``), so callers never need the column's type.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.errors import ConfigError, TableNotFoundError
from health_monitor.featurestore import FeatureLookup, FeatureSpec
from health_monitor.lakehouse import Lakehouse

NO_DAY = int(np.iinfo(np.int64).min)  # a null date in OnlineTable.days
MISSING = -1  # no row for the key (as of the time asked)
EXPIRED = -2  # a row, but older than the lookup's lookback window


def as_text(values: pd.Series) -> np.ndarray:
    """A key column as text: dates as ``YYYY-MM-DD``, midnight timestamps as dates, numbers bare."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        if stamps.dropna().dt.normalize().eq(stamps.dropna()).all():
            return stamps.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
        return stamps.map(lambda t: t.isoformat() if pd.notna(t) else None).to_numpy(dtype=object)
    if values.dtype == object:
        return values.map(
            lambda v: v.isoformat() if hasattr(v, "isoformat") else (None if v is None else str(v))
        ).to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)


@dataclass
class OnlineTable:
    """One table version in memory. Indexes and derived columns are built on first use; two
    threads may build the same one at once, and both build the same value."""

    name: str
    version: int
    frame: pd.DataFrame
    primary_keys: list[str]
    timestamp_key: str | None
    _built: dict[Any, Any] = field(default_factory=dict, repr=False)

    def _once(self, key: Any, build: Any) -> Any:
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def index(self, columns: tuple[str, ...]) -> dict[tuple, np.ndarray]:
        """``{(text values...): row positions}`` for ``columns``, positions in table order."""

        def build() -> dict[tuple, np.ndarray]:
            missing = [c for c in columns if c not in self.frame.columns]
            if missing:
                raise ConfigError(f"table {self.name} has no column(s) {missing}")
            groups: dict[tuple, list[int]] = {}
            for position, key in enumerate(zip(*(as_text(self.frame[c]) for c in columns), strict=True)):
                groups.setdefault(key, []).append(position)
            return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}

        return self._once(("index", columns), build)

    def times(self) -> np.ndarray:
        """The timestamp key as naive-UTC ``datetime64[ns]``."""
        return self._once(("times",), lambda: _utc_ns(self.frame[self.timestamp_key]))

    def keys_for(self, lookup: FeatureLookup) -> list[str]:
        """The primary keys a lookup matches by equality: all of them, or all but the timestamp
        key when the lookup is point in time (``timestamp_lookup_key``)."""
        stamp = lookup.timestamp_lookup_key
        return [k for k in self.primary_keys if not (stamp and k == self.timestamp_key)]

    def positions(self, where: dict[str, Any]) -> np.ndarray:
        """Positions of the rows whose columns equal ``where``'s values (all rows for ``{}``)."""
        if not where:
            return np.arange(len(self.frame))
        found = self.index(tuple(where)).get(tuple(str(v) for v in where.values()))
        return found if found is not None else np.empty(0, dtype=np.int64)

    def rows(self, where: dict[str, Any]) -> pd.DataFrame:
        """Rows whose columns equal ``where``'s values (compared as text)."""
        return self.frame if not where else self.frame.iloc[self.positions(where)]

    def days(self, column: str) -> np.ndarray:
        """``column`` (dates or timestamps, read as UTC) as whole days since 1970-01-01;
        ``NO_DAY`` where it is null."""

        def build() -> np.ndarray:
            stamps = _utc_ns(self.frame[column])
            return np.where(np.isnat(stamps), NO_DAY, np.floor_divide(stamps.astype("int64"), 86_400 * 10**9))

        return self._once(("days", column), build)

    def sort_key(self, column: str) -> np.ndarray:
        """``column`` as float64 in its own order (numbers, times, or text by rank); NaN for null."""

        def build() -> np.ndarray:
            values = self.frame[column]
            if pd.api.types.is_bool_dtype(values):
                return values.astype("float64").to_numpy()
            if pd.api.types.is_numeric_dtype(values):
                return values.to_numpy(dtype="float64", na_value=np.nan)
            if pd.api.types.is_datetime64_any_dtype(values):
                stamps = _utc_ns(values)
                return np.where(np.isnat(stamps), np.nan, stamps.astype("int64").astype("float64"))
            codes, _ = pd.factorize(values, sort=True)
            return np.where(codes < 0, np.nan, codes.astype("float64"))

        return self._once(("sort_key", column), build)

    def records(self, positions: Any, hidden: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """The rows at ``positions`` as dicts (pandas scalars), without the ``hidden`` columns."""
        arrays = [(c, self.frame[c].array) for c in self.frame.columns if c not in hidden]
        return [{c: a[p] for c, a in arrays} for p in positions]

    def values(self, column: str) -> list[str]:
        """Distinct values of ``column`` as text, sorted: what an error message offers."""
        return sorted(k[0] for k in self.index((column,)) if k[0] is not None)

    def position(self, key: dict[str, Any], at: Any | None = None) -> int:
        """Row position of the latest row for ``key`` (the non-time primary keys) at or before
        ``at`` (None: latest), ``MISSING`` when there is none; without a timestamp key, the last
        row that matches ``key``."""
        positions = self.positions(key)
        if not len(positions):
            return MISSING
        if self.timestamp_key is None:
            return int(positions[-1])
        times = self.times()[positions]
        if at is not None:
            limit = np.datetime64(utc(at).tz_convert(None), "ns")
            positions, times = positions[times <= limit], times[times <= limit]
        return int(positions[np.argmax(times)]) if len(positions) else MISSING


class OnlineStore:
    """Tables in memory for lookups. A lookup that finds its table checked more than
    ``refresh_seconds`` ago checks the version (a read of the table's log) and reads the table
    again if it moved; one lock keeps two requests from reading the same table at once."""

    def __init__(self, lakehouse: Lakehouse, refresh_seconds: float = 5.0):
        self.lakehouse = lakehouse
        self.refresh_seconds = refresh_seconds
        self._tables: dict[str, tuple[OnlineTable, float]] = {}
        self._lock = threading.Lock()

    def table(self, name: str, hint: str = "") -> OnlineTable:
        cached = self._tables.get(name)
        if cached is not None and time.monotonic() - cached[1] < self.refresh_seconds:
            return cached[0]
        with self._lock:
            now = time.monotonic()
            cached = self._tables.get(name)
            if cached is not None and now - cached[1] < self.refresh_seconds:
                return cached[0]
            if not self.lakehouse.exists(name):
                raise TableNotFoundError(name, hint)
            version = self.lakehouse.version(name)
            if cached is not None and cached[0].version == version:
                table = cached[0]
            else:
                info = self.lakehouse.describe(name)
                frame = self.lakehouse.read_arrow(name).to_pandas()
                table = OnlineTable(
                    name, info.version or version, frame, list(info.primary_keys), info.timestamp_key
                )
            self._tables[name] = (table, now)
            return table

    def resolve(
        self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None
    ) -> tuple[tuple[OnlineTable, ...], tuple[int, ...]]:
        """The table version and row position each of ``spec``'s lookups joins for ``base`` (the
        way the feature store joins in batch): ``MISSING`` when there is no row, ``EXPIRED`` when
        the row is older than the lookup's lookback window. A point-in-time lookup is as of
        ``base[timestamp_lookup_key]`` when present, else ``at``, else the latest row."""
        tables, out = [], []
        for lookup in spec.lookups:
            table = self.table(lookup.table_name, "run `health-monitor features` first")
            key = {tk: base[bk] for tk, bk in zip(table.keys_for(lookup), lookup.keys, strict=True)}
            stamp = base.get(lookup.timestamp_lookup_key, at) if lookup.timestamp_lookup_key else None
            position = table.position(key, stamp) if lookup.timestamp_lookup_key else table.position(key)
            if position >= 0 and lookup.lookback_window is not None and stamp is not None:
                age = utc(stamp) - utc(table.frame[table.timestamp_key].iat[position])
                position = position if age <= lookup.lookback_window else EXPIRED
            tables.append(table)
            out.append(position)
        return tuple(tables), tuple(out)

    @staticmethod
    def values(
        spec: FeatureSpec, tables: tuple[OnlineTable, ...], positions: tuple[int, ...]
    ) -> dict[str, Any]:
        """The looked-up features (renamed, defaults applied) of resolved row ``positions``."""
        out: dict[str, Any] = {}
        for lookup, table, position in zip(spec.lookups, tables, positions, strict=True):
            renames, defaults = lookup.rename_outputs or {}, lookup.default_values or {}
            names = lookup.feature_names
            for name in [names] if isinstance(names, str) else list(names or []):
                output = renames.get(name, name)
                value = table.frame[name].iat[position] if position >= 0 else None
                out[output] = defaults.get(output) if value is None or _isnan(value) else value
        return out

    def features(self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None) -> dict[str, Any]:
        """One row of model inputs, looked up the way the feature store joins them."""
        return self.values(spec, *self.resolve(spec, base, at))


def _utc_ns(values: pd.Series) -> np.ndarray:
    """Dates or timestamps (naive ones taken as UTC) as naive-UTC ``datetime64[ns]``; NaT for null."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")


def utc(value: Any) -> pd.Timestamp:
    """A date, datetime or ISO text as a UTC timestamp (naive values are taken as UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _isnan(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
