"""The storage port: tables addressed as ``catalog.schema.table``, wherever they live.

The embedded default maps names to Delta tables under ``<home>/lakehouse`` (:mod:`.local`);
on Databricks the same names are Unity Catalog tables. Nothing above this port knows which.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from health_monitor.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

_PART = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
_FULL_NAME = re.compile(rf"^({_PART})\.({_PART})\.({_PART})$")


@dataclass(frozen=True)
class TableName:
    catalog: str
    schema: str
    table: str

    @classmethod
    def parse(cls, name: str) -> TableName:
        match = _FULL_NAME.match(name) if isinstance(name, str) else None
        if not match:
            raise ConfigError(f"table name must be catalog.schema.table with plain identifiers, got {name!r}")
        return cls(*match.groups())

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


@dataclass(frozen=True)
class TableInfo:
    """What ``health-monitor tables`` reports about one table."""

    full_name: str
    rows: int
    columns: list[tuple[str, str]]  # (name, type)
    location: str | None = None
    version: int | None = None
    primary_keys: list[str] = field(default_factory=list)
    timestamp_key: str | None = None
    description: str = ""
    written: int | None = None  # a write's answer: the rows of the data it was given, all stored

    def to_dict(self) -> dict[str, Any]:
        return {
            "full_name": self.full_name,
            "rows": self.rows,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "location": self.location,
            "version": self.version,
            "primary_keys": self.primary_keys,
            "timestamp_key": self.timestamp_key,
            "description": self.description,
        }


class Lakehouse(Protocol):
    """Tables by three-part name. Writes replace a table atomically: a reader sees the old or
    the new version, never a half-written one, and a failed write leaves the old one intact."""

    def write(
        self,
        name: str,
        data: DataFrame | pa.Table,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
        cluster_by: str | None = None,
        commit_info: dict | None = None,
    ) -> TableInfo: ...

    def replace_where(
        self,
        name: str,
        data: DataFrame,
        *,
        column: str,
        since: datetime.date,
        primary_keys: list[str] | None = None,
        description: str = "",
        commit_info: dict | None = None,
    ) -> TableInfo:
        """Replace the rows whose day of ``column`` is ``since`` or later with ``data``, atomically
        (Delta's ``replaceWhere``); ``data`` holds no earlier row. The commit records
        ``changed_since``."""
        ...

    def read(self, name: str) -> DataFrame: ...

    def read_arrow(
        self, name: str, columns: list[str] | None = None, filters: list[tuple[str, str, Any]] | None = None
    ) -> pa.Table:
        """The table (or ``columns`` of it) as Arrow, without Spark; ``filters`` are ``(column,
        op, value)`` conjunctions applied while reading (a day of a large table)."""
        ...

    def exists(self, name: str) -> bool: ...

    def describe(self, name: str) -> TableInfo: ...

    def list_tables(self, catalog: str | None = None, schema: str | None = None) -> list[str]: ...

    def version(self, name: str) -> int: ...

    def changes(self, name: str, after_version: int) -> list[dict]:
        """The commits after ``after_version``, oldest first, as their writers recorded them
        (``changed_since`` for :meth:`replace_where`; ``{}`` for a whole-table write)."""
        ...

    def drop(self, name: str) -> None: ...

    # Loads (health_monitor.lakehouse.loads): a command that replaces many tables wraps its writes
    # in ``with lakehouse.load(command, tables, finish=..., undo=...)``. If the block raises, the
    # tables it replaced are restored; if the process dies, ``unfinished_load`` returns its record
    # until the same command runs again to its end or ``undo_load`` restores every table.

    def load(self, command: str, tables: list[str], *, finish: str, undo: str) -> Any: ...

    def unfinished_load(self) -> Any: ...

    def undo_load(self) -> Any: ...

    def restore(
        self,
        name: str,
        version: int,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
    ) -> TableInfo: ...

    @property
    def spark(self): ...
