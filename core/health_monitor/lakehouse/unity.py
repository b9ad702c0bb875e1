"""The lakehouse on Databricks: Unity Catalog tables through the workspace's Spark session.

Every table is addressed by its three-part name. A whole-table write of an existing table is one
``INSERT OVERWRITE`` (one Delta commit, so readers see the old or the new rows, and the table
keeps its primary-key constraint and properties); a new table is ``writeTo(...).create()``, one
whose columns changed ``writeTo(...).createOrReplace()`` (Delta only). :meth:`replace_where` is Delta's ``replaceWhere``, one commit.
Primary keys, timestamp key and description are table properties; what a writer records
(``commit_info``) is the commit's ``userMetadata``, read back from ``DESCRIBE HISTORY``.

``names`` maps the three-part names to what the Spark session knows: :class:`UnityNames` (the
names as they are) on Databricks; :class:`LocalNames` puts them in one local database, so that
``tests/test_unity_lakehouse.py`` executes this module's statements on local Spark (without
Delta: what only Delta runs, ``createOrReplace``, ``replaceWhere``, ``DESCRIBE HISTORY``,
``RESTORE``, ``VACUUM``, ``MERGE``, is
listed in docs/databricks.md as never executed here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from health_monitor.deadline import checkpoint
from health_monitor.errors import SchemaError, TableNotFoundError
from health_monitor.lakehouse import TableInfo, TableName
from health_monitor.lakehouse.keys import check_primary_key
from health_monitor.lakehouse.loads import JournaledLoads

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

PROPERTY_PREFIX = "health_monitor."
CHANGED_SINCE = "changed_since"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
LOAD_JOURNAL = "load_journal"  # in the ops schema: the unfinished load, if any


def quoted(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


class TableNames(Protocol):
    """How the adapter names tables: Unity Catalog's three parts, or one local database."""

    def __call__(self, name: str) -> str: ...

    def list(self, spark: Any, catalog: str | None, schema: str | None) -> list[str]: ...


class UnityNames:
    """Three-part names as Unity Catalog has them."""

    def __call__(self, name: str) -> str:
        return quoted(str(TableName.parse(name)))

    def list(self, spark, catalog: str | None, schema: str | None) -> list[str]:
        catalogs = [catalog] if catalog else [r[0] for r in spark.sql("SHOW CATALOGS").collect()]
        names = []
        for cat in catalogs:
            schemas = (
                [schema] if schema else [r[0] for r in spark.sql(f"SHOW SCHEMAS IN {quoted(cat)}").collect()]
            )
            for sch in schemas:
                rows = spark.sql(f"SHOW TABLES IN {quoted(cat)}.{quoted(sch)}").collect()
                names += [f"{cat}.{sch}.{r['tableName']}" for r in rows if not r["isTemporary"]]
        return sorted(names)


class LocalNames:
    """``c.s.t`` -> ``<database>.c__s__t``: the statements run on a local Spark session's catalog."""

    def __init__(self, database: str = "default"):
        self.database = database

    def __call__(self, name: str) -> str:
        parsed = TableName.parse(name)
        return quoted(f"{self.database}.{parsed.catalog}__{parsed.schema}__{parsed.table}")

    def list(self, spark, catalog: str | None, schema: str | None) -> list[str]:
        names = []
        for row in spark.sql(f"SHOW TABLES IN {quoted(self.database)}").collect():
            parts = row["tableName"].split("__")
            if len(parts) == 3 and catalog in (None, parts[0]) and schema in (None, parts[1]):
                names.append(".".join(parts))
        return sorted(names)


class UnityLakehouse(JournaledLoads):
    def __init__(
        self,
        spark_provider: Callable[[], Any],
        *,
        names: TableNames | None = None,
        table_format: str = "delta",
        ops_schema: str = "health_monitor.ops",
    ):
        self._spark_provider = spark_provider
        self.names = names or UnityNames()
        self.table_format = table_format
        self.ops_schema = ops_schema  # catalog.schema of the load journal

    @property
    def spark(self):
        return self._spark_provider()

    def _sql(self, statement: str):
        return self.spark.sql(statement)

    # -- names and reads ---------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        return self.spark.catalog.tableExists(self.names(name).replace("`", ""))

    def list_tables(self, catalog: str | None = None, schema: str | None = None) -> list[str]:
        return self.names.list(self.spark, catalog, schema)

    def _require(self, name: str) -> str:
        if not self.exists(name):
            raise TableNotFoundError(name, "run `health-monitor tables` to list the tables that exist")
        return self.names(name)

    def read(self, name: str) -> DataFrame:
        return self.spark.table(self._require(name))

    def read_arrow(
        self, name: str, columns: list[str] | None = None, filters: list[tuple[str, str, Any]] | None = None
    ) -> pa.Table:
        from pyspark.sql import functions as F

        df = self.read(name)
        named = list(columns or []) + [f[0] for f in filters or []]
        unknown = [c for c in dict.fromkeys(named) if c not in df.columns]
        if unknown:
            raise SchemaError(f"table {name} has no column(s) {unknown}; it has {sorted(df.columns)}")
        for column, op, value in filters or []:
            df = df.filter(_condition(F.col(column), op, value))
        if columns is not None:
            df = df.select(*columns)
        return df.toArrow()

    def describe(self, name: str) -> TableInfo:
        table = self._require(name)
        df = self.spark.table(table)
        props = self._properties(table)
        return TableInfo(
            full_name=str(TableName.parse(name)),
            rows=df.count(),
            columns=[(f.name, f.dataType.simpleString()) for f in df.schema.fields],
            location=None,
            version=self._version_or_none(table),
            primary_keys=json.loads(props.get(PROPERTY_PREFIX + "primary_keys", "[]")),
            timestamp_key=props.get(PROPERTY_PREFIX + "timestamp_key") or None,
            description=props.get(PROPERTY_PREFIX + "description", ""),
        )

    def _properties(self, table: str) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._sql(f"SHOW TBLPROPERTIES {table}").collect()}

    def _history(self, table: str, limit: int | None = None) -> list[dict]:
        tail = f" LIMIT {int(limit)}" if limit else ""
        return [r.asDict() for r in self._sql(f"DESCRIBE HISTORY {table}{tail}").collect()]

    def _version_or_none(self, table: str) -> int | None:
        if self.table_format != "delta":
            return None
        return int(self._history(table, 1)[0]["version"])

    def version(self, name: str) -> int:
        version = self._version_or_none(self._require(name))
        if version is None:
            raise SchemaError(f"table {name}: versions need Delta tables (table format {self.table_format})")
        return version

    def changes(self, name: str, after_version: int) -> list[dict]:
        history = self._history(self._require(name))
        newer = sorted((h for h in history if int(h["version"]) > after_version), key=lambda h: h["version"])
        return [_decoded(h.get("userMetadata")) for h in newer]

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        name: str,
        data,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
        cluster_by: str | None = None,
        commit_info: dict | None = None,
    ) -> TableInfo:
        """Replace ``name`` with ``data`` in one commit, keeping the table's constraints when its
        columns are unchanged (``INSERT OVERWRITE``); a new table or new columns:
        ``createOrReplace``, clustered by ``cluster_by``."""
        checkpoint(f"write {name}")
        df = self._frame(data)
        for key in [*(primary_keys or []), *([cluster_by] if cluster_by else [])]:
            if key not in df.columns:
                raise SchemaError(f"table {name}: column {key!r} is not in the data {df.columns}")
        table = self.names(name)
        exists = self.exists(name)
        same = exists and [(f.name, f.dataType) for f in self.spark.table(table).schema.fields] == [
            (f.name, f.dataType) for f in df.schema.fields
        ]
        with self._commit_info(commit_info):
            if same:
                view = _view(df)
                self._sql(f"INSERT OVERWRITE TABLE {table} SELECT * FROM {view}")
            else:
                writer = df.writeTo(table).using(self.table_format)
                if cluster_by and self.table_format == "delta":
                    writer = writer.clusterBy(cluster_by)
                # A new table: CREATE TABLE AS SELECT; new columns: REPLACE TABLE AS SELECT, one
                # Delta commit (the primary-key constraint the feature store set goes with it).
                writer.createOrReplace() if exists else writer.create()
        self._set_properties(table, primary_keys, timestamp_key, description)
        info = self.describe(name)
        return dataclasses.replace(info, written=info.rows)  # the table is the data written

    def replace_where(
        self,
        name: str,
        data: DataFrame,
        *,
        column: str,
        since: dt.date,
        primary_keys: list[str] | None = None,
        description: str = "",
        commit_info: dict | None = None,
    ) -> TableInfo:
        """Delta's ``replaceWhere``: the rows whose day of ``column`` is ``since`` or later are
        replaced by ``data`` in one commit, which records ``changed_since``. The table's primary
        keys (``primary_keys`` or its own) are checked first, in the job that counts the rows."""
        from pyspark.sql import functions as F

        table = self._require(name)
        props = self._properties(table)
        keys = primary_keys or json.loads(props.get(PROPERTY_PREFIX + "primary_keys", "[]"))
        counts = check_primary_key(name, data, keys, F.to_date(F.col(column)), since)
        if counts.early:
            raise SchemaError(
                f"table {name}: replace_where since {since} was given {counts.early} row(s) with {column} "
                f"before {since}"
            )
        checkpoint(f"commit {name}")
        condition = f"to_date(`{column}`) >= DATE'{since.isoformat()}'"
        with self._commit_info({**(commit_info or {}), CHANGED_SINCE: since.isoformat()}):
            (
                data.write.format(self.table_format)
                .mode("overwrite")
                .option("replaceWhere", condition)
                .saveAsTable(table.replace("`", ""))
            )
        self._set_properties(table, keys, props.get(PROPERTY_PREFIX + "timestamp_key") or None, description)
        return dataclasses.replace(self.describe(name), written=counts.rows)

    def drop(self, name: str) -> None:
        self._sql(f"DROP TABLE IF EXISTS {self.names(name)}")

    def restore(
        self,
        name: str,
        version: int,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
    ) -> TableInfo:
        table = self._require(name)
        self._sql(f"RESTORE TABLE {table} TO VERSION AS OF {int(version)}")
        self._set_properties(table, primary_keys, timestamp_key, description)
        return self.describe(name)

    def vacuum(self, name: str, retain_hours: int, dry_run: bool = False) -> tuple[int, int]:
        """``VACUUM``; Databricks reports no byte count, so (files listed, 0)."""
        table = self._require(name)
        files = self._sql(f"VACUUM {table} RETAIN {int(retain_hours)} HOURS DRY RUN").collect()
        if not dry_run and files:
            self._sql(f"VACUUM {table} RETAIN {int(retain_hours)} HOURS")
        return len(files), 0

    def orphans(self, retain_hours: int) -> list:
        return []  # Unity Catalog owns the storage: no table folder without a log

    def _frame(self, data) -> DataFrame:
        import pyarrow as pa

        return self.spark.createDataFrame(data) if isinstance(data, pa.Table) else data

    def _set_properties(self, table: str, primary_keys, timestamp_key, description) -> None:
        props = {
            PROPERTY_PREFIX + "primary_keys": json.dumps(list(primary_keys or [])),
            PROPERTY_PREFIX + "timestamp_key": timestamp_key or "",
            PROPERTY_PREFIX + "description": description or "",
        }
        assignments = ", ".join(f"'{k}' = {_literal(v)}" for k, v in props.items())
        self._sql(f"ALTER TABLE {table} SET TBLPROPERTIES ({assignments})")

    @contextlib.contextmanager
    def _commit_info(self, info: dict | None) -> Iterator[None]:
        """``info`` as the next commit's ``userMetadata`` (what :meth:`changes` reads back)."""
        if not info:
            yield
            return
        conf = self.spark.conf
        conf.set(USER_METADATA, json.dumps(info, default=str))
        try:
            yield
        finally:
            conf.unset(USER_METADATA)

    # -- loads (JournaledLoads) ----------------------------------------------------------------

    def _journal(self) -> TableJournal:
        return TableJournal(self, f"{self.ops_schema}.{LOAD_JOURNAL}")


class TableJournal:
    """The unfinished load as one row of a Delta table (what :class:`LoadJournal` keeps in a file).
    ``create`` is a ``MERGE`` that inserts only when no row exists; Delta's conflict check makes
    two concurrent creates fail one of them."""

    def __init__(self, lakehouse: UnityLakehouse, name: str):
        self.lakehouse = lakehouse
        self.name = name

    def _table(self) -> str:
        table = self.lakehouse.names(self.name)
        self.lakehouse._sql(f"CREATE TABLE IF NOT EXISTS {table} (slot STRING, record STRING)")
        return table

    def read(self):
        from health_monitor.lakehouse.loads import LoadRecord

        rows = self.lakehouse._sql(f"SELECT record FROM {self._table()} WHERE slot = 'load'").collect()
        return LoadRecord.from_json(rows[0]["record"]) if rows else None

    def create(self, record) -> bool:
        self.lakehouse._sql(
            f"MERGE INTO {self._table()} t USING (SELECT 'load' AS slot, {_literal(record.to_json())} AS record) s "
            "ON t.slot = s.slot WHEN NOT MATCHED THEN INSERT *"
        )
        found = self.read()
        return found is not None and found.id == record.id

    def replace(self, record) -> None:
        self.lakehouse._sql(
            f"MERGE INTO {self._table()} t USING (SELECT 'load' AS slot, {_literal(record.to_json())} AS record) s "
            "ON t.slot = s.slot WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )

    def remove(self) -> None:
        self.lakehouse._sql(f"DELETE FROM {self._table()} WHERE slot = 'load'")


_views = iter(range(1 << 62))


def _view(df) -> str:
    name = f"hm_write_{next(_views)}"
    df.createOrReplaceTempView(name)
    return name


def _literal(text: str) -> str:
    """A SQL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _decoded(raw: str | None) -> dict:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def _condition(col, op: str, value):
    ops = {
        "=": lambda: col == value,
        "==": lambda: col == value,
        "!=": lambda: col != value,
        "<": lambda: col < value,
        "<=": lambda: col <= value,
        ">": lambda: col > value,
        ">=": lambda: col >= value,
        "in": lambda: col.isin(list(value)),
        "not in": lambda: ~col.isin(list(value)),
    }
    if op not in ops:
        raise SchemaError(f"filter operator {op!r} is not one of {sorted(ops)}")
    return ops[op]()
