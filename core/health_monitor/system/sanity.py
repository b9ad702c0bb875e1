"""Value rules for what a user loads: well-typed rows that are still absurd.

The schema checks of the loaders hold a table to its types; these rules hold its values to what
a Databricks account can produce and every layer (Spark, pandas, Arrow) can represent. They are
declared once, here, from the column types of the contracts (Gold and the system-table
reference) and a few names, so both loaders and every table share them:

=====================  ==========================================================  ==========
rule                   a row is caught when                                        policy
=====================  ==========================================================  ==========
``date_range``         a date or timestamp is before 1970, more than 5 years        quarantine
                       before the column's 1st percentile, or after tomorrow
                       (a planned date, e.g. a commit's ``period_end``: 2200)
``end_before_start``   an end time (``end_time``, ``period_end_time``,              quarantine
                       ``usage_end_time``, ...) is before its start
``not_finite``         a floating-point number is NaN or infinite                   quarantine
``negative_original``  an ``ORIGINAL`` billing record has a negative quantity       quarantine
                       (only RETRACTION records are negative)
``long_string``        a text value is longer than 1 MiB (an identifier: 1,024)     quarantine
``identifier_chars``   an identifier (``*_id``, ``*_name``, ``*_by``, ...) holds a  quarantine
                       control or bidirectional-override character
``empty_table``        the table has no rows at all                                 warn
=====================  ==========================================================  ==========

Each rule's policy is ``refuse`` (the load fails, naming table, rule and a row, and writes
nothing), ``quarantine`` (the rows are left out and kept in ``<catalog>.ops.quarantine`` with
the rule that caught them) or ``warn`` (counted and kept). A row caught by several rules is
quarantined once, under the first. Rules read top-level columns; values inside structs and maps
are not checked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.errors import ConfigError, HealthMonitorError

POLICIES = ("refuse", "quarantine", "warn")
EPOCH = dt.date(1970, 1, 1)
SPAN_SLACK_YEARS = 5
FUTURE_SLACK_DAYS = 1
MAX_TEXT = 1 << 20
MAX_IDENTIFIER = 1024
QUARANTINE_TABLE = "quarantine"
# C0/C1 controls and the bidirectional embeddings, overrides and isolates (Trojan Source).
_BAD_CHARS = "[\\x00-\\x1f\\x7f-\\x9f\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}\\x{200e}\\x{200f}]"
# Dates that are plans or predictions, not events: they may lie ahead (a commit contract's end, a
# scheduled price, a predicted freshness), up to what every layer can hold (pandas: 2262).
PLANNED = frozenset(
    {"period_start", "period_end", "price_start_time", "price_end_time", "commit_freshness_predicted_value"}
)
PLANNED_CEILING = dt.date(2200, 1, 1)
_IDENTIFIER = re.compile(r"(^|_)(id|ids|name|by|user|email|key|sku|principal)$")
_END = re.compile(r"^(.*?)end_(time|date)$")


class SanityError(HealthMonitorError, ValueError):
    """A value rule whose policy is ``refuse`` caught rows; nothing was written."""


class SanityWarning(UserWarning):
    """Rows a value rule left out or let through, counted per table and rule."""


@dataclass(frozen=True)
class Rule:
    name: str
    policy: str
    description: str
    # (table name, table, today) -> one (column, mask) per column checked; mask True on a bad row
    check: Callable[[str, pa.Table, dt.date], list[tuple[str, pa.ChunkedArray | pa.Array]]]


@dataclass
class Screened:
    """What the rules made of a load: the tables to write, the rows kept apart, the counts."""

    tables: dict[str, pa.Table]
    quarantine: pa.Table
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, rule) -> rows
    policies: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per table and rule that caught something, for the load's output."""
        out = []
        for (table, rule), n in sorted(self.counts.items()):
            if rule == "empty_table":
                out.append(f"{table}: empty_table: the table has no rows")
                continue
            what = {"quarantine": "left out (see the quarantine table)", "warn": "kept"}[self.policies[rule]]
            out.append(f"{table}: {rule}: {n:,} row(s) {what}")
        return out


# ------------------------------------------------------------------------------------ rules


def _temporal(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)]


def _as_days(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Days since the epoch (int64), whatever the unit or zone; a value no unit can hold is far."""
    if pa.types.is_date(arr.type):
        return pc.cast(arr, pa.int32()).cast(pa.int64())
    unit = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}[arr.type.unit]
    ticks = pc.cast(arr, pa.int64())
    # Floor division: Arrow's integer divide truncates toward zero.
    return pc.divide(pc.subtract(ticks, pc.if_else(pc.less(ticks, 0), unit - 1, 0)), unit)


def _date_range(_: str, table: pa.Table, today: dt.date) -> list:
    out = []
    for name in _temporal(table):
        ceiling = (
            (PLANNED_CEILING - EPOCH).days if name in PLANNED else (today - EPOCH).days + FUTURE_SLACK_DAYS
        )
        days = _as_days(table[name])
        floor = 0
        valid = pc.drop_null(days)
        if len(valid):
            low = pc.quantile(valid, q=0.01, interpolation="lower")[0].as_py()
            floor = max(0, low - 366 * SPAN_SLACK_YEARS)
        out.append((name, pc.or_(pc.less(days, floor), pc.greater(days, ceiling))))
    return out


def _end_before_start(_: str, table: pa.Table, __: dt.date) -> list:
    out = []
    names = set(_temporal(table))
    for end in sorted(names):
        m = _END.match(end)
        start = f"{m.group(1)}start_{m.group(2)}" if m else None
        if start in names:
            a, b = _as_comparable(table[start]), _as_comparable(table[end])
            out.append((end, pc.less(b, a)))
    return out


def _as_comparable(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Microseconds since the epoch (int64), for dates and timestamps alike."""
    if pa.types.is_timestamp(arr.type):
        return pc.cast(pc.cast(arr, pa.timestamp("us", arr.type.tz), safe=False), pa.int64())
    return pc.multiply(pc.cast(pc.cast(arr, pa.int32()), pa.int64()), 86_400_000_000)


def _not_finite(_: str, table: pa.Table, __: dt.date) -> list:
    return [
        (f.name, pc.invert(pc.is_finite(table[f.name]))) for f in table.schema if pa.types.is_floating(f.type)
    ]


def _negative_original(_: str, table: pa.Table, __: dt.date) -> list:
    if not {"record_type", "usage_quantity"} <= set(table.column_names):
        return []
    quantity = table["usage_quantity"]
    zero = pa.scalar(Decimal(0) if pa.types.is_decimal(quantity.type) else 0, quantity.type)
    negative = pc.less(quantity, zero)
    return [("usage_quantity", pc.and_(pc.equal(table["record_type"], "ORIGINAL"), negative))]


def _strings(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


def _long_string(_: str, table: pa.Table, __: dt.date) -> list:
    return [
        (
            name,
            pc.greater(pc.utf8_length(table[name]), MAX_IDENTIFIER if _IDENTIFIER.search(name) else MAX_TEXT),
        )
        for name in _strings(table)
    ]


def _identifier_chars(_: str, table: pa.Table, __: dt.date) -> list:
    return [
        (name, pc.match_substring_regex(table[name], _BAD_CHARS))
        for name in _strings(table)
        if _IDENTIFIER.search(name)
    ]


RULES: tuple[Rule, ...] = (
    Rule(
        "date_range",
        "quarantine",
        "a date before 1970, far before the column's own span, or in the future",
        _date_range,
    ),
    Rule("end_before_start", "quarantine", "an end time before its start", _end_before_start),
    Rule("not_finite", "quarantine", "a NaN or infinite number", _not_finite),
    Rule(
        "negative_original",
        "quarantine",
        "a negative quantity on an ORIGINAL billing record",
        _negative_original,
    ),
    Rule(
        "long_string", "quarantine", "a text over 1 MiB, or an identifier over 1,024 characters", _long_string
    ),
    Rule(
        "identifier_chars",
        "quarantine",
        "a control or bidirectional character in an identifier",
        _identifier_chars,
    ),
    Rule("empty_table", "warn", "a table with no rows", lambda *_: []),
)
RULE_NAMES = tuple(r.name for r in RULES)


def parse_policies(items: list[str] | None) -> dict[str, str]:
    """``["date_range=refuse", ...]`` (the CLI's ``--rule``) over the default policies."""
    policies = {r.name: r.policy for r in RULES}
    for item in items or []:
        rule, _, policy = item.partition("=")
        if rule not in policies:
            raise ConfigError(f"--rule {item!r}: unknown rule {rule!r}; rules: {', '.join(RULE_NAMES)}")
        if policy not in POLICIES:
            raise ConfigError(f"--rule {item!r}: policy must be one of {', '.join(POLICIES)}")
        policies[rule] = policy
    return policies


# ----------------------------------------------------------------------------------- screen


_QUARANTINE_SCHEMA = pa.schema(
    [
        ("loaded_at", pa.timestamp("us", tz="UTC")),
        ("table_name", pa.string()),
        ("rule", pa.string()),
        ("column_name", pa.string()),
        ("row_json", pa.string()),
    ]
)


def screen(
    tables: dict[str, pa.Table],
    label: Callable[[str], str] = str,
    *,
    policies: dict[str, str] | None = None,
    today: dt.date | None = None,
) -> Screened:
    """Apply every rule to every table. Raises :class:`SanityError` (before anything is written)
    when a ``refuse`` rule catches a row; otherwise returns the tables without their quarantined
    rows, the quarantined rows and the counts. ``label`` turns a table's name into the name shown."""
    policies = policies or {r.name: r.policy for r in RULES}
    today = today or dt.datetime.now(dt.timezone.utc).date()
    now = dt.datetime.now(dt.timezone.utc)
    result = Screened({}, _QUARANTINE_SCHEMA.empty_table(), policies=policies)
    kept_apart = []
    for name, table in tables.items():
        shown = label(name)
        if table.num_rows == 0:
            if policies["empty_table"] == "refuse":
                raise SanityError(f"{shown}: the table has no rows (rule empty_table); nothing was loaded")
            result.counts[(shown, "empty_table")] = 0  # nothing to quarantine: counted, as a warning
            result.tables[name] = table
            continue
        drop = pa.array(np.zeros(table.num_rows, dtype=bool))  # no Python list of millions
        for rule in RULES:
            for column, mask in rule.check(name, table, today):
                mask = pc.fill_null(mask, False)
                if isinstance(mask, pa.ChunkedArray):
                    mask = mask.combine_chunks()
                caught = pc.and_(mask, pc.invert(drop))
                n = pc.sum(caught.cast(pa.int64())).as_py() or 0
                if not n:
                    continue
                policy = policies[rule.name]
                if policy == "refuse":
                    row = table.filter(caught).slice(0, 1).to_pylist()[0]
                    raise SanityError(
                        f"{shown}.{column}: {n:,} row(s) with {rule.description} (rule {rule.name}), "
                        f"e.g. {column}={_short(row.get(column))}; nothing was loaded. "
                        f"Fix the export, or load with --rule {rule.name}=quarantine"
                    )
                result.counts[(shown, rule.name)] = result.counts.get((shown, rule.name), 0) + n
                if policy == "quarantine":
                    drop = pc.or_(drop, caught)
                    kept_apart.append(_quarantined(now, shown, rule.name, column, table.filter(caught)))
        result.tables[name] = table.filter(pc.invert(drop)) if pc.any(drop).as_py() else table
    if kept_apart:
        result.quarantine = pa.concat_tables(kept_apart)
    return result


def _quarantined(now: dt.datetime, table: str, rule: str, column: str, rows: pa.Table) -> pa.Table:
    payload = [json.dumps(r, default=str, ensure_ascii=True)[: MAX_IDENTIFIER * 64] for r in rows.to_pylist()]
    n = len(payload)
    return pa.table(
        {
            "loaded_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "table_name": pa.array([table] * n, pa.string()),
            "rule": pa.array([rule] * n, pa.string()),
            "column_name": pa.array([column] * n, pa.string()),
            "row_json": pa.array(payload, pa.string()),
        },
        schema=_QUARANTINE_SCHEMA,
    )


def _short(value) -> str:
    text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def quarantine_tables(runtime, screened: Screened) -> list[str]:
    """The table :func:`write_quarantine` will write, if any (for a load's journal)."""
    return [runtime.settings.ops(QUARANTINE_TABLE)] if screened.quarantine.num_rows else []


def write_quarantine(runtime, screened: Screened) -> int:
    """Append the quarantined rows to ``<catalog>.ops.quarantine``; returns how many."""
    if screened.quarantine.num_rows == 0:
        return 0
    name = runtime.settings.ops(QUARANTINE_TABLE)
    lakehouse = runtime.lakehouse
    parts = [lakehouse.read_arrow(name)] if lakehouse.exists(name) else []
    table = pa.concat_tables([*[p.cast(_QUARANTINE_SCHEMA) for p in parts], screened.quarantine])
    lakehouse.write(name, table, description="Rows loads left out, with the value rule that caught them")
    return screened.quarantine.num_rows


def warn_counts(screened: Screened) -> None:
    """One :class:`SanityWarning` per table and rule that caught something (the load's output)."""
    import warnings

    for line in screened.lines():
        warnings.warn(line, SanityWarning, stacklevel=3)
