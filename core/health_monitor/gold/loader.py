"""Read a user's own Gold tables, exported as files, and hold them to the Gold contract.

Each table `<name>` of `GOLD_TABLES` is looked for in `source_dir` as `<name>.parquet`, as a
directory `<name>/` of Parquet files, or as `<name>.csv` (in that order of preference). Every table
is conformed and checked before anything is returned: one bad table fails the whole load, so a
caller that writes what it gets writes nothing.

Files that are not Gold tables are ignored with a `UserWarning` naming them (exports often carry
extra tables; refusing them would make users delete files for no gain).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from health_monitor.gold.contract import GOLD_TABLES, GoldContractError, check_table, conform


def _locate(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.parquet", root / name, root / f"{name}.csv"):
        if candidate.exists():
            return candidate
    return None


def _read(path: Path) -> pa.Table:
    if path.is_dir():
        return ds.dataset(path, format="parquet").to_table()
    if path.suffix == ".parquet":
        return pq.read_table(path)
    # pyarrow's parser accepts stray quotes silently (a row swallows the next ones): scan first.
    from health_monitor.system.loader import SystemExportError, check_csv_quotes

    try:
        check_csv_quotes(path, path.name)
    except SystemExportError as exc:
        raise GoldContractError(str(exc)) from None
    # Read every CSV column as text: IDs like workspace_id must not become numbers, and
    # conform() parses dates, timestamps, numbers and booleans against the contract.
    names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).column_names
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
    )
    return pacsv.read_csv(path, convert_options=convert)


def _numeric_text_columns(name: str, table: pa.Table) -> pa.Table:
    """CSV columns arrive as text; cast the numeric contract columns before conform()."""
    spec = GOLD_TABLES[name]
    for col in spec.columns:
        if col.name not in table.column_names or col.type not in ("bigint", "int", "double"):
            continue
        arr = table.column(col.name)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            continue
        target = pa.float64() if col.type == "double" else pa.int64()
        try:
            cast = arr.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = next((v for v in arr.to_pylist() if v is not None and not _is_number(v)), None)
            raise GoldContractError(f"{name}.{col.name}: cannot parse {bad!r} as {col.type}") from None
        table = table.set_column(table.column_names.index(col.name), col.name, cast)
    return table


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_gold_export(source_dir: str | Path) -> dict[str, pa.Table]:
    """Read, conform and check every Gold table in `source_dir`; raise before returning anything.

    Raises GoldContractError naming the table (and column) when no table is found, a column is
    missing or has the wrong type, values cannot be parsed, or keys are null or duplicated. A
    missing table is a warning: the models that need it are skipped.
    """
    root = Path(source_dir)
    if not root.is_dir():
        raise GoldContractError(f"Gold export directory {str(root)!r} does not exist")
    located = {name: _locate(root, name) for name in GOLD_TABLES}
    missing = [name for name, path in located.items() if path is None]
    if len(missing) == len(GOLD_TABLES):
        raise GoldContractError(
            f"Gold export {str(root)!r}: no Gold table found (expected files like fact_usage.parquet, "
            "dim_job/ or dim_sku.csv; see docs/gold-contract.md)"
        )
    if missing:
        # A domain runs on the tables it reads: the feature tables and models that need a missing
        # table are skipped, each with a note naming it.
        warnings.warn(
            f"Gold export {str(root)!r}: table(s) not in the export: {', '.join(missing)}; the feature "
            "tables and models that read them will be skipped",
            UserWarning,
            stacklevel=2,
        )

    known = set()
    for name in GOLD_TABLES:
        known.update({f"{name}.parquet", name, f"{name}.csv"})
    unknown = sorted(p.name for p in root.iterdir() if p.name not in known and not p.name.startswith("."))
    if unknown:
        warnings.warn(
            f"Gold export {str(root)!r}: ignoring files that are not Gold tables: {', '.join(unknown)}",
            UserWarning,
            stacklevel=2,
        )

    tables: dict[str, pa.Table] = {}
    for name in GOLD_TABLES:
        path = located[name]
        if path is None:
            continue
        try:
            raw = _read(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise GoldContractError(f"{name}: cannot read {path.name}: {exc}") from None
        if path.suffix == ".csv":
            raw = _numeric_text_columns(name, raw)
        table = conform(name, raw)
        check_table(name, table)
        tables[name] = table
    return tables
