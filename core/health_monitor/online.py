"""Spark-free reads for agents and real-time scoring: tables held in memory with key indexes.

:class:`OnlineStore` reads a table once through the lakehouse port (Arrow), keeps it as a pandas
frame with hash indexes on the columns it is filtered by, and reloads it when the table's Delta
version moves (checked at most every ``refresh_seconds``). A lookup is then a dictionary access
plus a small slice: no Spark session, no SQL text, nothing written.

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
from health_monitor.featurestore import FeatureSpec
from health_monitor.lakehouse import Lakehouse


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


NO_DAY = np.iinfo(np.int64).min  # a null date in OnlineTable.days
MISSING = -1  # no row for the key (as of the time asked)
EXPIRED = -2  # a row, but older than the lookup's lookback window


@dataclass
class OnlineTable:
    """One table version in memory, indexed on demand by any tuple of columns."""

    name: str
    version: int
    frame: pd.DataFrame
    primary_keys: list[str]
    timestamp_key: str | None
    _indexes: dict[tuple[str, ...], dict[tuple, np.ndarray]] = field(default_factory=dict, repr=False)
    _times: np.ndarray | None = field(default=None, repr=False)
    _derived: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def index(self, columns: tuple[str, ...]) -> dict[tuple, np.ndarray]:
        """``{(text values...): row positions}`` for ``columns``; built once per version.

        Positions are in ascending time order when the table has a timestamp key."""
        found = self._indexes.get(columns)
        if found is not None:
            return found
        with self._lock:
            if columns in self._indexes:
                return self._indexes[columns]
            missing = [c for c in columns if c not in self.frame.columns]
            if missing:
                raise ConfigError(f"table {self.name} has no column(s) {missing}")
            keys = list(zip(*(as_text(self.frame[c]) for c in columns), strict=True))
            groups: dict[tuple, list[int]] = {}
            for position, key in enumerate(keys):
                groups.setdefault(key, []).append(position)
            built = {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}
            self._indexes[columns] = built
            return built

    def times(self) -> np.ndarray:
        if self._times is None:
            self._times = _utc_ns(self.frame[self.timestamp_key])
        return self._times

    def keys_for(self, lookup) -> list[str]:
        """The primary keys a lookup matches by equality: all of them, or all but the timestamp
        key when the lookup is point in time (``timestamp_lookup_key``)."""
        stamp = lookup.timestamp_lookup_key
        return [k for k in self.primary_keys if not (stamp and k == self.timestamp_key)]

    def warm_like(self, other: OnlineTable) -> None:
        """Build the indexes and derived columns ``other`` (an older version) has built."""
        for columns in list(other._indexes):
            if all(c in self.frame.columns for c in columns):
                self.index(columns)
        if other._times is not None and self.timestamp_key is not None:
            self.times()
        for method, column in list(other._derived):
            if column in self.frame.columns:
                getattr(self, method)(column)

    def positions(self, where: dict[str, Any]) -> np.ndarray:
        """Positions of the rows whose columns equal ``where``'s values (all rows for ``{}``)."""
        if not where:
            return np.arange(len(self.frame))
        columns = tuple(where)
        found = self.index(columns).get(tuple(str(where[c]) for c in columns))
        return found if found is not None else np.empty(0, dtype=np.int64)

    def days(self, column: str) -> np.ndarray:
        """``column`` (dates or timestamps, read as UTC) as whole days since 1970-01-01;
        ``NO_DAY`` where it is null."""
        key = ("days", column)
        if key not in self._derived:
            stamps = _utc_ns(self.frame[column])
            days = np.floor_divide(stamps.astype("int64"), 86_400 * 10**9)
            self._derived[key] = np.where(np.isnat(stamps), NO_DAY, days)
        return self._derived[key]

    def by_day(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(row positions, their day) in day order, nulls left out: a day range is a slice."""
        key = ("by_day", column)
        if key not in self._derived:
            days = self.days(column)
            order = np.argsort(days, kind="stable")
            order = order[days[order] != NO_DAY]
            self._derived[key] = (order, days[order])
        return self._derived[key]

    def last_day(self, column: str) -> int:
        """The latest day of ``column`` (``NO_DAY`` when it has none)."""
        days = self.by_day(column)[1]
        return int(days[-1]) if len(days) else NO_DAY

    def between_days(self, column: str, lo: int, hi: int) -> np.ndarray:
        """Positions, in table order, of the rows whose day of ``column`` is in [lo, hi]."""
        ordered, days = self.by_day(column)
        return np.sort(
            ordered[np.searchsorted(days, lo, side="left") : np.searchsorted(days, hi, side="right")]
        )

    def sort_key(self, column: str) -> np.ndarray:
        """``column`` as float64 in its own order (numbers, times, or text by rank); NaN for null."""
        key = ("sort_key", column)
        if key not in self._derived:
            values = self.frame[column]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                ordered = values.to_numpy(dtype="float64", na_value=np.nan)
            elif pd.api.types.is_bool_dtype(values):
                ordered = values.astype("float64").to_numpy()
            elif pd.api.types.is_datetime64_any_dtype(values):
                stamps = _utc_ns(values)
                ordered = np.where(np.isnat(stamps), np.nan, stamps.astype("int64").astype("float64"))
            else:
                codes, _ = pd.factorize(values, sort=True)
                ordered = np.where(codes < 0, np.nan, codes.astype("float64"))
            self._derived[key] = ordered
        return self._derived[key]

    def records(self, positions: np.ndarray, hidden: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """The rows at ``positions`` as dicts (pandas scalars), without the ``hidden`` columns."""
        arrays = [(c, self.frame[c].array) for c in self.frame.columns if c not in hidden]
        return [{c: a[p] for c, a in arrays} for p in positions]

    def values(self, column: str) -> list[str]:
        """Distinct values of ``column`` as text, sorted: what an error message offers."""
        return sorted(k[0] for k in self.index((column,)) if k[0] is not None)

    def rows(self, where: dict[str, Any]) -> pd.DataFrame:
        """Rows whose columns equal ``where``'s values (compared as text)."""
        return self.frame if not where else self.frame.iloc[self.positions(where)]

    def position(self, key: dict[str, Any], at: Any | None = None) -> int:
        """Row position of the latest row for ``key`` (the non-time primary keys) at or before
        ``at`` (None: latest), ``MISSING`` when there is none; without a timestamp key, the last
        row that matches ``key``."""
        columns = tuple(key)
        positions = self.index(columns).get(tuple(str(key[c]) for c in columns))
        if positions is None or not len(positions):
            return MISSING
        if self.timestamp_key is None:
            return int(positions[-1])
        times = self.times()[positions]
        if at is None:
            return int(positions[np.argmax(times)])
        order = np.argsort(times, kind="stable")
        limit = np.datetime64(utc(at).tz_convert(None), "ns")
        cut = np.searchsorted(times[order], limit, side="right")
        return MISSING if cut == 0 else int(positions[order[cut - 1]])


class OnlineStore:
    """Tables in memory for lookups, reloaded when their version moves. Thread-safe.

    By default a lookup that finds its table older than ``refresh_seconds`` checks the version
    itself (and reloads it when it moved). A server calls :meth:`refresh` from a background
    thread and sets ``background``: lookups then never wait for a check or a reload, and a
    moved table is swapped in with the indexes of the old one already built."""

    def __init__(self, lakehouse: Lakehouse, refresh_seconds: float = 5.0):
        self.lakehouse = lakehouse
        self.refresh_seconds = refresh_seconds
        self.background = False
        self._tables: dict[str, tuple[OnlineTable, float]] = {}
        self._lock = threading.Lock()

    def table(self, name: str, hint: str = "") -> OnlineTable:
        now = time.monotonic()
        cached = self._tables.get(name)
        if cached is not None and (self.background or now - cached[1] < self.refresh_seconds):
            return cached[0]
        with self._lock:
            cached = self._tables.get(name)
            if cached is not None and now - cached[1] < self.refresh_seconds:
                return cached[0]
            if not self.lakehouse.exists(name):
                raise TableNotFoundError(name, hint)
            version = self.lakehouse.version(name)
            if cached is not None and cached[0].version == version:
                self._tables[name] = (cached[0], now)
                return cached[0]
            table = self._load(name, version)
            self._tables[name] = (table, now)
            return table

    def refresh(self) -> list[str]:
        """Reload every held table whose version moved, building the indexes and derived
        columns its old version had before swapping it in. Returns the tables reloaded."""
        moved = []
        for name, (old, _) in list(self._tables.items()):
            if not self.lakehouse.exists(name):
                continue  # dropped: keep answering from what was read
            version = self.lakehouse.version(name)
            if version != old.version:
                table = self._load(name, version)
                table.warm_like(old)
                moved.append(name)
            else:
                table = old
            with self._lock:
                self._tables[name] = (table, time.monotonic())
        return moved

    def _load(self, name: str, version: int) -> OnlineTable:
        info = self.lakehouse.describe(name)
        frame = self.lakehouse.read_arrow(name).to_pandas()
        return OnlineTable(name, info.version or version, frame, list(info.primary_keys), info.timestamp_key)

    def features(self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None) -> dict[str, Any]:
        """One row of model inputs, looked up the way the feature store joins them.

        ``base`` holds the lookup keys (as text or values). A point-in-time lookup uses
        ``base[timestamp_lookup_key]`` when present, else ``at``, else the latest row."""
        return self.values(spec, *self.resolve(spec, base, at))

    def resolve(
        self, spec: FeatureSpec, base: dict[str, Any], at: Any | None = None
    ) -> tuple[tuple[OnlineTable, ...], tuple[int, ...]]:
        """The table version and row position each of ``spec``'s lookups joins for ``base``:
        ``MISSING`` when there is no row, ``EXPIRED`` when the row is older than the lookup's
        lookback window.

        Positions identify a feature vector within those table versions, so they key a cache of
        scores (see :class:`health_monitor.champions.Champions`)."""
        tables, out = [], []
        for lookup in spec.lookups:
            table = self.table(lookup.table_name, "run `health-monitor features` first")
            key = {tk: base[bk] for tk, bk in zip(table.keys_for(lookup), lookup.keys, strict=True)}
            if lookup.timestamp_lookup_key:
                stamp = base.get(lookup.timestamp_lookup_key, at)
                position = table.position(key, stamp)
                if position >= 0 and lookup.lookback_window is not None and stamp is not None:
                    age = utc(stamp) - utc(table.frame[table.timestamp_key].iat[position])
                    position = position if age <= lookup.lookback_window else EXPIRED
            else:
                positions = table.index(tuple(key)).get(tuple(str(v) for v in key.values()))
                position = int(positions[-1]) if positions is not None and len(positions) else MISSING
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
            renames = lookup.rename_outputs or {}
            defaults = lookup.default_values or {}
            for name in _names(lookup):
                output = renames.get(name, name)
                value = table.frame[name].iat[position] if position >= 0 else None
                out[output] = defaults.get(output) if value is None or _isnan(value) else value
        return out

    @staticmethod
    def frame(spec: FeatureSpec, tables: tuple[OnlineTable, ...], positions: np.ndarray) -> pd.DataFrame:
        """:meth:`values` for many rows at once: ``positions`` is (rows, lookups)."""
        columns: dict[str, Any] = {}
        for j, (lookup, table) in enumerate(zip(spec.lookups, tables, strict=True)):
            taken = positions[:, j]
            found = taken >= 0
            renames = lookup.rename_outputs or {}
            defaults = lookup.default_values or {}
            for name in _names(lookup):
                output = renames.get(name, name)
                source = table.frame[name]
                if not len(source):
                    values = pd.Series([None] * len(taken), dtype=object)
                else:
                    values = source.iloc[np.where(found, taken, 0)].reset_index(drop=True)
                    if not found.all():
                        values = values.where(pd.Series(found))
                if defaults.get(output) is not None:
                    values = values.where(values.notna(), defaults[output])
                columns[output] = values
        return pd.DataFrame(columns)


def _names(lookup) -> list[str]:
    names = lookup.feature_names
    return [names] if isinstance(names, str) else list(names or [])


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
