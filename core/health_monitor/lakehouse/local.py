"""The embedded lakehouse: Delta tables on local disk, written by Spark or Arrow, read by both.

``catalog.schema.table`` lives at ``<root>/<catalog>/<schema>/<table>``. Each is a real Delta
table (delta-rs keeps the log): Spark writes a new version's Parquet files in parallel into a
fresh sub-folder, then one Delta commit swaps them in. Until that commit readers see the old
version; a crash before it leaves only unreferenced files behind. No metastore is involved, so
several processes (a pipeline job, a serving process, a CLI call) can use the same tables.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.schema import Schema as DeltaSchema
from deltalake.transaction import AddAction, create_table_with_add_actions

from health_monitor.deadline import checkpoint
from health_monitor.errors import SchemaError, TableNotFoundError
from health_monitor.lakehouse import TableInfo, TableName

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_META = "_health_monitor.json"  # primary keys and description, alongside the Delta log


class LocalLakehouse:
    def __init__(self, root: str | os.PathLike, spark_provider=None):
        self.root = Path(root)
        self._spark_provider = spark_provider

    @property
    def spark(self):
        if self._spark_provider is None:
            from health_monitor.lakehouse.spark import get_spark

            self._spark_provider = get_spark
        return self._spark_provider()

    # -- names -------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        parsed = TableName.parse(name)
        return self.root / parsed.catalog / parsed.schema / parsed.table

    def exists(self, name: str) -> bool:
        return (self.path(name) / "_delta_log").is_dir() and self._delta(name, missing_ok=True) is not None

    def list_tables(self, catalog: str | None = None, schema: str | None = None) -> list[str]:
        names = []
        for log_dir in sorted(self.root.glob("*/*/*/_delta_log")):
            table_dir = log_dir.parent
            cat, sch, tab = table_dir.parent.parent.name, table_dir.parent.name, table_dir.name
            if (catalog is None or cat == catalog) and (schema is None or sch == schema):
                names.append(f"{cat}.{sch}.{tab}")
        return names

    def _delta(self, name: str, missing_ok: bool = False, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(str(self.path(name)), version=version)
        except DeltaTableNotFound:
            if missing_ok:
                return None
            raise TableNotFoundError(
                name, "run `health-monitor tables` to list the tables that exist"
            ) from None

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        name: str,
        data,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
    ) -> TableInfo:
        """Replace table ``name`` with ``data`` (a Spark DataFrame or a pyarrow Table) atomically."""
        checkpoint(f"write {name}")
        path = self.path(name)
        columns = _column_names(data)
        for key in primary_keys or []:
            if key not in columns:
                raise SchemaError(f"table {name}: primary key column {key!r} is not in the data {columns}")
        path.mkdir(parents=True, exist_ok=True)
        if isinstance(data, pa.Table):
            self._write_arrow(name, path, data)
        else:
            self._write_spark(name, path, data)
        meta = {
            "primary_keys": list(primary_keys or []),
            "timestamp_key": timestamp_key,
            "description": description,
        }
        tmp = path / f".{_META}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path / _META)
        return self.describe(name)

    def _write_arrow(self, name: str, path: Path, table: pa.Table) -> None:
        table = _delta_compatible(table)
        checkpoint(f"commit {name}")
        write_deltalake(str(path), table, mode="overwrite", schema_mode="overwrite")

    def _write_spark(self, name: str, path: Path, df: DataFrame) -> None:
        version_dir = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        target = path / version_dir
        # Spark writes in parallel from the executors; nothing is visible until the commit below.
        df.write.mode("errorifexists").parquet(str(target))
        files = sorted(target.glob("*.parquet"))
        schema = _delta_compatible_schema(pq.read_schema(files[0]) if files else _spark_schema_to_arrow(df))
        adds = []
        for f in files:
            meta = pq.read_metadata(f)
            stat = f.stat()
            adds.append(
                AddAction(
                    path=f"{version_dir}/{f.name}",
                    size=stat.st_size,
                    partition_values={},
                    modification_time=int(stat.st_mtime * 1000),
                    data_change=True,
                    stats=json.dumps({"numRecords": meta.num_rows}),
                )
            )
        existing = self._delta(name, missing_ok=True)
        checkpoint(f"commit {name}")  # a stopped item's files stay uncommitted, so invisible
        if existing is None:
            create_table_with_add_actions(str(path), DeltaSchema.from_arrow(schema), adds, mode="overwrite")
        else:
            existing.create_write_transaction(adds, mode="overwrite", schema=schema)
            # Schema changes are allowed on overwrite: the new version's schema is authoritative.

    # -- reads -------------------------------------------------------------------------------

    def read(self, name: str, version: int | None = None) -> DataFrame:
        """The current (or a past) version as a Spark DataFrame; Spark reads the snapshot's files."""
        dt = self._delta(name, version=version)
        uris = dt.file_uris()
        from pyspark.sql.pandas.types import from_arrow_schema

        # The Delta log knows the schema: passing it spares Spark a schema-inference job per read.
        spark_schema = from_arrow_schema(pa.schema(dt.schema().to_arrow()))
        if not uris:
            # From the Spark schema, not an empty Arrow table: pyspark cannot build a frame from an
            # empty Arrow table with a map or struct column (ArrowInvalid).
            return self.spark.createDataFrame([], schema=spark_schema)
        return self.spark.read.schema(spark_schema).parquet(*uris)

    def read_arrow(self, name: str, columns: list[str] | None = None, version: int | None = None) -> pa.Table:
        """The table as Arrow, without Spark (milliseconds for small tables)."""
        dt = self._delta(name, version=version)
        if columns is not None:
            known = {f.name for f in dt.schema().fields}
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise SchemaError(f"table {name} has no column(s) {unknown}; it has {sorted(known)}")
        return dt.to_pyarrow_table(columns=columns)

    def file_uris(self, name: str) -> list[str]:
        return self._delta(name).file_uris()

    def version(self, name: str) -> int:
        return self._delta(name).version()

    def describe(self, name: str) -> TableInfo:
        dt = self._delta(name)
        rows = 0
        actions = pa.table(dt.get_add_actions(flatten=True))
        if "num_records" in actions.column_names:
            rows = int(pa.compute.sum(actions.column("num_records")).as_py() or 0)
        schema = dt.schema().to_arrow()
        meta_path = self.path(name) / _META
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return TableInfo(
            full_name=str(TableName.parse(name)),
            rows=rows,
            columns=[(f.name, _sql_type(f.type)) for f in pa.schema(schema)],
            location=str(self.path(name)),
            version=dt.version(),
            primary_keys=meta.get("primary_keys", []),
            timestamp_key=meta.get("timestamp_key"),
            description=meta.get("description", ""),
        )

    def drop(self, name: str) -> None:
        shutil.rmtree(self.path(name), ignore_errors=True)


def _sql_type(t: pa.DataType) -> str:
    """A column type as Databricks SQL writes it (``decimal(38,18)``, ``map<string,string>``)."""
    from health_monitor.system.reference import TypeParseError, type_text

    try:
        return type_text(t)
    except TypeParseError:
        return str(t)


def _column_names(data) -> list[str]:
    if isinstance(data, pa.Table):
        return data.column_names
    return list(data.columns)


def _delta_compatible_schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us", tz="UTC")
        elif pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


def _delta_compatible(table: pa.Table) -> pa.Table:
    target = _delta_compatible_schema(table.schema)
    # Sub-microsecond digits are dropped: Delta stores microseconds.
    return table if target == table.schema else table.cast(target, safe=False)


def _spark_schema_to_arrow(df) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema)
