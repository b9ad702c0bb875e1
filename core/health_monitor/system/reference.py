"""The Databricks system tables as the account has them: names, columns and types.

The schemas come from ``reference-columns.csv`` (a copy of the project's system-table reference:
an ``information_schema`` export of 2025 with ordinals, plus columns and struct fields that
``DESCRIBE`` and the docs showed in 2026). One table's schema is resolved from it thus:

* the 2025 columns in their ordinal order;
* a 2026 row for an existing column replaces its type (structs that gained fields);
* a 2026 row for a new column is appended, in file order;
* a type annotated ``(assumed ...)`` is taken without the note; a struct the reference could not
  verify (``array<struct<...>>``) takes the type the same column has in a sibling table.

Types are parsed here, without a JVM, into Arrow types (for writing and checking) and Spark
DDL (for Spark readers). Simulated tables, loaded exports and the Gold build all use these.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

SYSTEM_CATALOG = "system"

# The tables the Gold build reads (schema.table inside the system catalog). The reference also
# lists tables no model reads yet (serving, storage, pipelines); they are known but optional.
_UNVERIFIED_FROM = {("lakeflow.job_tasks", "health_rules"): ("lakeflow.jobs", "health_rules")}
_ASSUMED = re.compile(r"\s*\(assumed[^)]*\)\s*$")


@dataclass(frozen=True)
class SystemColumn:
    name: str
    type_text: str  # as the reference writes it, e.g. "map<string,string>", "decimal(38,18)"
    note: str = ""
    # True for columns the 2025 information_schema export lacked (added by Databricks since):
    # an export taken before they existed has no such column, and that is not an error.
    newer: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return parse_type(self.type_text)


@dataclass(frozen=True)
class SystemTable:
    """One system table: ``name`` is ``schema.table`` (``billing.usage``)."""

    name: str
    columns: tuple[SystemColumn, ...]

    @property
    def full_name(self) -> str:
        return f"{SYSTEM_CATALOG}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> SystemColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.full_name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in self.columns])

    def spark_ddl(self) -> str:
        return ", ".join(f"`{c.name}` {spark_type_text(c.type_text)}" for c in self.columns)


# ---------------------------------------------------------------------------------- types


class TypeParseError(ValueError):
    pass


_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "long": pa.int64(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "short": pa.int16(),
    "tinyint": pa.int8(),
    "byte": pa.int8(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
}


def parse_type(text: str) -> pa.DataType:
    """A Databricks SQL type (``struct<a:string,b:array<int>>``, ``decimal(38,18)``) as Arrow."""
    parser = _TypeParser(text)
    result = parser.parse()
    if parser.pos != len(parser.text):
        raise TypeParseError(f"unexpected {parser.text[parser.pos :]!r} in type {text!r}")
    return result


class _TypeParser:
    def __init__(self, text: str):
        self.text = text.strip()
        self.pos = 0

    def _ident(self) -> str:
        m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(self.text, self.pos)
        if not m:
            raise TypeParseError(f"expected a name at {self.pos} in {self.text!r}")
        self.pos = m.end()
        return m.group(1)

    def _expect(self, char: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1
        if not self.text.startswith(char, self.pos):
            raise TypeParseError(f"expected {char!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def _peek(self, char: str) -> bool:
        return self.text.startswith(char, self.pos)

    def parse(self) -> pa.DataType:
        name = self._ident().lower()
        if name == "array":
            self._expect("<")
            item = self.parse()
            self._expect(">")
            return pa.list_(item)
        if name == "map":
            self._expect("<")
            key = self.parse()
            self._expect(",")
            value = self.parse()
            self._expect(">")
            return pa.map_(key, value)
        if name == "struct":
            self._expect("<")
            fields = []
            while True:
                field_name = self._ident()
                self._expect(":")
                fields.append(pa.field(field_name, self.parse()))
                if self._peek(","):
                    self.pos += 1
                    continue
                self._expect(">")
                return pa.struct(fields)
        if name == "decimal":
            m = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)").match(self.text, self.pos)
            if not m:
                return pa.decimal128(10, 0)
            self.pos = m.end()
            return pa.decimal128(int(m.group(1)), int(m.group(2)))
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        raise TypeParseError(f"unknown type {name!r} in {self.text!r}")


def spark_type_text(text: str) -> str:
    """The reference type as Spark DDL (``long`` reads as ``bigint``; field names quoted)."""
    return arrow_to_spark_ddl(parse_type(text))


def arrow_to_spark_ddl(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return f"array<{arrow_to_spark_ddl(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{arrow_to_spark_ddl(t.key_type)},{arrow_to_spark_ddl(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"`{f.name}`:{arrow_to_spark_ddl(f.type)}" for f in t)
        return f"struct<{inner}>"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    for name, prim in (
        ("string", pa.string()),
        ("bigint", pa.int64()),
        ("int", pa.int32()),
        ("smallint", pa.int16()),
        ("tinyint", pa.int8()),
        ("double", pa.float64()),
        ("float", pa.float32()),
        ("boolean", pa.bool_()),
        ("date", pa.date32()),
        ("binary", pa.binary()),
    ):
        if t == prim:
            return name
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_large_string(t):
        return "string"
    raise TypeParseError(f"no Spark type for Arrow type {t}")


def type_text(t: pa.DataType) -> str:
    """An Arrow type written the reference's way, for messages and comparisons."""
    return arrow_to_spark_ddl(t).replace("`", "")


# ---------------------------------------------------------------------------------- tables


@cache
def system_tables() -> dict[str, SystemTable]:
    """Every system table of the reference, by ``schema.table``."""
    text = resources.files("health_monitor.system").joinpath("reference-columns.csv").read_text("utf-8")
    base: dict[str, list[tuple[int, SystemColumn]]] = {}
    later: dict[str, list[SystemColumn]] = {}
    for row in csv.DictReader(text.splitlines()):
        table = row["table"].removeprefix(f"{SYSTEM_CATALOG}.")
        type_text = _ASSUMED.sub("", row["full_data_type"])
        if row["ordinal"].strip():
            col = SystemColumn(row["column"], type_text, row.get("note") or "")
            base.setdefault(table, []).append((int(row["ordinal"]), col))
        else:
            later.setdefault(table, []).append(
                SystemColumn(row["column"], type_text, row.get("note") or "", True)
            )
    tables: dict[str, list[SystemColumn]] = {
        name: [c for _, c in sorted(cols, key=lambda pair: pair[0])] for name, cols in base.items()
    }
    for name, cols in later.items():
        current = tables.setdefault(name, [])
        for col in cols:
            idx = next((i for i, c in enumerate(current) if c.name == col.name), None)
            if idx is None:
                current.append(col)
            else:  # a struct that gained fields: the column itself is as old as the table
                current[idx] = SystemColumn(col.name, col.type_text, col.note or current[idx].note, False)
    for (table, column), (other, other_column) in _UNVERIFIED_FROM.items():
        cols = tables[table]
        idx = next(i for i, c in enumerate(cols) if c.name == column)
        source = next(c for c in tables[other] if c.name == other_column)
        cols[idx] = SystemColumn(
            column, source.type_text, f"{cols[idx].note}; type taken from {other}", cols[idx].newer
        )
    result = {name: SystemTable(name, tuple(cols)) for name, cols in sorted(tables.items())}
    for table in result.values():
        for col in table.columns:
            try:
                parse_type(col.type_text)
            except TypeParseError as exc:
                raise RuntimeError(f"reference type of {table.full_name}.{col.name}: {exc}") from None
    return result


def system_table(name: str) -> SystemTable:
    """The table ``schema.table`` (``billing.usage``) or ``system.billing.usage``."""
    key = name.removeprefix(f"{SYSTEM_CATALOG}.")
    tables = system_tables()
    if key not in tables:
        raise KeyError(f"unknown system table {name!r}; known: {', '.join(sorted(tables))}")
    return tables[key]


def empty_table(name: str) -> pa.Table:
    return system_table(name).arrow_schema().empty_table()
