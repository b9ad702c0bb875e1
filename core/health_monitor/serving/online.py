"""Tables in memory for Spark-free lookups: :class:`OnlineStore` reads a table (Arrow, through
the lakehouse port) and reads it again when its Delta version moved, checked at most every
``refresh_seconds``; :class:`OnlineTable` builds hash indexes on first use. Key values are
compared as text (``"1234"`` finds a bigint; a date matches ``"2025-06-30"``). A store given
``rows_of`` (:func:`rows_for`) reads only the rows some lookups need, not whole tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.errors import ConfigError, TableNotFoundError
from health_monitor.featurestore import FeatureLookup, FeatureSpec
from health_monitor.lakehouse import Lakehouse

NO_DAY = int(np.iinfo(np.int64).min)  # a null date in OnlineTable.days
MISSING = -1  # no row for the key (as of the time asked)
EXPIRED = -2  # a row, but older than the lookup's lookback window
DAY = 86_400 * 10**9  # nanoseconds
Resolved = tuple[tuple["OnlineTable", ...], tuple[int, ...]]  # the tables and row positions lookups join


def as_text(values: pd.Series) -> np.ndarray:
    """A key column as text: dates as ``YYYY-MM-DD``, midnight timestamps as dates, numbers bare."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        if stamps.dropna().dt.normalize().eq(stamps.dropna()).all():
            return stamps.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
        return stamps.map(lambda t: t.isoformat() if pd.notna(t) else None).to_numpy(dtype=object)
    if values.dtype == object:
        text = values.map(
            lambda v: v.isoformat() if hasattr(v, "isoformat") else (None if v is None else str(v))
        )
        return text.to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)


@dataclass
class OnlineTable:
    """One table version in memory. What is derived from it (indexes, days, sort keys) is
    built on first use and kept with it; two threads may build the same value at once."""

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
            if missing := [c for c in columns if c not in self.frame.columns]:
                raise ConfigError(f"table {self.name} has no column(s) {missing}")
            groups: dict[tuple, list[int]] = {}
            for position, key in enumerate(zip(*(as_text(self.frame[c]) for c in columns), strict=True)):
                groups.setdefault(key, []).append(position)
            return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}

        return self._once(("index", columns), build)

    def positions(self, where: dict[str, Any]) -> np.ndarray:
        """Positions of the rows whose columns equal ``where``'s values (all rows for ``{}``)."""
        if not where:
            return np.arange(len(self.frame))
        found = self.index(tuple(where)).get(tuple(str(v) for v in where.values()))
        return found if found is not None else np.empty(0, dtype=np.int64)

    def times(self, column: str | None = None) -> np.ndarray:
        """``column`` (default: the timestamp key) as naive-UTC ``datetime64[ns]``; NaT for null."""
        name = column or self.timestamp_key
        return self._once(("times", name), lambda: _utc_ns(self.frame[name]))

    def keys_for(self, lookup: FeatureLookup) -> list[str]:
        """This table's :func:`equality_keys` for ``lookup``."""
        return equality_keys(self.primary_keys, self.timestamp_key, lookup)

    def position(self, key: dict[str, Any], at: Any | None = None) -> int:
        """Row position of the latest row for ``key`` at or before ``at`` (None: the latest),
        ``MISSING`` when there is none; without a timestamp key, the last row for ``key``."""
        positions = self.positions(key)
        if self.timestamp_key is None or not len(positions):
            return int(positions[-1]) if len(positions) else MISSING
        times = self.times()[positions]
        if at is not None:
            earlier = times <= np.datetime64(utc(at).tz_convert(None), "ns")
            positions, times = positions[earlier], times[earlier]
        return int(positions[np.argmax(times)]) if len(positions) else MISSING

    def days(self, column: str) -> np.ndarray:
        """``column`` (dates or timestamps, read as UTC) as days since 1970-01-01; ``NO_DAY`` for null."""
        stamps = self.times(column)
        return self._once(
            ("days", column), lambda: np.where(np.isnat(stamps), NO_DAY, stamps.astype("int64") // DAY)
        )

    def values(self, column: str) -> list[str]:
        """Distinct values of ``column`` as text, sorted: what an error message offers."""
        return sorted(k[0] for k in self.index((column,)) if k[0] is not None)


class OnlineStore:
    """Tables in memory for lookups, read again when their version moved (see the module)."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        refresh_seconds: float = 5.0,
        rows_of: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    ):
        """``rows_of``: table -> column -> values as text; such a table is read with only the rows
        whose columns each hold one of their values (see :func:`rows_for`)."""
        self.lakehouse = lakehouse
        self.refresh_seconds = refresh_seconds
        self._rows_of = {t: {c: set(v) for c, v in cols.items()} for t, cols in (rows_of or {}).items()}
        self._tables: dict[str, tuple[OnlineTable, float]] = {}
        self._lock = threading.Lock()  # one reader of the lakehouse at a time: no table read twice

    def table(self, name: str, hint: str = "") -> OnlineTable:
        cached = self._tables.get(name)
        if cached is not None and time.monotonic() - cached[1] < self.refresh_seconds:
            return cached[0]
        with self._lock:
            if not self.lakehouse.exists(name):
                raise TableNotFoundError(name, hint)
            version = self.lakehouse.version(name)
            table = cached[0] if cached is not None and cached[0].version == version else None
            if table is None:
                info = self.lakehouse.describe(name)
                frame = self._read(name).to_pandas()
                table = OnlineTable(
                    name, info.version or version, frame, list(info.primary_keys), info.timestamp_key
                )
            self._tables[name] = (table, time.monotonic())
            return table

    def _read(self, name: str) -> pa.Table:
        """The table, or with ``rows_of`` its rows holding the wanted values: each column is read
        alone, its typed values whose text is wanted are picked, and the rows are read with them."""
        filters = []
        for column, wanted in self._rows_of.get(name, {}).items():
            typed = self.lakehouse.read_arrow(name, columns=[column]).column(column)
            keep = pd.Series(as_text(typed.to_pandas())).isin(wanted).to_numpy()
            chosen = pc.unique(typed.filter(pa.array(keep, pa.bool_()))).to_pylist()
            if not chosen:  # no row: the schema, from the rows of one value (Arrow refuses `in []`)
                some = typed.drop_null()[:1].to_pylist()
                return self.lakehouse.read_arrow(name, filters=[(column, "in", some)] if some else None)[:0]
            filters.append((column, "in", chosen))
        return (
            self.lakehouse.read_arrow(name, filters=filters) if filters else self.lakehouse.read_arrow(name)
        )

    def resolve(self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None) -> Resolved:
        """The table and row position each of ``spec``'s lookups joins for ``base``, as the
        feature store joins in batch: ``MISSING`` when there is no row, ``EXPIRED`` when it is
        older than the lookup's lookback window. A point-in-time lookup is as of
        ``base[timestamp_lookup_key]`` when present, else ``at``, else the latest row."""
        tables, out = [], []
        for lookup in spec.lookups:
            table = self.table(lookup.table_name, "run `health-monitor features` first")
            key = {tk: base[bk] for tk, bk in zip(table.keys_for(lookup), lookup.keys, strict=True)}
            stamp = base.get(lookup.timestamp_lookup_key, at) if lookup.timestamp_lookup_key else None
            position = table.position(key, stamp)
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


def equality_keys(primary_keys: Sequence[str], timestamp_key: str | None, lookup: FeatureLookup) -> list[str]:
    """The primary keys ``lookup`` matches by equality: all but the timestamp key when the lookup
    is point in time (``timestamp_lookup_key``)."""
    stamp = lookup.timestamp_lookup_key
    return [k for k in primary_keys if not (stamp and k == timestamp_key)]


def rows_for(
    lakehouse: Lakehouse, spec: FeatureSpec, bases: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, set[str]]]:
    """What ``spec``'s lookups read for the base rows ``bases``, as :class:`OnlineStore`'s
    ``rows_of``: each looked-up table's equality key columns with the bases' values, as text. A
    table looked up on different columns is restricted only on the columns its lookups share."""
    bases = list(bases)
    out: dict[str, dict[str, set[str]]] = {}
    for lookup in spec.lookups:
        info = lakehouse.describe(lookup.table_name)
        columns = equality_keys(info.primary_keys, info.timestamp_key, lookup)
        wanted = {tk: {str(b[bk]) for b in bases} for tk, bk in zip(columns, lookup.keys, strict=True)}
        seen = out.get(lookup.table_name)
        if seen is None:
            out[lookup.table_name] = wanted
        else:  # another lookup of the same table: keep the shared columns, with both lookups' values
            out[lookup.table_name] = {c: seen[c] | wanted[c] for c in seen.keys() & wanted.keys()}
    return out


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
