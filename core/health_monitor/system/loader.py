"""Read a user's export of the Databricks system tables and hold it to the reference schemas.

An export is a directory with one entry per table, named after it (``billing.usage`` or
``system.billing.usage``), as a ``SELECT *`` export writes it:

* a file ``<name>.parquet``, ``<name>.csv`` or ``<name>.json`` / ``.jsonl`` / ``.ndjson`` (JSON
  lines); CSV and JSON may be gzip-compressed (``<name>.csv.gz``);
* a folder ``<name>/`` (also ``<name>.parquet/`` etc.) of part files as Spark writes them: Parquet,
  CSV or JSON lines, in ``key=value`` partition folders or not; ``_SUCCESS``, ``_committed_*``,
  ``_started_*`` and ``.crc`` files are skipped, and a Delta table folder reads its current version.

Struct, map and array columns are structs, maps and lists in Parquet, nested JSON in JSON lines
and JSON text in CSV. Timestamps may carry an offset or not (then UTC); decimals may be text or
numbers. CSV may quote the RFC 4180 way (``""``) or Spark's (``\\"``); either is detected.

Every table is read and checked before :func:`read_system_export` returns, so a caller that
writes what it gets writes nothing when anything is wrong. Errors are :class:`SystemExportError`,
one line naming the file, the table and the column (and the line or row, and the first bad value):

* a column of the reference is missing, unless Databricks added it after 2025
  (``SystemColumn.newer``: an older export lacks it; it loads as NULL with a warning). JSON lines
  are the exception: JSON writers omit NULL fields, so a column absent from every row is NULL;
* a value does not have the reference type (text that is not a timestamp, a struct where a
  string is expected; the error names the first bad value);
* a file that is empty (0 bytes), not UTF-8, not what its name says, or a broken CSV row (a
  stray quote, a wrong number of fields: named by line number);
* two files for one table, or a table file in a format this reader does not know.

What loads with a warning (listed in :attr:`SystemExport.warnings`): extra columns (kept after
the reference columns), extra struct fields (dropped), missing newer columns and missing struct
fields (NULL: structs only ever gain fields, so a struct without one is an older export), enum
values never seen (:data:`KNOWN_VALUES`), files that are not system tables (ignored). A table
the export lacks is allowed: it is listed in :attr:`SystemExport.missing`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from health_monitor.errors import HealthMonitorError
from health_monitor.system.reference import SYSTEM_CATALOG, parse_type, system_tables, type_text

Progress = Callable[[str], None]


class SystemExportError(HealthMonitorError, ValueError):
    """An export cannot be loaded as it is. The message is one line naming the file, the table
    and the column (with the line or row and the first bad value where there is one)."""


class SystemExportWarning(UserWarning):
    """Something loaded, but not quite as the reference has it (see :attr:`SystemExport.warnings`)."""


@dataclass(frozen=True)
class SystemExport:
    """What :func:`read_system_export` found, checked and conformed.

    ``tables`` maps ``schema.table`` (``billing.usage``) to an Arrow table whose first columns are
    exactly the reference schema (names, order, types), followed by any extra columns the export
    has. ``missing`` lists the reference tables the export has no file for; ``sources`` names the
    file or folder each table came from.
    """

    tables: dict[str, pa.Table]
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The enum values the Gold build relies on (../shared/reference/system-tables.md); a value outside
# these loads, with a warning naming it, so that a new kind of record is seen rather than dropped.
_RESULT_STATES = _words("SUCCEEDED FAILED SKIPPED CANCELLED TIMED_OUT ERROR BLOCKED")
_PRODUCTS = _words(
    """JOBS DLT SQL ALL_PURPOSE MODEL_SERVING INTERACTIVE DEFAULT_STORAGE VECTOR_SEARCH
    LAKEHOUSE_MONITORING PREDICTIVE_OPTIMIZATION ONLINE_TABLES FOUNDATION_MODEL_TRAINING
    AGENT_EVALUATION FINE_GRAINED_ACCESS_CONTROL BASE_ENVIRONMENTS DATA_CLASSIFICATION
    DATA_QUALITY_MONITORING DATA_SHARING AI_GATEWAY AI_RUNTIME NETWORKING APPS DATABASE
    AI_FUNCTIONS AGENT_BRICKS CLEAN_ROOM LAKEFLOW_CONNECT EXTERNAL_COMPATIBILITY LAKEBASE
    SUPERVISOR_AGENT"""
)
_USAGE_TYPES = _words(  # the last two: the spelling of the table's own comment
    """COMPUTE_TIME STORAGE_SPACE NETWORK_BYTE NETWORK_HOUR API_OPERATION TOKEN GPU_TIME ANSWER
    NETWORK_BYTES API_CALLS"""
)
_STATEMENT_TYPES = _words(
    """SELECT INSERT MERGE UPDATE DELETE CREATE DROP ALTER COPY SHOW DESCRIBE USE SET REFRESH
    OPTIMIZE GRANT EXPLAIN OTHER"""
)
KNOWN_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("billing.usage", "record_type"): _words("ORIGINAL RETRACTION RESTATEMENT"),
    ("billing.usage", "usage_unit"): _words("DBU DSU GB"),
    ("billing.usage", "billing_origin_product"): _PRODUCTS,
    ("billing.usage", "usage_type"): _USAGE_TYPES,
    ("lakeflow.job_run_timeline", "result_state"): _RESULT_STATES,
    ("lakeflow.job_task_run_timeline", "result_state"): _RESULT_STATES,
    ("lakeflow.job_run_timeline", "trigger_type"): _words(
        "CRON CONTINUOUS FILE_ARRIVAL ONETIME ONETIME_RETRY"
    ),
    ("compute.warehouse_events", "event_type"): _words(
        "STARTING RUNNING SCALED_UP SCALED_DOWN STOPPING STOPPED"
    ),
    ("query.history", "execution_status"): _words("FINISHED FAILED CANCELED"),
    ("query.history", "statement_type"): _STATEMENT_TYPES,
    ("access.audit", "audit_level"): _words("WORKSPACE_LEVEL ACCOUNT_LEVEL"),
}

_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_OTHER_CODECS = (".snappy", ".bz2", ".deflate", ".lz4", ".zst", ".zstd", ".xz", ".zip", ".br")
_SPARK_SIDE_FILE = re.compile(r"^(_SUCCESS|_committed_.*|_started_.*|_common_metadata|_metadata|.*\.crc)$")
_CHUNK = 16 << 20  # bytes per block when pyarrow parses text files
_SCAN_BLOCK = 16 << 20  # bytes per block of the scan before parsing
_HEAD = 1 << 20  # bytes read to find a CSV file's header and quoting
_BATCH_ROWS = 1 << 16  # Parquet rows per batch
_BAD_COLUMN_NAME = re.compile(r"^$|[ ,;{}()\n\t=]")  # Delta refuses these in column names


# ---------------------------------------------------------------------------------- entry points


def read_system_export(source_dir: str | Path, progress: Progress | None = None) -> SystemExport:
    """Read, check and conform every system table in ``source_dir``; raise before returning anything.

    Raises :class:`SystemExportError` (one line naming file, table and column) on the first
    problem. ``progress`` is called with a short description before each table is read.
    """
    root = Path(source_dir)
    if not root.is_dir():
        raise SystemExportError(f"system-table export {str(root)!r}: no such directory")
    notes = _Notes()
    sources = _discover(root, notes)
    tables: dict[str, pa.Table] = {}
    for name in sorted(sources):
        if progress:
            progress(f"read {SYSTEM_CATALOG}.{name}")
        try:
            table = _read_source(sources[name], notes)
        except pa.ArrowException as exc:  # what no check above foresaw: still one line, naming the file
            raise SystemExportError(
                f"{sources[name].label}: cannot read table {name} ({_first_line(exc)})"
            ) from None
        _check_enums(name, table, notes)
        tables[name] = table
    missing = sorted(set(system_tables()) - set(sources))
    return SystemExport(tables, notes.render(), missing, {n: s.label for n, s in sorted(sources.items())})


def load_system_tables_into(
    runtime, source_dir: str | Path, progress: Progress | None = None, policies: dict[str, str] | None = None
) -> dict[str, int]:
    """Load an export into the home's system catalog (``runtime.settings.system(name)``).

    Every table is read and checked before any is written; on any error nothing is written.
    Warnings (extra columns, new enum values, missing newer columns, ignored files, tables the
    export lacks, tables of the home that the export does not replace) are issued as
    :class:`SystemExportWarning`. Returns the rows written per full table name.
    """
    from health_monitor.system import sanity

    export = read_system_export(source_dir, progress)
    for message in export.warnings:
        warnings.warn(message, SystemExportWarning, stacklevel=2)
    settings = runtime.settings
    # Value rules: absurd rows are left out (or the load refused) before anything is written.
    screened = sanity.screen(export.tables, settings.system, policies=policies)
    sanity.warn_counts(screened)
    from health_monitor.gold.build import gold_steps

    needs: dict[str, list[str]] = {}
    for step in gold_steps().values():
        for source in step.sources:
            needs.setdefault(source, []).append(step.table)
    missing = [name for name in export.missing if name in needs]
    if missing:
        skipped = sorted({gold for name in missing for gold in needs[name]})
        warnings.warn(
            f"tables not in the export: {', '.join(missing)}; the Gold tables built from them "
            f"({', '.join(skipped)}) and the models that read those will be skipped",
            SystemExportWarning,
            stacklevel=2,
        )
    loaded = {settings.system(name) for name in export.tables}
    stale = [t for t in runtime.lakehouse.list_tables(settings.source_catalog) if t not in loaded]
    if stale:
        warnings.warn(
            f"the home keeps system tables this export does not replace: {', '.join(sorted(stale))}",
            SystemExportWarning,
            stacklevel=2,
        )
    from health_monitor.gold.build.runner import STATE_TABLE, reset_state

    rows: dict[str, int] = {}
    names = [settings.system(name) for name in screened.tables] + [settings.ops(STATE_TABLE)]
    names += sanity.quarantine_tables(runtime, screened)
    with runtime.load("load-system-tables", names, str(Path(source_dir).resolve())):
        for name, table in screened.tables.items():
            full_name = settings.system(name)
            if progress:
                progress(f"write {full_name}")
            info = runtime.lakehouse.write(
                full_name, table, description=f"{SYSTEM_CATALOG}.{name} loaded from {export.sources[name]}"
            )
            rows[info.full_name] = info.rows
        sanity.write_quarantine(runtime, screened)
        reset_state(runtime)  # the tables were replaced wholesale: the next `gold` rebuilds everything
    return rows


# ---------------------------------------------------------------------------------- warnings


class _Notes:
    """Warnings gathered while reading, deduplicated across batches and part files."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[tuple[str, str], dict[str, None]] = {}  # (kind, where) -> ordered names

    def add(self, kind: str, where: str, name: str) -> None:
        self.names.setdefault((kind, where), {})[name] = None

    def render(self) -> list[str]:
        templates = {
            "extra": "{w}: column(s) not in the reference, loaded after the reference columns: {n}",
            "dropped": "{w}: struct field(s) not in the reference, dropped: {n}",
            "newer": "{w}: column(s) Databricks added after 2025 are not in the export; loaded as NULL: {n}",
            "newer_field": "{w}: struct field(s) Databricks added after 2025 are not in the export; "
            "loaded as NULL: {n}",
            "missing_field": "{w}: struct field(s) of the reference are not in the export (older than "
            "the 2025 reference?); loaded as NULL: {n}",
            "absent": "{w}: column(s) absent from every JSON row (JSON writers omit NULLs); loaded as NULL: {n}",
            "ignored_part": "{w}: ignored file(s) that are not part files: {n}",
            "bad_name": "{w}: extra column(s) dropped, their names cannot be table columns: {n}",
        }
        out = list(self.lines)
        for (kind, where), names in self.names.items():
            out.append(templates[kind].format(w=where, n=", ".join(names)))
        return out


def _check_enums(name: str, table: pa.Table, notes: _Notes) -> None:
    for (table_name, column), known in KNOWN_VALUES.items():
        if table_name != name or column not in table.column_names:
            continue
        values = table.column(column)
        unknown = values.filter(
            pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, pa.array(sorted(known)))))
        )
        if len(unknown) == 0:
            continue
        counts = sorted(pc.value_counts(unknown).to_pylist(), key=lambda d: (-d["counts"], d["values"]))
        shown = ", ".join(
            f"{d['values']!r} ({d['counts']} row{'s' * (d['counts'] != 1)})" for d in counts[:10]
        )
        more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
        notes.lines.append(f"{name}.{column}: value(s) never seen before, loaded as they are: {shown}{more}")


# ---------------------------------------------------------------------------------- the reference


@dataclass(frozen=True)
class _Spec:
    """One reference table, with what an older (2025) export may lack."""

    name: str
    schema: pa.Schema
    newer_columns: frozenset[str]
    newer_fields: frozenset[str]  # struct field paths ("identity_metadata.run_by") added after 2025


@cache
def _spec(name: str) -> _Spec:
    table = system_tables()[name]
    older = _older_types()
    newer_fields: set[str] = set()
    for col in table.columns:
        old = older.get((name, col.name))
        if old is not None:
            newer_fields |= _field_paths(col.arrow_type, col.name) - _field_paths(old, col.name)
    return _Spec(
        name,
        table.arrow_schema(),
        frozenset(c.name for c in table.columns if c.newer),
        frozenset(newer_fields),
    )


@cache
def _older_types() -> dict[tuple[str, str], pa.DataType]:
    """The 2025 types of the reference (rows with an ordinal), to tell which struct fields are newer.

    ``reference.py`` resolves each column to its newest type only; the older one is read here."""
    text = resources.files("health_monitor.system").joinpath("reference-columns.csv").read_text("utf-8")
    types: dict[tuple[str, str], pa.DataType] = {}
    for row in csv.DictReader(text.splitlines()):
        if not row["ordinal"].strip():
            continue
        try:
            t = parse_type(re.sub(r"\s*\(assumed[^)]*\)\s*$", "", row["full_data_type"]))
        except ValueError:
            continue
        types[(row["table"].removeprefix(f"{SYSTEM_CATALOG}."), row["column"])] = t
    return types


def _field_paths(t: pa.DataType, prefix: str) -> set[str]:
    paths: set[str] = set()
    if pa.types.is_struct(t):
        for f in t:
            paths.add(f"{prefix}.{f.name}")
            paths |= _field_paths(f.type, f"{prefix}.{f.name}")
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        paths |= _field_paths(t.value_type, f"{prefix}[]")
    elif pa.types.is_map(t):
        paths |= _field_paths(t.item_type, f"{prefix}{{}}")
    return paths


# ---------------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Part:
    path: Path
    label: str  # as messages name it, relative to the export directory
    fmt: str  # parquet | csv | json
    gzip: bool
    partition: tuple[tuple[str, str | None], ...] = ()


@dataclass
class _Source:
    table: str
    label: str
    parts: list[_Part]
    folder: bool


def _split_name(name: str) -> tuple[str, str | None, bool]:
    """``system.billing.usage.csv.gz`` -> (``billing.usage``, ``csv``, True)."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    if gz:
        lower = lower[:-3]
    fmt = None
    for suffix, kind in _FORMATS.items():
        if lower.endswith(suffix):
            fmt, lower = kind, lower[: -len(suffix)]
            break
    return lower.removeprefix(f"{SYSTEM_CATALOG}."), fmt, gz


def _discover(root: Path, notes: _Notes) -> dict[str, _Source]:
    known = system_tables()
    sources: dict[str, _Source] = {}
    ignored: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or _SPARK_SIDE_FILE.match(entry.name):
            continue
        table, fmt, gz = _split_name(entry.name)
        if table not in known:
            bare = entry.name.lower().removeprefix(f"{SYSTEM_CATALOG}.")
            owner = next((t for t in known if bare.startswith(f"{t}.")), None)
            if owner is not None:
                raise SystemExportError(
                    f"{entry.name}: table {owner} in a format this reader does not know; export it as "
                    "Parquet, CSV or JSON lines (.parquet, .csv, .json, .jsonl; CSV and JSON may end in .gz)"
                )
            ignored.append(entry.name + ("/" if entry.is_dir() else ""))
            continue
        if entry.is_dir():
            parts = _folder_parts(root, entry, fmt, notes)
            source = _Source(table, entry.name + "/", parts, True)
        else:
            if fmt is None:
                raise SystemExportError(
                    f"{entry.name}: table {table} without a format suffix (.parquet, .csv, .json)"
                )
            if fmt == "parquet" and gz:
                raise SystemExportError(
                    f"{entry.name}: gzip-compressed Parquet is not supported (Parquet compresses itself); "
                    "gunzip it"
                )
            source = _Source(table, entry.name, [_Part(entry, entry.name, fmt, gz)], False)
        if table in sources:
            raise SystemExportError(
                f"{sources[table].label} and {source.label}: two files for table {table}; keep one"
            )
        sources[table] = source
    if ignored:
        notes.lines.append(f"ignored (not system tables): {', '.join(ignored)}")
    return sources


def _folder_parts(root: Path, folder: Path, hint: str | None, notes: _Notes) -> list[_Part]:
    if (folder / "_delta_log").is_dir():
        files = _delta_files(folder)
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
    parts: list[_Part] = []
    skipped: list[str] = []
    for path in files:
        rel = path.relative_to(folder)
        if any(s.startswith((".", "_")) for s in rel.parts[:-1]) or path.name.startswith("."):
            continue
        if _SPARK_SIDE_FILE.match(path.name):
            continue
        label = str(path.relative_to(root))
        lower = path.name.lower()
        if lower.endswith(_OTHER_CODECS):
            raise SystemExportError(
                f"{label}: compressed with {path.suffix}; only gzip (.gz) compression is supported"
            )
        _, fmt, gz = _split_name(path.name)
        if fmt is None:
            skipped.append(str(rel))
            continue
        if fmt == "parquet" and gz:
            raise SystemExportError(f"{label}: gzip-compressed Parquet is not supported; gunzip it")
        if path.stat().st_size == 0 and fmt != "parquet":
            continue  # Spark writes empty part files for empty partitions
        partition = tuple(
            (k, None if v == "__HIVE_DEFAULT_PARTITION__" else unquote(v))
            for k, _, v in (s.partition("=") for s in rel.parts[:-1] if "=" in s)
        )
        parts.append(_Part(path, label, fmt, gz, partition))
    if skipped:
        notes.add("ignored_part", f"{folder.name}/", ", ".join(skipped))
    kinds = sorted({p.fmt for p in parts})
    if len(kinds) > 1:
        raise SystemExportError(
            f"{folder.name}/: part files of several formats ({', '.join(kinds)}); keep one"
        )
    if hint and kinds and kinds != [hint]:
        raise SystemExportError(f"{folder.name}/: the folder is named .{hint} but holds {kinds[0]} files")
    if not parts:
        empty_parts = [p for p in files if p.stat().st_size == 0 and _split_name(p.name)[1] == "json"]
        if empty_parts:  # an empty DataFrame written as JSON lines: nothing says which columns it has
            return [_Part(empty_parts[0], str(empty_parts[0].relative_to(root)), "json", False)]
        raise SystemExportError(f"{folder.name}/: no data files (.parquet, .csv, .json) in the folder")
    return parts


def _delta_files(folder: Path) -> list[Path]:
    from deltalake import DeltaTable

    try:
        uris = DeltaTable(str(folder)).file_uris()
    except Exception as exc:  # deltalake raises several types for a broken log
        raise SystemExportError(f"{folder.name}/: cannot read the Delta table: {_first_line(exc)}") from None
    return [Path(unquote(u.removeprefix("file://"))) for u in uris]


# ---------------------------------------------------------------------------------- reading


def _read_source(source: _Source, notes: _Notes) -> pa.Table:
    spec = _spec(source.table)
    pieces: list[pa.Table] = []
    for part in source.parts:
        if part.fmt == "parquet":
            pieces.extend(_read_parquet(part, spec, notes))
        elif part.fmt == "csv":
            pieces.extend(_read_csv(part, spec, notes))
        else:
            pieces.extend(_read_json(part, spec, notes, folder=source.folder))
    if not pieces:
        return spec.schema.empty_table()
    try:
        table = pa.concat_tables(pieces, promote_options="permissive") if len(pieces) > 1 else pieces[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SystemExportError(
            f"{source.label}: the part files' extra columns have different types ({_first_line(exc)})"
        ) from None
    extras = table.column_names[len(spec.schema) :]
    if extras:
        for name in extras:
            notes.add("extra", source.table, name)
    return table


class _Failure(Exception):
    """A value that does not fit the reference: raised by the conform functions, given its file,
    table and line by the reader that called them."""

    def __init__(self, path: str, index: int | None, detail: str):
        super().__init__(detail)
        self.path, self.index, self.detail = path, index, detail


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(t: pa.DataType) -> str:
    try:
        text = type_text(t)
    except ValueError:
        text = str(t)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass
class _Context:
    spec: _Spec
    notes: _Notes
    json: bool = False  # JSON omits NULL fields: an absent struct field is no news (no warning)


# -- Parquet


def _read_parquet(part: _Part, spec: _Spec, notes: _Notes) -> Iterator[pa.Table]:
    if part.path.stat().st_size == 0:
        raise SystemExportError(f"{part.label} (table {spec.name}): the file is empty (0 bytes)")
    _check_magic(part, spec)
    try:
        pf = pq.ParquetFile(part.path, coerce_int96_timestamp_unit="us")
    except (pa.ArrowInvalid, OSError) as exc:
        raise SystemExportError(f"{part.label}: not a readable Parquet file ({_first_line(exc)})") from None
    ctx = _Context(spec, notes)
    names = _plan_columns(part, spec, _with_partition_names(pf.schema_arrow.names, part), notes)
    row = 0
    for raw in _parquet_tables(pf, part):
        try:
            yield _conform_table(raw, names, ctx)
        except _Failure as f:
            where = f", row {row + f.index + 1}" if f.index is not None else ""
            raise SystemExportError(f"{part.label}{where}: {spec.name}.{f.path}: {f.detail}") from None
        row += raw.num_rows


def _parquet_tables(pf: pq.ParquetFile, part: _Part) -> Iterator[pa.Table]:
    """The file in batches (an empty table for a file without rows, so its columns are checked)."""
    batches = pf.iter_batches(batch_size=_BATCH_ROWS)
    produced = False
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SystemExportError(f"{part.label}: cannot read Parquet data ({_first_line(exc)})") from None
        if batch is None:
            break
        produced = True
        yield _with_partition(pa.Table.from_batches([batch]), part)
    if not produced:
        yield _with_partition(pf.schema_arrow.empty_table(), part)


def _with_partition_names(names: list[str], part: _Part) -> list[str]:
    return names + [k for k, _ in part.partition if k not in names]


def _with_partition(raw: pa.Table, part: _Part) -> pa.Table:
    for key, value in part.partition:
        if key not in raw.column_names:
            raw = raw.append_column(key, pa.array([value] * raw.num_rows, pa.string()))
    return raw


_MAGIC = {b"PAR1": "a Parquet file", b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive"}


def _check_magic(part: _Part, spec: _Spec) -> None:
    with open(part.path, "rb") as fh:
        head = fh.read(4)
    what = next((w for magic, w in _MAGIC.items() if head.startswith(magic)), None)
    where = f"{part.label} (table {spec.name})"
    if part.fmt == "parquet":
        if what != "a Parquet file":
            found = what or "text" if head else "empty"
            raise SystemExportError(
                f"{where}: named .parquet but is not a Parquet file (it looks like {found})"
            )
        return
    if part.gzip and what != "gzip-compressed":
        raise SystemExportError(f"{where}: named .gz but is not gzip-compressed")
    if not part.gzip and what == "gzip-compressed":
        raise SystemExportError(f"{where}: gzip-compressed but its name does not end in .gz")
    if what in ("a Parquet file", "a zip archive"):
        raise SystemExportError(f"{where}: named .{part.fmt} but is {what}")


# -- the columns of one file


def _plan_columns(part: _Part, spec: _Spec, names: list[str], notes: _Notes) -> dict[str, str]:
    """Check a file's column names against the reference; returns reference name -> file name.

    Names match case-insensitively (Databricks column names are). Missing newer columns are
    noted; other missing columns raise, naming all of them."""
    by_lower: dict[str, str] = {}
    for name in names:
        if name.lower() in by_lower:
            raise SystemExportError(
                f"{part.label}: table {spec.name} has column {name!r} twice (as {by_lower[name.lower()]!r})"
            )
        by_lower[name.lower()] = name
    mapping = {f.name: by_lower[f.name.lower()] for f in spec.schema if f.name.lower() in by_lower}
    if not mapping and names:
        raise SystemExportError(
            f"{part.label}: none of the columns of {SYSTEM_CATALOG}.{spec.name} (found "
            f"{_shown(', '.join(names[:8]), 100)}): another table, or a CSV without its header row?"
        )
    missing = [f for f in spec.schema if f.name not in mapping]
    required = [f for f in missing if f.name not in spec.newer_columns]
    if required:
        listed = ", ".join(f"{f.name} ({_type_name(f.type)})" for f in required)
        raise SystemExportError(f"{part.label}: {spec.name} is missing column(s) of the reference: {listed}")
    for f in missing:
        notes.add("newer", spec.name, f.name)
    return mapping


def _conform_table(raw: pa.Table, mapping: dict[str, str], ctx: _Context) -> pa.Table:
    spec = ctx.spec
    n = raw.num_rows
    arrays, fields = [], []
    for f in spec.schema:
        source = mapping.get(f.name)
        if source is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            arrays.append(_conform_chunked(raw.column(source), f.type, f.name, ctx))
        fields.append(f)
    taken = {v.lower() for v in mapping.values()}
    for name in raw.column_names:
        if name.lower() in taken:
            continue
        if _BAD_COLUMN_NAME.search(name):
            ctx.notes.add("bad_name", spec.name, repr(name))
            continue
        arrays.append(_plain_extra(raw.column(name)))
        fields.append(pa.field(name, arrays[-1].type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _conform_chunked(
    column: pa.ChunkedArray, target: pa.DataType, path: str, ctx: _Context
) -> pa.ChunkedArray:
    chunks, offset = [], 0
    for chunk in column.chunks:
        try:
            chunks.append(_conform(chunk, target, path, ctx))
        except _Failure as f:
            if f.index is not None:
                f.index += offset
            raise
        offset += len(chunk)
    return pa.chunked_array(chunks, type=target)


def _plain_extra(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An extra column in a type the Delta writer takes (it is kept as found otherwise)."""
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    if pa.types.is_null(t):
        return column.cast(pa.string())
    if pa.types.is_large_string(t):
        return column.cast(pa.string())
    if pa.types.is_timestamp(t):
        return column.cast(pa.timestamp(t.unit, "UTC")).cast(pa.timestamp("us", "UTC"), safe=False)
    unsigned = {
        pa.uint8(): pa.int16(),
        pa.uint16(): pa.int32(),
        pa.uint32(): pa.int64(),
        pa.uint64(): pa.int64(),
    }
    if t in unsigned:
        return column.cast(unsigned[t])
    if pa.types.is_float16(t):
        return column.cast(pa.float32())
    return column


# ---------------------------------------------------------------------------------- conform


def _conform(arr: pa.Array, target: pa.DataType, path: str, ctx: _Context) -> pa.Array:
    """``arr`` as ``target`` (the reference type at ``path``), or raise :class:`_Failure`."""
    t = arr.type
    if t.equals(target):
        return arr
    if pa.types.is_dictionary(t):
        return _conform(arr.dictionary_decode(), target, path, ctx)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), target)
    nested = pa.types.is_struct(target) or pa.types.is_map(target) or pa.types.is_list(target)
    if nested and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        # JSON writers omit NULL fields: an absent struct field is NULL, not missing
        return _conform(_parse_json_text(arr, target, path), target, path, replace(ctx, json=True))
    if pa.types.is_struct(target):
        return _to_struct(arr, target, path, ctx)
    if pa.types.is_map(target):
        return _to_map(arr, target, path, ctx)
    if pa.types.is_list(target):
        return _to_list(arr, target, path, ctx)
    return _to_leaf(arr, target, path)


def _wrong_type(arr: pa.Array, target: pa.DataType, path: str) -> pa.Array:
    if arr.null_count == len(arr):  # no value is lost: a column typed otherwise but all NULL
        return pa.nulls(len(arr), target)
    i = pc.index(arr.is_valid(), True).as_py()
    raise _Failure(
        path,
        i,
        f"expected {_type_name(target)}, found {_type_name(arr.type)} (first value {_shown(arr[i].as_py())})",
    )


def _to_struct(arr: pa.Array, target: pa.StructType, path: str, ctx: _Context) -> pa.Array:
    if not pa.types.is_struct(arr.type):
        return _wrong_type(arr, target, path)
    names = [f.name for f in arr.type]
    lower = {n.lower(): i for i, n in reversed(list(enumerate(names)))}
    children = []
    for f in target:
        child_path = f"{path}.{f.name}"
        i = lower.get(f.name.lower())
        if i is None:  # an export older than the field (JSON: NULL in every row)
            if not ctx.json:
                kind = "newer_field" if child_path in ctx.spec.newer_fields else "missing_field"
                ctx.notes.add(kind, f"{ctx.spec.name}.{path}", f.name)
            children.append(pa.nulls(len(arr), f.type))
        else:
            children.append(_conform(arr.field(i), f.type, child_path, ctx))
    wanted = {f.name.lower() for f in target}
    for name in names:
        if name.lower() not in wanted:
            ctx.notes.add("dropped", f"{ctx.spec.name}.{path}", name)
    mask = arr.is_null() if arr.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)


def _compact(arr: pa.Array) -> tuple[pa.Array, int]:
    """Offsets starting at 0, and where the list's values start in its child."""
    offsets = arr.offsets
    start = offsets[0].as_py()
    if start:
        offsets = pc.subtract(offsets, pa.scalar(start, offsets.type))
    return offsets, start


def _value_rows(offsets: pa.Array, index: int | None) -> int | None:
    if index is None:
        return None
    return int(np.searchsorted(offsets.to_numpy(zero_copy_only=False), index, side="right") - 1)


def _to_list(arr: pa.Array, target: pa.ListType, path: str, ctx: _Context) -> pa.Array:
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        arr, t = arr.cast(pa.list_(t.value_field)), pa.list_(t.value_field)
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return _wrong_type(arr, target, path)
    offsets, start = _compact(arr)
    values = arr.values.slice(start, offsets[-1].as_py() if len(offsets) else 0)
    try:
        values = _conform(values, target.value_type, f"{path}[]", ctx)
    except _Failure as f:
        f.index = _value_rows(offsets, f.index)
        raise
    return pa.ListArray.from_arrays(
        offsets.cast(pa.int32()), values, type=target, mask=arr.is_null() if arr.null_count else None
    )


def _to_map(arr: pa.Array, target: pa.MapType, path: str, ctx: _Context) -> pa.Array:
    t = arr.type
    if pa.types.is_struct(t):  # a JSON object: its keys are the map's keys
        return _struct_to_map(arr, target, path, ctx)
    if not pa.types.is_map(t):
        return _wrong_type(arr, target, path)
    offsets, start = _compact(arr)
    length = offsets[-1].as_py() if len(offsets) else 0
    try:
        keys = _conform(arr.keys.slice(start, length), target.key_type, f"{path}{{key}}", ctx)
        items = _conform(arr.items.slice(start, length), target.item_type, f"{path}{{}}", ctx)
    except _Failure as f:
        f.index = _value_rows(offsets, f.index)
        raise
    return pa.MapArray.from_arrays(
        offsets, keys, items, type=target, mask=arr.is_null() if arr.null_count else None
    )


def _struct_to_map(arr: pa.StructArray, target: pa.MapType, path: str, ctx: _Context) -> pa.Array:
    """Rows of a struct (one field per key seen in any row) as map entries: the non-null fields.

    A key whose value is JSON null is dropped with the absent ones: a struct cannot tell them apart."""
    n, names = len(arr), [f.name for f in arr.type]
    parent = arr.is_valid().to_numpy(zero_copy_only=False)
    items, present = [], []
    for i in range(len(names)):
        child = _conform(arr.field(i), target.item_type, f"{path}{{}}", ctx)
        items.append(child)
        present.append(child.is_valid().to_numpy(zero_copy_only=False) & parent)
    if names:
        grid = np.stack(present, axis=1)  # rows x keys
        counts = grid.sum(axis=1)
        flat = np.flatnonzero(grid.ravel())
        key_of, row_of = flat % len(names), flat // len(names)
        keys = pa.array(names, pa.string()).take(pa.array(key_of))
        values = pa.concat_arrays(items).take(pa.array(key_of * n + row_of))
    else:
        counts = np.zeros(n, np.int64)
        keys, values = pa.array([], pa.string()), pa.array([], target.item_type)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    keys = _conform(keys, target.key_type, f"{path}{{key}}", ctx)
    mask = arr.is_null() if arr.null_count else None
    return pa.MapArray.from_arrays(offsets, keys, values, type=target, mask=mask)


def _to_leaf(arr: pa.Array, target: pa.DataType, path: str) -> pa.Array:
    t = arr.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if pa.types.is_string(target):
        if text or pa.types.is_integer(t):  # IDs written as numbers by some tools
            return arr.cast(pa.string())
        return _wrong_type(arr, target, path)
    if text:
        return _parse_text(arr, target, path)
    if pa.types.is_timestamp(target):
        if not pa.types.is_timestamp(t):
            return _wrong_type(arr, target, path)
        # A timestamp without a zone is UTC; sub-microsecond digits are dropped (Delta keeps us).
        return arr.cast(pa.timestamp(t.unit, "UTC")).cast(target, safe=False)
    if pa.types.is_date(target):
        return _checked_cast(arr, target, path) if pa.types.is_date(t) else _wrong_type(arr, target, path)
    if pa.types.is_decimal(target):
        if pa.types.is_floating(t):  # through the shortest text, not the binary fraction
            return _checked_cast(arr, target, path, lambda a: _decimal_from_float(a, target))
        if pa.types.is_decimal(t) or pa.types.is_integer(t):
            return _checked_cast(arr, target, path)
        return _wrong_type(arr, target, path)
    if pa.types.is_integer(target) or pa.types.is_floating(target):
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return _checked_cast(arr, target, path)
        return _wrong_type(arr, target, path)
    if pa.types.is_binary(target) and pa.types.is_binary(t):
        return arr
    return _wrong_type(arr, target, path)


def _decimal_from_float(arr: pa.Array, target: pa.Decimal128Type) -> pa.Array:
    wide = arr.cast(pa.string()).cast(pa.decimal256(76, 38))
    return pc.round(wide, target.scale).cast(target)


def _checked_cast(arr: pa.Array, target: pa.DataType, path: str, fn: Callable | None = None) -> pa.Array:
    fn = fn or (lambda a: a.cast(target))
    try:
        return fn(arr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        i = _first_bad(arr, fn)
        raise _Failure(path, i, f"cannot read {_shown(arr[i].as_py())} as {_type_name(target)}") from None


def _first_bad(arr: pa.Array, fn: Callable) -> int:
    """The first index at which ``fn`` (elementwise, raising on bad input) fails: a bisection."""
    lo, hi = 0, len(arr)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            fn(arr.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    return lo


_NULL_TEXT = pa.array(["", "null", "NULL"])
_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"


def _parse_text(arr: pa.Array, target: pa.DataType, path: str) -> pa.Array:
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    text = pc.if_else(pc.is_in(text, _NULL_TEXT), pa.scalar(None, pa.string()), text)
    if pa.types.is_timestamp(target):
        fn = _parse_timestamps
    elif pa.types.is_boolean(target):

        def fn(a):
            return pc.utf8_lower(a).cast(target)
    elif pa.types.is_integer(target):

        def fn(a):
            try:
                return a.cast(target)
            except pa.ArrowInvalid:  # "3.0": a whole number written as a float
                return a.cast(pa.float64()).cast(target)
    else:

        def fn(a):
            return a.cast(target)

    return _checked_cast(text, target, path, fn)


def _parse_timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 text, with an offset (``Z``, ``+01:00``, `` UTC``) or without (then UTC)."""
    text = pc.replace_substring_regex(text, r"\s*UTC$", "Z")
    zoned = pc.match_substring_regex(text, _OFFSET)
    text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, "Z", ""))
    target = pa.timestamp("us", "UTC")
    try:
        return text.cast(target)
    except pa.ArrowInvalid:  # nanoseconds: parse at that precision, keep microseconds
        return text.cast(pa.timestamp("ns", "UTC")).cast(target, safe=False)


# -- JSON


def _json_read_type(t: pa.DataType) -> pa.DataType:
    """The type to ask pyarrow's JSON reader for: dates and timestamps as text (parsed after,
    with offsets and nanoseconds), maps as structs whose fields (the keys) it infers."""
    if pa.types.is_map(t):
        return pa.struct([])
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _json_read_type(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_json_read_type(t.value_type))
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return pa.string()
    return t


def _parse_json_text(arr: pa.Array, target: pa.DataType, path: str) -> pa.Array:
    """A column of JSON text (a CSV export's structs, maps, arrays) parsed into nested Arrow."""
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    text = pc.if_else(pc.is_in(text, _NULL_TEXT), pa.scalar(None, pa.string()), text)
    if text.null_count == len(text):
        return pa.nulls(len(text), target)
    text = pc.replace_substring_regex(text.fill_null("null"), r"[\r\n]", " ")
    lines = pc.binary_join_element_wise('{"v":', text, "}\n", "")
    n = len(lines)
    size = pc.sum(pc.binary_length(lines)).as_py() if n else 0
    longest = pc.max(pc.binary_length(lines)).as_py() if n else 0
    try:
        table = pajson.read_json(
            pa.BufferReader(lines.buffers()[2].slice(0, size) if size else b""),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, 2 * longest + 2)),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([("v", _json_read_type(target))]), unexpected_field_behavior="infer"
            ),
        )
        if table.num_rows == n and table.column_names == ["v"]:
            return table.column("v").combine_chunks()
        error = "the JSON text does not parse as one value per row"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        error = _first_line(exc)
    for i, value in enumerate(arr.to_pylist()):  # the error path: find the first bad value
        if value is None or value.strip() in ("", "null", "NULL"):
            continue
        try:
            obj = json.loads(value)
        except json.JSONDecodeError:
            raise _Failure(path, i, f"not valid JSON text: {_shown(value)}") from None
        bad = _check_json(obj, target, path)
        if bad is not None:
            raise _Failure(bad[0], i, bad[1])
    raise _Failure(path, None, f"cannot read the JSON text as {_type_name(target)} ({error})")


def _check_json(value: Any, t: pa.DataType, path: str) -> tuple[str, str] | None:
    """The first value in parsed JSON that does not fit type ``t``, as (path, message)."""
    if value is None:
        return None

    def bad(what: str = "") -> tuple[str, str]:
        return path, f"cannot read {_shown(value)} as {_type_name(t)}{what}"

    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            return bad()
        for f in t:
            if f.name in value:
                found = _check_json(value[f.name], f.type, f"{path}.{f.name}")
                if found:
                    return found
        return None
    if pa.types.is_map(t):
        if not isinstance(value, dict):
            return bad()
        for v in value.values():
            found = _check_json(v, t.item_type, f"{path}{{}}")
            if found:
                return found
        return None
    if pa.types.is_list(t):
        if not isinstance(value, list):
            return bad()
        for i, v in enumerate(value):
            found = _check_json(v, t.value_type, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(value, (dict, list)):
        return bad()
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if pa.types.is_string(t):
        return None if isinstance(value, str) else bad()
    if pa.types.is_boolean(t):
        return None if isinstance(value, bool) else bad()
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if not number:
            return bad()
    elif pa.types.is_decimal(t):
        if not (number or isinstance(value, str)):
            return bad()
        try:
            Decimal(str(value))
        except InvalidOperation:
            return bad()
        value = str(value)
    elif not isinstance(value, str):  # dates and timestamps are text
        return bad()
    try:
        _to_leaf(pa.array([value]), t, path)
    except (_Failure, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return bad()
    return None


# -- text files: the scan before parsing


@dataclass
class _Scan:
    escaped: bool = False  # CSV quotes escaped with a backslash (Spark's default), not doubled
    present: set[str] = field(default_factory=set)  # JSON: reference columns seen as keys
    header: str = ""  # CSV: the first line


def _scan_text(part: _Part, spec: _Spec, keys: tuple[str, ...] = ()) -> _Scan:
    """One pass over a CSV or JSON-lines file: UTF-8 (with the byte offset of the first bad
    byte), the quotes of every CSV row (with the line number of a stray one), which keys a JSON
    file has. Nothing is parsed into values here; pyarrow does that after."""
    where = f"{part.label} (table {spec.name})"
    if part.path.stat().st_size == 0:
        raise SystemExportError(f"{where}: the file is empty (0 bytes)")
    _check_magic(part, spec)
    scan = _Scan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    quotes = _QuoteScan(where) if part.fmt == "csv" else None
    wanted = {k: f'"{k}"'.encode() for k in keys}
    window = b""  # the end of what was read, for keys cut in two by a block boundary
    try:
        with pa.input_stream(str(part.path), compression="gzip" if part.gzip else None) as stream:
            head = stream.read(_HEAD)
            offset = 3 if head.startswith(codecs.BOM_UTF8) else 0
            head = head[offset:]
            if not head.strip():
                raise SystemExportError(f"{where}: the file has no data (only whitespace)")
            first = head.lstrip()[:1]
            if part.fmt == "json" and first != b"{":
                what = "a JSON array" if first == b"[" else f"text starting with {first!r}"
                raise SystemExportError(f"{where}: not JSON lines (one object per line) but {what}")
            if quotes is not None:
                scan.header = head.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
                scan.escaped = quotes.escaped = re.search(rb'\\"[^",\r\n]', head) is not None
            for block in _blocks(head, stream):
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    at = offset - pending + exc.start
                    of = " of the decompressed data" if part.gzip else ""
                    raise SystemExportError(
                        f"{where}: not UTF-8: byte 0x{exc.object[exc.start]:02x} at byte offset {at}{of} "
                        "(export as UTF-8)"
                    ) from None
                if quotes is not None:
                    quotes.feed(block)
                if wanted:
                    window = window[-200:] + block
                    for key, token in list(wanted.items()):
                        if token in window:
                            scan.present.add(key)
                            del wanted[key]
                offset += len(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise SystemExportError(f"{where}: not UTF-8: the file ends inside a character") from None
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise SystemExportError(f"{where}: cannot read the file ({_first_line(exc)})") from None
    if quotes is not None:
        quotes.finish()
    return scan


def _blocks(head: bytes, stream) -> Iterator[bytes]:
    for start in range(0, len(head), _SCAN_BLOCK):
        yield head[start : start + _SCAN_BLOCK]
    while block := stream.read(_SCAN_BLOCK):
        yield block


class _QuoteScan:
    """Checks the quotes of a CSV file block by block, with numpy: every quote either opens a
    field (after a comma, a line break or another quote), closes one (before those), or is
    escaped. pyarrow's parser accepts stray quotes silently (``a"b`` and ``"a"b`` parse), so
    this is where a broken row is found, by line number."""

    _SEPARATOR = np.zeros(256, bool)  # a lookup table: faster than np.isin on millions of quotes
    _SEPARATOR[[ord(","), ord("\n"), ord("\r"), ord('"')]] = True

    def __init__(self, where: str):
        self.where = where
        self.escaped = False
        self.quotes = 0  # quotes seen so far (their parity says inside or outside a field)
        self.lines = 0  # line breaks before the current block
        self.prev = ord("\n")  # the byte before the block (the start of the file counts as a line break)
        self.tail = np.zeros(0, np.uint8)  # the last bytes of the previous block, for backslash runs
        self.pending_close: int | None = None  # a closing quote at the end of a block: line number
        # The last opening quote: its block, the line breaks before that block, its position. Its
        # line number is counted only for a message.
        self.last_open: tuple[np.ndarray, int, int] | None = None

    def _line(self, a: np.ndarray, lines_before: int, pos: int) -> int:
        return lines_before + int(np.count_nonzero(a[:pos] == 10)) + 1

    def feed(self, chunk: bytes) -> None:
        a = np.frombuffer(chunk, np.uint8)
        newline = a == 10
        if self.pending_close is not None:
            if not self._SEPARATOR[a[0]]:
                self._fail_close(self.pending_close)
            self.pending_close = None
        q = np.flatnonzero(a == ord('"'))
        if self.escaped and len(q):
            q = q[~self._backslashed(a, q)]
        if len(q):
            opening = np.arange(self.quotes, self.quotes + len(q)) & 1 == 0
            prev = a[q - 1]  # q - 1 == -1 reads the block's last byte: replaced just below
            if q[0] == 0:
                prev[0] = self.prev
            nxt = a[np.minimum(q + 1, len(a) - 1)]
            bad_open = opening & ~self._SEPARATOR[prev]
            bad_close = ~opening & ~self._SEPARATOR[nxt]
            bad_close[-1] &= q[-1] != len(a) - 1  # the byte after the block is checked with the next one
            bad = np.flatnonzero(bad_open | bad_close)
            if len(bad):
                i = bad[0]
                line = self._line(a, self.lines, q[i])
                if bad_open[i]:
                    raise SystemExportError(
                        f"{self.where}: line {line}: a stray quote inside an unquoted field "
                        '(quote the field and double its quotes: "a ""b"" c")'
                    )
                if i > 0:
                    self.last_open = (a, self.lines, q[i - 1])
                self._fail_close(line)
            if opening[-1]:
                self.last_open = (a, self.lines, q[-1])
            elif len(q) > 1:
                self.last_open = (a, self.lines, q[-2])
            if q[-1] == len(a) - 1 and not opening[-1]:
                self.pending_close = self.lines + int(np.count_nonzero(newline)) + 1
            self.quotes += len(q)
        self.lines += int(np.count_nonzero(newline))
        self.prev = int(a[-1])
        self.tail = np.concatenate([self.tail, a])[-16:] if len(a) < 16 else a[-16:]

    def _open_line(self) -> int:
        return self._line(*self.last_open) if self.last_open is not None else 1

    def _backslashed(self, a: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Quotes preceded by an odd number of backslashes (escaped ones)."""
        ext = np.concatenate([self.tail, a])
        pos = q + len(self.tail)
        run = np.zeros(len(q), np.int64)
        alive = np.ones(len(q), bool)
        k = 1
        while alive.any():
            idx = pos - k
            ok = idx >= 0
            hit = np.zeros(len(q), bool)
            hit[ok] = ext[idx[ok]] == ord("\\")
            alive &= hit
            run += alive
            k += 1
        return run % 2 == 1

    def _fail_close(self, line: int) -> None:
        opened_at = self._open_line()
        opened = f" (the quoted field opened at line {opened_at} ends here)" if opened_at < line else ""
        raise SystemExportError(
            f"{self.where}: line {line}: text after a closing quote{opened}: a stray or unbalanced quote"
        )

    def finish(self) -> None:
        if self.quotes % 2:
            raise SystemExportError(
                f"{self.where}: line {self._open_line()}: a quoted field that never closes (a stray quote)"
            )


def check_csv_quotes(path: Path, where: str) -> None:
    """Raise :class:`SystemExportError` (``where``, line number) on a stray or unbalanced quote in
    the CSV file ``path``, quotes doubled as RFC 4180 has them. For other loaders' CSV files."""
    quotes = _QuoteScan(where)
    with open(path, "rb") as stream:
        while block := stream.read(_SCAN_BLOCK):
            quotes.feed(block)
    quotes.finish()


# -- CSV


def _csv_dialect(escaped: bool) -> dict[str, Any]:
    return {"escapechar": "\\", "doublequote": True} if escaped else {"doublequote": True}


def _read_csv(part: _Part, spec: _Spec, notes: _Notes) -> Iterator[pa.Table]:
    scan = _scan_text(part, spec)
    header = next(csv.reader([scan.header], **_csv_dialect(scan.escaped)), [])
    ctx = _Context(spec, notes)
    mapping = _plan_columns(part, spec, _with_partition_names(header, part), notes)
    parse = pacsv.ParseOptions(
        # statement_text spans lines; with False, pyarrow cuts blocks at any line break and a
        # quoted one at a block boundary breaks the row.
        newlines_in_values=True,
        double_quote=True,
        escape_char="\\" if scan.escaped else False,
    )
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},  # IDs stay text; parsed per column below
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # "" is an empty string, an empty field is NULL
        null_values=[""],
    )
    read = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=_CHUNK)
    row = 0
    produced = False
    try:
        reader = pacsv.open_csv(
            pa.input_stream(str(part.path), compression="gzip" if part.gzip else None),
            read_options=read,
            parse_options=parse,
            convert_options=convert,
        )
        for batch in reader:
            raw = _with_partition(pa.Table.from_batches([batch]), part)
            try:
                yield _conform_table(raw, mapping, ctx)
            except _Failure as f:
                _raise_csv_failure(part, spec, scan, f, row)
            row += batch.num_rows
            produced = True
    except pa.ArrowInvalid as exc:
        _raise_csv_structure(part, spec, scan, len(header), exc)
    if not produced:
        empty = pa.table({name: pa.array([], pa.string()) for name in header})
        yield _conform_table(_with_partition(empty, part), mapping, ctx)


def _text_lines(part: _Part):
    opener = gzip.open if part.gzip else open
    return opener(part.path, "rt", encoding="utf-8-sig", newline="")


def _raise_csv_failure(part: _Part, spec: _Spec, scan: _Scan, f: _Failure, batch_row: int) -> None:
    where = f"{part.label}"
    if f.index is not None:
        target = batch_row + f.index + 1  # data rows, 1-based
        where += f", row {target}"
        csv.field_size_limit(1 << 30)
        with _text_lines(part) as fh:
            reader = csv.reader(fh, **_csv_dialect(scan.escaped))
            for n, _ in enumerate(reader):
                if n == target:
                    where = f"{part.label}: line {reader.line_num}"
                    break
    raise SystemExportError(f"{where}: {spec.name}.{f.path}: {f.detail}") from None


def _raise_csv_structure(part: _Part, spec: _Spec, scan: _Scan, width: int, exc: Exception) -> None:
    """pyarrow says a row is malformed but not where: find its line with Python's csv module."""
    where = f"{part.label} (table {spec.name})"
    csv.field_size_limit(1 << 30)
    try:
        with _text_lines(part) as fh:
            reader = csv.reader(fh, strict=True, **_csv_dialect(scan.escaped))
            for row in reader:
                if row and len(row) != width:
                    raise SystemExportError(
                        f"{where}: line {reader.line_num}: {len(row)} fields, the header has {width} "
                        "(a stray quote or delimiter?)"
                    )
    except csv.Error as err:
        raise SystemExportError(f"{where}: line {reader.line_num}: {err}") from None
    raise SystemExportError(f"{where}: cannot parse the CSV ({_first_line(exc)})") from None


# -- JSON lines


def _read_json(part: _Part, spec: _Spec, notes: _Notes, folder: bool) -> Iterator[pa.Table]:
    ctx = _Context(spec, notes, json=True)
    if part.path.stat().st_size == 0 and folder:  # every part empty: an empty table
        notes.lines.append(f"{part.label}: no rows; loaded as an empty {spec.name}")
        return
    scan = _scan_text(part, spec, keys=tuple(spec.schema.names))
    explicit = pa.schema([pa.field(f.name, _json_read_type(f.type)) for f in spec.schema])
    try:
        table = pajson.read_json(
            pa.input_stream(str(part.path), compression="gzip" if part.gzip else None),
            read_options=pajson.ReadOptions(block_size=_CHUNK * 2),
            parse_options=pajson.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        _raise_json_failure(part, spec, _first_line(exc))
    absent = [name for name in spec.schema.names if name not in scan.present]
    if len(absent) == len(spec.schema.names):
        raise SystemExportError(
            f"{part.label}: none of the columns of {SYSTEM_CATALOG}.{spec.name} is a key of its JSON objects"
        )
    for name in absent:
        notes.add("newer" if name in spec.newer_columns else "absent", spec.name, name)
    mapping = {name: name for name in spec.schema.names if name in scan.present}
    raw = _with_partition(table.drop_columns(absent), part)
    try:
        yield _conform_table(raw, mapping, ctx)
    except _Failure as f:
        _raise_json_failure(part, spec, f"{spec.name}.{f.path}: {f.detail}", f.index)


def _raise_json_failure(part: _Part, spec: _Spec, fallback: str, index: int | None = None) -> None:
    """Find the first bad line with Python's json module (pyarrow counts rows per block)."""
    where = f"{part.label} (table {spec.name})"
    with _text_lines(part) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExportError(
                    f"{where}: line {line_no}: not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(obj, dict):
                raise SystemExportError(f"{where}: line {line_no}: not a JSON object") from None
            for f in spec.schema:
                bad = _check_json(obj.get(f.name), f.type, f.name)
                if bad is not None:
                    raise SystemExportError(
                        f"{part.label}: line {line_no}: {spec.name}.{bad[0]}: {bad[1]}"
                    ) from None
    row = f", row {index + 1}" if index is not None else ""
    raise SystemExportError(f"{part.label}{row}: {fallback}") from None
