"""What changed since a feature table or a prediction table was last computed, so that the daily
run (``health-monitor run``) recomputes only the days that changed.

Every feature table and prediction table the pipelines write is recorded in
``<catalog>.ops.refresh_state`` with the version of each table it was computed from (the Gold
tables ``compute`` and ``base`` read, the feature tables a model looks up, its champion). Writers
record in each Delta commit what it changed: :meth:`Lakehouse.replace_where` commits carry
``changed_since``, a whole-table write carries nothing. The next run reads the commits made since
those versions:

- none: the table is unchanged; nothing to do;
- only ``changed_since`` commits: recompute the rows from the earliest such day on;
- a whole rewrite of a table with days (a Gold fact, a feature table, a new champion): recompute
  everything;
- a whole rewrite of a table without days (a dimension such as ``dim_job``, a snapshot history):
  recompute from the consumer's latest day on. Earlier rows keep the attributes they were computed
  with, which is what they were at the time.

This holds because every row is point-in-time: a feature row at day ``t`` reads only Gold rows up
to ``t`` (the rule of :class:`health_monitor.sdk.specs.FeatureTable`), and a prediction at ``t`` reads
feature rows as of ``t``. A run that stops midway loses nothing: the state of an item is written
only after its table, so the next run recomputes it from the same versions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from pyspark.sql import functions as F

from health_monitor.runtime import Runtime, TableReader

STATE_TABLE = "refresh_state"
_state_lock = threading.Lock()
FULL = "full"  # changed_since's answer when everything must be recomputed
CHANGED_SINCE = "changed_since"
_STATE_SCHEMA = pa.schema(
    [("consumer", pa.string()), ("sources", pa.string()), ("refreshed_at", pa.timestamp("us", tz="UTC"))]
)


class RecordingTables(TableReader):
    """The :class:`~health_monitor.sdk.specs.Tables` a spec reads, recording the version of each table
    it reads. With ``cutoff``, a Gold table with days gives only its rows from that day on (a feature
    table that declares ``lookback_days`` needs no more). ``rows_from`` is the first day whose rows
    the caller keeps (``Tables.rows_from``)."""

    def __init__(self, runtime: Runtime, cutoff: dt.date | None = None, rows_from: dt.date | None = None):
        super().__init__(runtime)
        self.versions: dict[str, int] = {}
        self._cutoff = cutoff
        self._rows_from = rows_from

    @classmethod
    def from_day(cls, runtime: Runtime, since: dt.date | None, lookback_days: int | None) -> RecordingTables:
        """The tables for rows from ``since`` on: Gold from ``lookback_days`` before it when the
        table or model declares them, else all of Gold (and all of it without ``since``)."""
        if since is None or lookback_days is None:
            return cls(runtime, rows_from=since)
        return cls(runtime, cutoff=since - dt.timedelta(days=lookback_days), rows_from=since)

    def rows_from(self) -> dt.date | None:
        return self._rows_from

    def _read(self, full_name: str, hint: str):
        df = super()._read(full_name, hint)  # raises for a missing table before anything is recorded
        self.versions[full_name] = self._lakehouse.version(full_name)
        return df

    def gold(self, table: str):
        df = super().gold(table)
        grain = gold_grain(table)
        if self._cutoff is not None and grain is not None:
            df = df.filter(F.to_date(F.col(grain)) >= F.lit(self._cutoff))
        return df


def gold_grain(table: str) -> str | None:
    """The column whose day a Gold table's rows belong to (None: a dimension or a snapshot)."""
    from health_monitor.gold.build import gold_steps

    step = gold_steps().get(table)
    return step.grain if step is not None and not step.snapshot else None


def read_state(runtime: Runtime) -> dict[str, dict[str, int]]:
    name = runtime.settings.ops(STATE_TABLE)
    if not runtime.lakehouse.exists(name):
        return {}
    rows = runtime.lakehouse.read_arrow(name).to_pylist()
    return {row["consumer"]: json.loads(row["sources"]) for row in rows}


def record_state(runtime: Runtime, consumer: str, sources: dict[str, int]) -> None:
    """Record that ``consumer`` (a table's full name) now holds what ``sources`` gave."""
    with _state_lock:  # items of one stage may run at once: one read-modify-write at a time
        state = read_state(runtime)
        state[consumer] = dict(sorted(sources.items()))
        now = dt.datetime.now(dt.timezone.utc)
        table = pa.table(
            {
                "consumer": list(state),
                "sources": [json.dumps(v) for v in state.values()],
                "refreshed_at": [now] * len(state),
            },
            schema=_STATE_SCHEMA,
        )
        runtime.lakehouse.write(runtime.settings.ops(STATE_TABLE), table, primary_keys=["consumer"])


def changed_since(
    runtime: Runtime,
    consumer: str,
    latest_day: Callable[[], dt.date | None],
    current: dict[str, int] | None = None,
) -> dt.date | str | None:
    """The earliest day of ``consumer`` to recompute: a date, :data:`FULL`, or None (unchanged).

    ``current`` holds versions that are not tables (a champion's version under its model name):
    any difference from the recorded one is :data:`FULL`. ``latest_day()`` gives the consumer's
    latest day, for changes to tables without days."""
    recorded = read_state(runtime).get(consumer)
    if not recorded or not runtime.lakehouse.exists(consumer):
        return FULL
    since: dt.date | None = None
    undated = False
    for source, version in recorded.items():
        if current is not None and source in current:
            if current[source] != version:
                return FULL
            continue
        if not runtime.lakehouse.exists(source):
            return FULL
        for commit in runtime.lakehouse.changes(source, version):
            if CHANGED_SINCE in commit:
                day = dt.date.fromisoformat(commit[CHANGED_SINCE])
                since = day if since is None else min(since, day)
            elif _has_days(runtime, source):
                return FULL
            else:
                undated = True
    for source in current or {}:
        if source not in recorded:
            return FULL
    if undated:
        latest = latest_day()
        if latest is None:
            return FULL
        since = latest if since is None else min(since, latest)
    return since


def _has_days(runtime: Runtime, full_name: str) -> bool:
    """A whole rewrite of this table may change any day (a Gold fact, a feature or prediction
    table); only Gold dimensions and snapshot histories have none."""
    prefix = f"{runtime.settings.catalog}.{runtime.settings.schemas.gold}."
    if full_name.startswith(prefix):
        return gold_grain(full_name[len(prefix) :]) is not None
    return True


def latest_day(runtime: Runtime, name: str, column: str) -> Callable[[], dt.date | None]:
    """A function giving the latest day of ``column`` in table ``name`` (None when it is empty)."""

    def get() -> dt.date | None:
        row = runtime.lakehouse.read(name).agg(F.max(F.to_date(F.col(column))).alias("d")).collect()[0]
        return row["d"]

    return get


def describe_since(since: Any) -> str:
    return "everything" if since in (None, FULL) else f"from {since.isoformat()}"
