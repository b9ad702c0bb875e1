"""Tables in memory for Spark-free lookups: :class:`OnlineStore` reads a table (Arrow, through
the lakehouse port) and reads it again when its Delta version moved, checked at most every
``refresh_seconds``; :class:`OnlineTable` builds hash indexes on first use. Key values are
compared as text (``"1234"`` finds a bigint; a date matches ``"2025-06-30"``). A store given
``read`` reads tables with it (findings read only the rows their explanations look up)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from health_monitor.errors import ConfigError, TableNotFoundError
from health_monitor.featurestore import FeatureLookup, FeatureSpec
from health_monitor.lakehouse import Lakehouse, TableInfo

NO_DAY = int(np.iinfo(np.int64).min)  # a null date in OnlineTable.days
MISSING = -1  # no row for the key (as of the time asked)
EXPIRED = -2  # a row, but older than the lookup's lookback window
Resolved = tuple[tuple["OnlineTable", ...], tuple[int, ...]]  # the tables and row positions lookups join


def as_text(values: pd.Series) -> np.ndarray:
    """A key column as text: dates as ``YYYY-MM-DD``, midnight timestamps as dates, numbers bare."""
    stamps = pd.api.types.is_datetime64_any_dtype(values)
    if stamps and values.dropna().dt.normalize().eq(values.dropna()).all():
        return values.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    if not stamps and values.dtype != object:
        return values.astype(str).to_numpy(dtype=object)
    text = values.map(lambda v: None if v is None or v is pd.NaT else getattr(v, "isoformat", v.__str__)())
    return text.to_numpy(dtype=object)


@dataclass
class OnlineTable:
    """One table version in memory. Its indexes, times and days are built on first use and kept
    with it; two threads may build the same one at once."""

    name: str
    version: int
    frame: pd.DataFrame
    primary_keys: list[str]
    timestamp_key: str | None
    _built: dict[Any, Any] = field(default_factory=dict, repr=False)

    def index(self, columns: tuple[str, ...]) -> dict[tuple, np.ndarray]:
        """``{(text values...): row positions}`` for ``columns``, positions in table order."""
        if ("index", columns) not in self._built:
            if missing := [c for c in columns if c not in self.frame.columns]:
                raise ConfigError(f"table {self.name} has no column(s) {missing}")
            groups: dict[tuple, list[int]] = {}
            for position, key in enumerate(zip(*(as_text(self.frame[c]) for c in columns), strict=True)):
                groups.setdefault(key, []).append(position)
            self._built["index", columns] = {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
        return self._built["index", columns]

    def positions(self, where: dict[str, Any]) -> np.ndarray:
        """Positions of the rows whose columns equal ``where``'s values (all rows for ``{}``)."""
        if not where:
            return np.arange(len(self.frame))
        found = self.index(tuple(where)).get(tuple(str(v) for v in where.values()))
        return found if found is not None else np.empty(0, dtype=np.int64)

    def times(self, column: str | None = None) -> np.ndarray:
        """``column`` (default: the timestamp key; dates or timestamps, naive ones taken as UTC)
        as naive-UTC ``datetime64[ns]``; NaT for null."""
        name = column or self.timestamp_key
        if ("times", name) not in self._built:
            stamps = pd.to_datetime(self.frame[name], utc=True).dt.tz_convert(None)
            self._built["times", name] = stamps.to_numpy(dtype="datetime64[ns]")
        return self._built["times", name]

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
        """``column`` as days since 1970-01-01 (UTC); ``NO_DAY`` (NaT's integer) for null. Kept:
        deriving them again took ~10 ms a tool call on 328K rows (measured on this machine)."""
        if ("days", column) not in self._built:
            self._built["days", column] = self.times(column).astype("datetime64[D]").astype(np.int64)
        return self._built["days", column]

    def values(self, column: str) -> list[str]:
        """Distinct values of ``column`` as text, sorted: what an error message offers."""
        return sorted(k[0] for k in self.index((column,)) if k[0] is not None)


class OnlineStore:
    """Tables in memory for lookups, read again when their version moved (see the module)."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        refresh_seconds: float = 5.0,
        read: Callable[[str], pa.Table] | None = None,
    ):
        self.lakehouse, self.refresh_seconds = lakehouse, refresh_seconds
        self._read = read or lakehouse.read_arrow
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
                info, frame = self.lakehouse.describe(name), self._read(name).to_pandas()
                table = OnlineTable(
                    name, info.version or version, frame, info.primary_keys, info.timestamp_key
                )
            self._tables[name] = (table, time.monotonic())
            return table

    def resolve(self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None) -> Resolved:
        """The table and row position each of ``spec``'s lookups joins for ``base``, as the
        feature store joins in batch: ``MISSING`` when there is no row, ``EXPIRED`` when it is
        older than the lookup's lookback window. A point-in-time lookup is as of
        ``base[timestamp_lookup_key]`` when present, else ``at``, else the latest row."""
        tables, positions = [], []
        for lookup in spec.lookups:
            table = self.table(lookup.table_name, "run `health-monitor features` first")
            key = {tk: base[bk] for tk, bk in zip(equality_keys(table, lookup), lookup.keys, strict=True)}
            stamp = base.get(lookup.timestamp_lookup_key, at) if lookup.timestamp_lookup_key else None
            position = table.position(key, stamp)
            if position >= 0 and lookup.lookback_window is not None and stamp is not None:
                age = utc(stamp) - utc(table.frame[table.timestamp_key].iat[position])
                position = position if age <= lookup.lookback_window else EXPIRED
            tables.append(table)
            positions.append(position)
        return tuple(tables), tuple(positions)

    @staticmethod
    def inputs(spec: FeatureSpec, tables: Sequence[OnlineTable], positions: Sequence[int]) -> pd.DataFrame:
        """The looked-up features (renamed, defaults applied) of resolved row ``positions``: the
        model's one-row input frame, in training order."""
        out: dict[str, Any] = {}
        for lookup, table, position in zip(spec.lookups, tables, positions, strict=True):
            renames, defaults = lookup.rename_outputs or {}, lookup.default_values or {}
            names = lookup.feature_names
            for name in [names] if isinstance(names, str) else list(names or []):
                output = renames.get(name, name)
                value = table.frame[name].iat[position] if position >= 0 else None
                missing = pd.api.types.is_scalar(value) and pd.isna(value)  # None, NaN, NaT, NA
                out[output] = defaults.get(output) if missing else value
        return pd.DataFrame([[out.get(c) for c in spec.input_columns]], columns=list(spec.input_columns))


def equality_keys(table: OnlineTable | TableInfo, lookup: FeatureLookup) -> list[str]:
    """The primary keys of ``table`` that ``lookup`` matches by equality: all but the timestamp
    key when the lookup is point in time (``timestamp_lookup_key``)."""
    stamp = lookup.timestamp_lookup_key
    return [k for k in table.primary_keys if not (stamp and k == table.timestamp_key)]


def utc(value: Any) -> pd.Timestamp:
    """A date, datetime or ISO text as a UTC timestamp (naive values are taken as UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
