"""The embedded lakehouse: Delta tables on local disk, written by Spark or Arrow, read by both.

``catalog.schema.table`` lives at ``<root>/<catalog>/<schema>/<table>``. Each is a real Delta
table (delta-rs keeps the log): Spark writes a new version's Parquet files in parallel into a
fresh sub-folder, then one Delta commit swaps them in. Until that commit readers see the old
version; a crash before it leaves only unreferenced files behind. No metastore is involved, so
several processes (a pipeline job, a serving process, a CLI call) can use the same tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.schema import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from health_monitor.deadline import checkpoint
from health_monitor.errors import SchemaError, TableNotFoundError, WriteCountError
from health_monitor.lakehouse import TableInfo, TableName
from health_monitor.lakehouse.keys import check_primary_key
from health_monitor.lakehouse.layout import Span, by_day
from health_monitor.lakehouse.loads import JournaledLoads
from health_monitor.lakehouse.spark import ENV_MASTER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_META = "_health_monitor.json"  # primary keys and description, alongside the Delta log


class LocalLakehouse(JournaledLoads):
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

    @overload
    def _delta(
        self, name: str, missing_ok: Literal[False] = False, version: int | None = None
    ) -> DeltaTable: ...
    @overload
    def _delta(self, name: str, missing_ok: bool, version: int | None = None) -> DeltaTable | None: ...
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
        cluster_by: str | None = None,
        commit_info: dict | None = None,
    ) -> TableInfo:
        """Replace table ``name`` with ``data`` (a Spark DataFrame or a pyarrow Table) atomically.

        ``cluster_by`` names a date or timestamp column: the files then hold contiguous days, so
        that :meth:`replace_where` on the latest days rewrites only the files that hold them.
        ``commit_info`` (JSON-able) is kept in the commit itself: :meth:`commit_info` reads it."""
        checkpoint(f"write {name}")
        path = self.path(name)
        columns = _column_names(data)
        named = [("primary key", k) for k in primary_keys or []] + (
            [("cluster_by", cluster_by)] if cluster_by else []
        )
        for role, key in named:
            if key not in columns:
                raise SchemaError(f"table {name}: {role} column {key!r} is not in the data {columns}")
        path.mkdir(parents=True, exist_ok=True)
        if isinstance(data, pa.Table):
            self._write_arrow(name, path, data, commit_info)
        else:
            self._write_spark(name, path, data, cluster_by, commit_info)
        self._write_meta(path, primary_keys, timestamp_key, description)
        info = self.describe(name)
        return dataclasses.replace(info, written=info.rows)  # the table is the data written

    def _write_meta(self, path: Path, primary_keys, timestamp_key, description) -> None:
        meta = {
            "primary_keys": list(primary_keys or []),
            "timestamp_key": timestamp_key,
            "description": description,
        }
        tmp = path / f".{_META}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path / _META)

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
        """Replace the rows of ``name`` whose day of ``column`` is ``since`` or later with ``data``,
        in one Delta commit (Delta's ``replaceWhere``; a reader sees the old or the new version).

        Only the files that hold such days are touched: a file entirely before ``since`` is kept
        as it is, a file entirely on or after it is removed, and a file across the boundary is
        rewritten with its earlier rows. ``data`` must have the table's schema, no row before
        ``since`` and, when the table has primary keys (``primary_keys`` or its own), no null or
        repeated key (:class:`PrimaryKeyError`). The files written are counted before the commit:
        a mismatch raises and commits nothing. The commit records ``changed_since`` (and
        ``commit_info``): :meth:`changes`. ``TableInfo.written`` is the rows of ``data``."""
        from pyspark.sql import functions as F

        existing = self._delta(name)
        schema = pa.schema(existing.schema().to_arrow())
        incoming = DeltaSchema.from_arrow(_delta_compatible_schema(_spark_schema_to_arrow(data)))
        if [(f.name, f.type) for f in incoming.fields] != [
            (f.name, f.type) for f in existing.schema().fields
        ]:
            raise SchemaError(
                f"table {name}: replace_where needs the table's schema {schema.names}; "
                f"the data has {[f.name for f in incoming.fields]} (rewrite the whole table instead)"
            )
        day = F.to_date(F.col(column))
        path = self.path(name)
        meta = self._meta(path)
        keys = primary_keys or meta.get("primary_keys") or []
        data = data.persist()
        try:
            # One job: the keys, the rows, those before `since` (refused), the days the files span.
            counts = check_primary_key(name, data, keys, day, since)
            if counts.early:
                raise SchemaError(
                    f"table {name}: replace_where since {since} was given {counts.early} row(s) "
                    f"with {column} before {since}"
                )
            span = Span(counts.rows, counts.first, counts.last)
            kept, removed, straddling = [], [], []
            for action in pa.table(existing.get_add_actions(flatten=True)).to_pylist():
                first, last = _day_range(path / action["path"], column)
                if last is not None and last < since:
                    kept.append(action)
                elif first is not None and first >= since:
                    removed.append(action)
                else:  # across the boundary, or no statistics: rewrite its earlier rows
                    straddling.append(action)
            frame = data
            if straddling:
                files = [path / a["path"] for a in straddling]
                earlier = (
                    self.spark.read.schema(data.schema)
                    .parquet(*[_spark_path(str(f)) for f in files])
                    .filter(day < F.lit(since))
                )
                # Their rows before `since` counted here, from the day column alone (no Spark job).
                kept_span = _span_before(files, column, since)
                if kept_span is None:  # a day column Arrow cannot turn into days: Spark counts
                    kept_span = Span.of(earlier, day)
                span = span.union(kept_span)
                frame = earlier.unionByName(data)
            expected = span.rows
            version_dir, adds = self._spark_files(name, path, frame, column, span, at_hand=True)
        finally:
            data.unpersist()
        written = sum(json.loads(a.stats)["numRecords"] for a in adds)
        if written != expected:
            _delete(self.spark, str(path / version_dir))
            raise WriteCountError(
                f"table {name}: {expected} row(s) to write but {written} written; nothing committed"
            )
        now = int(time.time() * 1000)
        removes = [
            RemoveAction(path=a["path"], data_change=True, deletion_timestamp=now, size=a["size_bytes"])
            for a in [*removed, *straddling]
        ]
        checkpoint(f"commit {name}")
        info = {**(commit_info or {}), CHANGED_SINCE: since.isoformat()}
        if removes or adds:
            existing.create_write_transaction(
                [*removes, *adds], mode="append", schema=schema, commit_properties=_commit(info)
            )
        self._write_meta(path, keys, meta.get("timestamp_key"), description)
        return dataclasses.replace(self.describe(name), written=counts.rows)

    def _write_arrow(self, name: str, path: Path, table: pa.Table, commit_info: dict | None = None) -> None:
        table = _delta_compatible(table)
        checkpoint(f"commit {name}")
        write_deltalake(
            str(path),
            table,
            mode="overwrite",
            schema_mode="overwrite",
            commit_properties=_commit(commit_info),
        )

    def _write_spark(
        self,
        name: str,
        path: Path,
        df: DataFrame,
        cluster_by: str | None = None,
        commit_info: dict | None = None,
    ) -> None:
        version_dir, adds = self._spark_files(name, path, df, cluster_by)
        first = path / adds[0].path if adds else None
        schema = _delta_compatible_schema(pq.read_schema(first) if first else _spark_schema_to_arrow(df))
        existing = self._delta(name, missing_ok=True)
        checkpoint(f"commit {name}")  # a stopped item's files stay uncommitted, so invisible
        if existing is None:
            create_table_with_add_actions(
                str(path),
                DeltaSchema.from_arrow(schema),
                adds,
                mode="overwrite",
                commit_properties=_commit(commit_info),
            )
        else:
            existing.create_write_transaction(
                list[AddAction | RemoveAction](adds),
                mode="overwrite",
                schema=schema,
                commit_properties=_commit(commit_info),
            )
            # Schema changes are allowed on overwrite: the new version's schema is authoritative.

    def _spark_files(
        self,
        name: str,
        path: Path,
        df: DataFrame,
        cluster_by: str | None,
        span: Span | None = None,
        at_hand: bool = False,
    ) -> tuple[str, list[AddAction]]:
        """Write ``df`` as Parquet files in a fresh sub-folder; nothing is visible until a commit
        adds them. Clustered by day, each file holds whole, contiguous days.

        The executors write the files, the driver commits them: it lists them through Spark's own
        filesystem and reads their row counts from their footers, and raises
        :class:`WriteCountError` (committing nothing) unless they hold exactly the rows the
        executors wrote. On a cluster whose executors do not share the driver's disk, the driver
        would otherwise commit the few files (or none) that happen to be on its own disk."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        version_dir = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        target = path / version_dir
        if cluster_by:
            df = by_day(df, cluster_by, span, at_hand)
        # The rows the executors write, counted by them during the write itself (no second pass
        # over the frame). Observed last, so the range sampling above does not count.
        observation = Observation(f"rows-{uuid.uuid4().hex}")
        df = df.observe(observation, F.count(F.lit(1)).alias("rows"))
        # Spark writes in parallel from the executors; nothing is visible until the commit.
        df.write.mode("errorifexists").parquet(str(target))
        written = int(observation.get["rows"])
        adds = [
            AddAction(
                path=f"{version_dir}/{f.name}",
                size=f.size,
                partition_values={},
                modification_time=f.modified_ms,
                data_change=True,
                stats=json.dumps({"numRecords": f.rows}),
            )
            for f in _listed_parquet(self.spark, str(target))
        ]
        seen = sum(json.loads(a.stats)["numRecords"] for a in adds)
        if seen != written:
            _delete(self.spark, str(target))
            raise WriteCountError(
                f"table {name}: Spark's executors wrote {written} row(s) but the driver sees {seen} in "
                f"{len(adds)} file(s) under {target}; nothing committed, the table's previous version "
                "stays current. The executors' files are not where the driver looks: the embedded "
                "lakehouse needs the home on storage that the driver and every executor see at the same "
                f"path (a local master, or a cluster on shared storage; the master is {ENV_MASTER})"
            )
        return version_dir, adds

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
        return self.spark.read.schema(spark_schema).parquet(*[_spark_path(_local_path(u)) for u in uris])

    def read_arrow(
        self,
        name: str,
        columns: list[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
        version: int | None = None,
    ) -> pa.Table:
        """The table as Arrow, without Spark (milliseconds for small tables). ``filters`` are
        ``(column, op, value)`` conjunctions (``=``, ``<``, ``>=``, ``in``...), applied while the
        files are read, so a day of a large table is read without the rest of it."""
        dt = self._delta(name, version=version)
        named = list(columns or []) + [f[0] for f in filters or []]
        if named:
            known = {f.name for f in dt.schema().fields}
            unknown = [c for c in dict.fromkeys(named) if c not in known]
            if unknown:
                raise SchemaError(f"table {name} has no column(s) {unknown}; it has {sorted(known)}")
        return dt.to_pyarrow_table(columns=columns, filters=filters or None)

    def file_uris(self, name: str) -> list[str]:
        """The current version's data files, as local paths."""
        return [_local_path(u) for u in self._delta(name).file_uris()]

    def version(self, name: str) -> int:
        return self._delta(name).version()

    def commit_info(self, name: str) -> dict:
        """What the writer of the current version recorded (``commit_info``), or ``{}``."""
        history = self._delta(name).history(limit=1)
        return _decoded(history[0]) if history else {}

    def changes(self, name: str, after_version: int) -> list[dict]:
        """The commits after ``after_version``, oldest first, each as what its writer recorded:
        a :meth:`replace_where` commit holds ``changed_since``; a whole-table write does not."""
        table = self._delta(name)
        newer = table.version() - after_version
        if newer <= 0:
            return []
        history = table.history(limit=newer)
        return [
            _decoded(h) for h in sorted(history, key=lambda h: h["version"]) if h["version"] > after_version
        ]

    def describe(self, name: str) -> TableInfo:
        dt = self._delta(name)
        rows = 0
        actions = pa.table(dt.get_add_actions(flatten=True))
        if "num_records" in actions.column_names:
            rows = int(pa.compute.sum(actions.column("num_records")).as_py() or 0)
        schema = dt.schema().to_arrow()
        meta = self._meta(self.path(name))
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

    # -- housekeeping ------------------------------------------------------------------------

    def vacuum(self, name: str, retain_hours: int, dry_run: bool = False) -> tuple[int, int]:
        """Delete the files of ``name`` that its current version does not reference and that were
        removed (or, never committed, written) more than ``retain_hours`` ago: replaced versions
        and killed writes. Returns (files, bytes) deleted (or, with ``dry_run``, deletable)."""
        path = self.path(name)
        table = self._delta(name)
        files = table.vacuum(
            retention_hours=retain_hours, dry_run=True, enforce_retention_duration=False, full=True
        )
        size = sum((path / f).stat().st_size for f in files if (path / f).exists())
        if not dry_run and files:
            table.vacuum(
                retention_hours=retain_hours, dry_run=False, enforce_retention_duration=False, full=True
            )
            for folder in sorted(path.glob("v-*"), reverse=True):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        return len(files), size

    def orphans(self, retain_hours: int) -> list[Path]:
        """Table folders with no Delta log (the first write of a table, killed before its commit)
        untouched for ``retain_hours``: nothing can read them."""
        cutoff = time.time() - retain_hours * 3600
        found = []
        for folder in sorted(self.root.glob("*/*/*")):
            if not folder.is_dir() or (folder / "_delta_log").exists():
                continue
            newest = max((f.stat().st_mtime for f in folder.rglob("*")), default=folder.stat().st_mtime)
            if newest < cutoff:
                found.append(folder)
        return found

    @staticmethod
    def _meta(path: Path) -> dict:
        meta_path = path / _META
        return json.loads(meta_path.read_text()) if meta_path.exists() else {}

    def drop(self, name: str) -> None:
        shutil.rmtree(self.path(name), ignore_errors=True)

    # -- loads: many tables as one unit (JournaledLoads, see lakehouse/loads.py) --------------

    def restore(
        self,
        name: str,
        version: int,
        *,
        primary_keys: list[str] | None = None,
        timestamp_key: str | None = None,
        description: str = "",
    ) -> TableInfo:
        """Make ``version`` of ``name`` its current version again (a new Delta commit, as RESTORE)."""
        self._delta(name).restore(version)
        meta = {
            "primary_keys": list(primary_keys or []),
            "timestamp_key": timestamp_key,
            "description": description,
        }
        tmp = self.path(name) / f".{_META}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.path(name) / _META)
        return self.describe(name)

    def _journal(self):
        from health_monitor.lakehouse.loads import LoadJournal

        return LoadJournal(self.root / "_loads")


CHANGED_SINCE = "changed_since"
_COMMIT_KEY = "health_monitor"  # the key of the commit's custom metadata that holds commit_info


def _commit(info: dict | None) -> CommitProperties | None:
    return CommitProperties(custom_metadata={_COMMIT_KEY: json.dumps(info, default=str)}) if info else None


def _decoded(entry: dict) -> dict:
    raw = entry.get(_COMMIT_KEY)
    return json.loads(raw) if isinstance(raw, str) else {}


def _sql_type(t: pa.DataType) -> str:
    """A column type as Databricks SQL writes it (``decimal(38,18)``, ``map<string,string>``)."""
    from health_monitor.system.reference import TypeParseError, type_text

    try:
        return type_text(t)
    except TypeParseError:
        return str(t)


@dataclass(frozen=True)
class _Listed:
    name: str
    size: int
    modified_ms: int
    rows: int


def _listed_parquet(spark, folder: str) -> list[_Listed]:
    """The Parquet files Spark wrote into ``folder``, listed through Spark's filesystem (Hadoop's,
    as the driver sees it: the path is qualified as Spark qualified it for the write), each with
    the row count of its footer, read through the same filesystem. Hidden files (``_SUCCESS``,
    ``.crc``) are not data."""
    jvm, conf = spark._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    directory = jvm.org.apache.hadoop.fs.Path(folder)
    fs = directory.getFileSystem(conf)
    if not fs.exists(directory):
        return []
    listed = []
    for status in fs.listStatus(directory):
        file_name = status.getPath().getName()
        if not status.isFile() or file_name.startswith(("_", ".")) or not file_name.endswith(".parquet"):
            continue
        footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(
            jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromStatus(status, conf)
        )
        try:
            rows = int(footer.getRecordCount())
        finally:
            footer.close()
        listed.append(_Listed(file_name, int(status.getLen()), int(status.getModificationTime()), rows))
    return sorted(listed, key=lambda f: f.name)


def _delete(spark, folder: str) -> None:
    """Remove ``folder`` (an uncommitted version's files) through Spark's filesystem."""
    directory = spark._jvm.org.apache.hadoop.fs.Path(folder)
    directory.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(directory, True)


def _local_path(uri: str) -> str:
    """delta-rs gives data files percent-encoded (``/a%20b/x.parquet``): the path on disk."""
    return unquote(uri.removeprefix("file://"))


def _spark_path(path: str) -> str:
    """A local path as Spark's reader takes it: glob characters escaped (``[`` in a home's name
    would otherwise be a pattern), spaces and non-ASCII as they are."""
    return re.sub(r"([\\\[\]{}*?])", r"\\\1", path)


def _day_range(file: Path, column: str) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of ``column`` in a Parquet file, from its footer's statistics
    (None when a row group has no statistics for it)."""
    meta = pq.ParquetFile(file).metadata
    if meta.num_rows == 0 or meta.num_row_groups == 0:
        return None, None
    first = meta.row_group(0)
    leaves = [first.column(i).path_in_schema for i in range(first.num_columns)]
    if column not in leaves:
        return None, None
    index = leaves.index(column)
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if group.num_rows == 0:
            continue
        stats = group.column(index).statistics
        if stats is None or not stats.has_min_max:
            return None, None
        lows.append(_as_day(stats.min))
        highs.append(_as_day(stats.max))
    return (min(lows), max(highs)) if lows else (None, None)


_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _span_before(files: list[Path], column: str, since: dt.date) -> Span | None:
    """The rows of ``files`` whose (UTC) day of ``column`` is before ``since``, and the days
    they cover, as Spark's ``to_date(column) < since`` selects them (a null day is not before);
    None when ``column`` is neither a date nor a timestamp."""
    epoch = dt.date(1970, 1, 1)
    days: list[np.ndarray] = []
    for file in files:
        values = pq.read_table(file, columns=[column]).column(column).combine_chunks()
        kind, valid = values.type, values.is_valid().to_numpy(zero_copy_only=False)
        if pa.types.is_date32(kind):
            numbers = values.view(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
        elif pa.types.is_timestamp(kind):  # UTC ticks (a naive timestamp is taken as UTC)
            ticks = values.view(pa.int64()).fill_null(0).to_numpy()
            numbers = np.floor_divide(ticks, _TICKS_PER_DAY[kind.unit])
        else:
            return None
        days.append(numbers[valid])
    found = np.concatenate(days) if days else np.empty(0, dtype=np.int64)
    before = found[found < (since - epoch).days]  # nulls are left out, as by Spark's filter
    if not len(before):
        return Span(0, None, None)
    first, last = (epoch + dt.timedelta(days=int(n)) for n in (before.min(), before.max()))
    return Span(len(before), first, last)


def _as_day(value) -> dt.date:
    # Days are UTC days, as Spark's to_date sees them under the session's UTC time zone.
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).date()
    return value


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

    return to_arrow_schema(df.schema, timezone="UTC")
