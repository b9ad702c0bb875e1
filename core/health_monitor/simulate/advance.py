"""Let a simulated account live N more days: what a daily run would find the next morning.

The simulator is not prefix-stable (a longer window draws different facts for the same days), so
the account is generated again over the longer window and spliced: every table that records
events keeps its rows from before the old end and takes the new account's rows from the day
after it; tables that hold only a current state (prices, workspaces, information_schema) are
replaced by the new account's. Entities (workspaces, users, jobs, warehouses, clusters) are the
same in both, so ids and names line up. Deterministic: the same home and N give the same tables.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

# The column an event table is split on, in order of preference. Billing splits on the day a
# record arrived (late rows and corrections of the old days arrive after the old end).
SPLIT_COLUMNS = (
    "ingestion_date",
    "period_start_time",
    "event_time",
    "start_time",
    "change_time",
    "snapshot_date",
    "event_date",
)


def split_column(table: pa.Table) -> str | None:
    """The column to splice ``table`` on, or None for a current-state table (replaced whole)."""
    return next((c for c in SPLIT_COLUMNS if c in table.column_names), None)


def splice(old: pa.Table, new: pa.Table, boundary: dt.date) -> pa.Table:
    """Rows of ``old`` before ``boundary`` and rows of ``new`` from it on (by the split column)."""
    column = split_column(new)
    if column is None:
        return new
    before = _before(old, column, boundary)
    after = pc.invert(_before(new, column, boundary))
    new = new.cast(old.schema) if new.schema != old.schema else new
    return pa.concat_tables([old.filter(before), new.filter(after)])


def _before(table: pa.Table, column: str, boundary: dt.date) -> pa.Array:
    values = table.column(column)
    if pa.types.is_timestamp(values.type):
        start = pa.scalar(dt.datetime.combine(boundary, dt.time(), tzinfo=dt.timezone.utc), values.type)
        return pc.fill_null(pc.less(values, start), False)
    return pc.fill_null(pc.less(values, pa.scalar(boundary, pa.date32())), False)
