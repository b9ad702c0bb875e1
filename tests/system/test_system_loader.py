"""Reading users' exports of the system tables (``health_monitor.system.loader``).

Exports are written here as a ``SELECT *`` export writes them: Parquet with real structs, CSV with
JSON text for nested columns (RFC 4180 quoting, or Spark's backslash escapes), JSON lines without
NULL fields. Every good export must come back value by value; every bad one must fail with one
line naming the file, table and column, and leave the home without system tables.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from health_monitor.config import Settings
from health_monitor.lakehouse.local import LocalLakehouse
from health_monitor.system.loader import (
    SystemExportError,
    SystemExportWarning,
    load_system_tables_into,
    read_system_export,
)
from health_monitor.system.reference import system_table, system_tables

UTC = dt.timezone.utc


# ---------------------------------------------------------------------------------- writers


def _jsonable(value: Any, t: pa.DataType) -> Any:
    """An Arrow value (``as_py()``) as Spark's JSON writer has it; decimals as exact numbers."""
    if value is None:
        return None
    if pa.types.is_struct(t):
        return {f.name: _jsonable(value.get(f.name), f.type) for f in t if value.get(f.name) is not None}
    if pa.types.is_map(t):
        return {k: _jsonable(v, t.item_type) for k, v in value}
    if pa.types.is_list(t):
        return [_jsonable(v, t.value_type) for v in value]
    if pa.types.is_timestamp(t):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if pa.types.is_date(t):
        return value.isoformat()
    if pa.types.is_decimal(t):
        return _Number(format(value, "f"))
    return value


class _Number(str):
    """A number to be written as is (json cannot write a Decimal without going through float)."""


def _dumps(obj: Any) -> str:
    marked = json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))
    # _Number is a str subclass, so json quoted it: unquote the ones we marked.
    return _unquote_numbers(marked, obj)


def _unquote_numbers(text: str, obj: Any) -> str:
    numbers = set()

    def walk(o):
        if isinstance(o, _Number):
            numbers.add(str(o))
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(obj)
    for n in numbers:
        text = text.replace(f'"{n}"', n)
    return text


def _text(value: Any, t: pa.DataType, naive: bool) -> str | None:
    """One CSV field as Databricks writes it: JSON text for nested values."""
    if value is None:
        return None
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_list(t):
        return _dumps(_jsonable(value, t))
    if pa.types.is_timestamp(t):
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if naive else value.isoformat()
    if pa.types.is_boolean(t):
        return "true" if value else "false"
    if pa.types.is_decimal(t):
        return format(value, "f")
    return str(value)


def write_csv(path: Path, table: pa.Table, *, spark_escapes: bool = False, naive: bool = False) -> None:
    """Every non-NULL field quoted (so "" is an empty string and an empty field NULL)."""

    def quote(v: str | None) -> str:
        if v is None:
            return ""
        if spark_escapes:
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return '"' + v.replace('"', '""') + '"'

    lines = [",".join(quote(n) for n in table.column_names)]
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    types = [f.type for f in table.schema]
    for r in range(table.num_rows):
        lines.append(",".join(quote(_text(columns[c][r], types[c], naive)) for c in range(len(columns))))
    data = ("\r\n" if naive else "\n").join(lines) + "\n"
    _write(path, data.encode("utf-8"))


def write_jsonl(path: Path, table: pa.Table) -> None:
    """One object per line, NULL fields left out (Spark's JSON writer)."""
    out = []
    for row in table.to_pylist():
        obj = {f.name: _jsonable(row[f.name], f.type) for f in table.schema if row[f.name] is not None}
        out.append(_dumps(obj))
    _write(path, ("\n".join(out) + "\n").encode("utf-8") if out else b"")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def normalised(table: pa.Table) -> list[dict]:
    """Rows as dicts, map entries sorted (maps have no order), for value-by-value comparison."""

    def norm(v, t):
        if v is None:
            return None
        if pa.types.is_map(t):
            return sorted((k, norm(x, t.item_type)) for k, x in v)
        if pa.types.is_struct(t):
            return {f.name: norm(v[f.name], f.type) for f in t}
        if pa.types.is_list(t):
            return [norm(x, t.value_type) for x in v]
        return v

    return [{f.name: norm(row[f.name], f.type) for f in table.schema} for row in table.to_pylist()]


# ---------------------------------------------------------------------------------- fixtures


def T(hour: int, minute: int = 0, day: int = 1) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def usage_rows() -> list[dict]:
    """A RETRACTION/RESTATEMENT pair, job usage on an all-purpose cluster (no job_id), a quote and
    a backslash inside a struct field, an empty tag value, a 2026 struct field (run_by) set."""
    base = {
        "account_id": "23e22ba4-87b9-4cc2-9770-d10b894b7118",
        "workspace_id": "1234567890123456",
        "sku_name": "PREMIUM_JOBS_COMPUTE",
        "cloud": "AWS",
        "usage_start_time": T(10),
        "usage_end_time": T(11),
        "usage_date": dt.date(2025, 3, 1),
        "usage_unit": "DBU",
        "billing_origin_product": "JOBS",
        "usage_type": "COMPUTE_TIME",
        "ingestion_date": dt.date(2025, 3, 2),
    }
    return [
        base
        | {
            "record_id": "r-1",
            "custom_tags": [("team", "data-eng"), ("cost_center", "")],
            "usage_quantity": Decimal("1.123456789012345678"),
            "usage_metadata": {"cluster_id": "0110-093000-x1y2z3ab", "job_id": "987", "job_run_id": "555"},
            "identity_metadata": {"run_as": "svc@acme.com", "run_by": "me@acme.com"},
            "record_type": "ORIGINAL",
            "product_features": {
                "jobs_tier": "CLASSIC",
                "is_photon": False,
                "networking": {"connectivity_type": "PUBLIC_IP"},
            },
        },
        base
        | {
            "record_id": "r-2",
            "custom_tags": [("team", "data-eng"), ("cost_center", "")],
            "usage_quantity": Decimal("-1.123456789012345678"),
            "usage_metadata": {"cluster_id": "0110-093000-x1y2z3ab", "job_id": "987", "job_run_id": "555"},
            "identity_metadata": {"run_as": "svc@acme.com", "run_by": "me@acme.com"},
            "record_type": "RETRACTION",
            "product_features": {"jobs_tier": "CLASSIC", "is_photon": False},
        },
        base
        | {
            "record_id": "r-3",
            "custom_tags": [],
            "usage_quantity": Decimal("0.5"),
            "usage_metadata": {"cluster_id": "0110-093000-x1y2z3ab", "job_id": "987", "job_run_id": "555"},
            "identity_metadata": {"run_as": "svc@acme.com"},
            "record_type": "RESTATEMENT",
            "product_features": {"jobs_tier": "CLASSIC", "is_photon": True},
        },
        base
        | {
            "record_id": "r-4",
            "sku_name": "PREMIUM_ALL_PURPOSE_COMPUTE",
            "billing_origin_product": "ALL_PURPOSE",
            "usage_start_time": T(11, day=2),
            "usage_end_time": T(12, day=2),
            "usage_date": dt.date(2025, 3, 2),
            "custom_tags": None,
            "usage_quantity": Decimal("3"),
            "usage_metadata": {"cluster_id": "0110-093000-allpurp", "notebook_path": '/Users/a "b"\\c'},
            "identity_metadata": None,
            "record_type": "ORIGINAL",
            "product_features": {"is_serverless": False},
        },
    ]


def run_rows() -> list[dict]:
    """A run cut into two hourly slices, the result on the last one only; a nested map."""
    base = {
        "account_id": "a",
        "workspace_id": "1234567890123456",
        "job_id": "987",
        "run_id": "555",
        "trigger_type": "CRON",
        "run_type": "JOB_RUN",
        "run_name": "nightly",
        "compute_ids": ["0110-093000-x1y2z3ab"],
        "job_parameters": [("env", [("name", "prod")])],
    }
    return [
        base | {"period_start_time": T(10, 30), "period_end_time": T(11)},
        base
        | {
            "period_start_time": T(11),
            "period_end_time": T(11, 20),
            "result_state": "SUCCEEDED",
            "termination_code": "SUCCESS",
            "compute": [{"type": "CLUSTER", "cluster_id": "0110-093000-x1y2z3ab"}],
            "run_duration_seconds": 3000,
        },
    ]


def query_rows() -> list[dict]:
    """A statement over several lines (quoted newlines in CSV), a deep struct, a tinyint."""
    return [
        {
            "account_id": "a",
            "workspace_id": "1234567890123456",
            "statement_id": "s-1",
            "executed_by": "me@acme.com",
            "execution_status": "FINISHED",
            "compute": {"type": "WAREHOUSE", "warehouse_id": "ec58ee3772e8d305"},
            "statement_text": "SELECT \"a\", 'b'\nFROM t\nWHERE x = 1",
            "statement_type": "SELECT",
            "total_duration_ms": 1234,
            "start_time": dt.datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC),
            "end_time": T(10, 1),
            "read_io_cache_percent": 97,
            "from_result_cache": False,
            "query_source": {"job_info": {"job_id": "987", "job_run_id": "555"}, "notebook_id": "nb"},
            "query_tags": [("team", "bi")],
        },
        {
            "account_id": "a",
            "workspace_id": "1234567890123456",
            "statement_id": "s-2",
            "execution_status": "FAILED",
            "statement_text": "",
            "error_message": '[INSUFFICIENT_PERMISSIONS] no, "really"',
            "statement_type": "MERGE",
            "start_time": T(11),
        },
    ]


def node_rows() -> list[dict]:
    return [
        {
            "account_id": "a",
            "workspace_id": "1234567890123456",
            "cluster_id": "0110-093000-x1y2z3ab",
            "instance_id": "i-1234a6c12a2681234",
            "start_time": T(10, 1),
            "end_time": T(10, 2),
            "driver": True,
            "cpu_user_percent": 12.5,
            "mem_used_percent": 40.25,
            "network_sent_bytes": 2**40,
            "disk_free_bytes_per_mount_point": [("/", 123456789012), ("/local_disk0", 1)],
        }
    ]


def table_of(name: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=system_table(name).arrow_schema())


HAND = {
    "billing.usage": usage_rows,
    "lakeflow.job_run_timeline": run_rows,
    "query.history": query_rows,
    "compute.node_timeline": node_rows,
}


def hand_tables() -> dict[str, pa.Table]:
    return {name: table_of(name, rows()) for name, rows in HAND.items()}


@pytest.fixture
def runtime(tmp_path):
    """A home with only a lakehouse: the loader needs nothing else."""
    from health_monitor.runtime import Runtime

    settings = Settings(home=tmp_path / "home")
    return Runtime(settings, LocalLakehouse(settings.lakehouse_dir), feature_store=None, registry=None)


@pytest.fixture(scope="module")
def simulated_system(tiny_account, tiny_config) -> dict[str, pa.Table]:
    """The first rows of every system table of the tiny simulated account."""
    from health_monitor.simulate.system import simulate_system_tables

    return {n: t.slice(0, 60) for n, t in simulate_system_tables(tiny_account.gold, 11, tiny_config).items()}


def write_export(root: Path, tables: dict[str, pa.Table], fmt: str) -> Path:
    """Each table in ``fmt``: parquet (a file), parquet-parts (a Spark folder of two parts),
    csv (RFC 4180, naive timestamps, CRLF), csv-spark (gzipped parts, backslash escapes),
    jsonl (NULLs left out)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if fmt == "parquet":
            pq.write_table(table, root / f"{name}.parquet")
        elif fmt == "parquet-parts":
            half = table.num_rows // 2
            (root / f"system.{name}").mkdir()
            for i, part in enumerate((table.slice(0, half), table.slice(half))):
                pq.write_table(part, root / f"system.{name}" / f"part-0000{i}-abc.snappy.parquet")
            (root / f"system.{name}" / "_SUCCESS").write_text("")
            (root / f"system.{name}" / ".part-00000-abc.snappy.parquet.crc").write_bytes(b"\x00crc")
        elif fmt == "csv":
            write_csv(root / f"{name}.csv", table, naive=True)
        elif fmt == "csv-spark":
            write_csv(root / name / "part-00000-abc-c000.csv.gz", table, spark_escapes=True)
            (root / name / "_SUCCESS").write_text("")
        elif fmt == "jsonl":
            write_jsonl(root / f"{name}.jsonl.gz", table)
        else:
            raise ValueError(fmt)
    return root


FORMATS = ["parquet", "parquet-parts", "csv", "csv-spark", "jsonl"]


# ---------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", FORMATS)
def test_hand_written_export_round_trips_value_by_value(tmp_path, fmt):
    tables = hand_tables()
    export = read_system_export(write_export(tmp_path / "export", tables, fmt))
    assert sorted(export.tables) == sorted(tables)
    for name, table in tables.items():
        got = export.tables[name]
        assert got.schema == system_table(name).arrow_schema(), name
        assert normalised(got) == normalised(table), name
    assert export.missing == sorted(set(system_tables()) - set(tables))
    assert not [w for w in export.warnings if "never seen" in w or "not in the reference" in w]


def test_quirks_survive_the_csv_round_trip(tmp_path):
    """Spot checks of what CSV makes hard: JSON text with quotes and backslashes, "" vs NULL,
    a statement over three lines, a decimal with 18 digits, microseconds, a nested map."""
    export = read_system_export(write_export(tmp_path / "export", hand_tables(), "csv"))
    usage = {r["record_id"]: r for r in export.tables["billing.usage"].to_pylist()}
    assert usage["r-4"]["usage_metadata"]["notebook_path"] == '/Users/a "b"\\c'
    assert usage["r-4"]["usage_metadata"]["job_id"] is None  # job usage on an all-purpose cluster
    assert dict(usage["r-1"]["custom_tags"]) == {"team": "data-eng", "cost_center": ""}
    assert usage["r-3"]["custom_tags"] == [] and usage["r-4"]["custom_tags"] is None
    assert usage["r-2"]["usage_quantity"] == Decimal("-1.123456789012345678")
    assert usage["r-1"]["identity_metadata"]["run_by"] == "me@acme.com"
    assert usage["r-1"]["product_features"]["networking"] == {"connectivity_type": "PUBLIC_IP"}
    queries = {r["statement_id"]: r for r in export.tables["query.history"].to_pylist()}
    assert queries["s-1"]["statement_text"] == "SELECT \"a\", 'b'\nFROM t\nWHERE x = 1"
    assert queries["s-1"]["start_time"] == dt.datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert queries["s-2"]["statement_text"] == "" and queries["s-2"]["executed_by"] is None
    runs = export.tables["lakeflow.job_run_timeline"].to_pylist()
    assert [r["result_state"] for r in runs] == [None, "SUCCEEDED"]
    assert runs[0]["job_parameters"] == [("env", [("name", "prod")])]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_every_simulated_system_table_round_trips(tmp_path, simulated_system, fmt):
    """All the reference schemas (the deep structs of query.history and the data-quality results
    included), with the simulator's values."""
    tables = simulated_system
    export = read_system_export(write_export(tmp_path / "export", tables, fmt))
    for name, table in tables.items():
        assert export.tables[name].schema == table.schema, name
        assert normalised(export.tables[name]) == normalised(table), name
    assert not [w for w in export.warnings if "never seen" in w]


def test_load_writes_every_table_into_the_system_catalog(tmp_path, runtime):
    tables = hand_tables()
    write_export(tmp_path / "export", tables, "parquet")
    steps = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_system_tables_into(runtime, tmp_path / "export", progress=steps.append)
    assert rows == {f"system.{n}": t.num_rows for n, t in sorted(tables.items())}
    for name, table in tables.items():
        assert normalised(runtime.lakehouse.read_arrow(f"system.{name}")) == normalised(table)
    assert "write system.billing.usage" in steps and "read system.billing.usage" in steps
    missing = [str(w.message) for w in caught if "not in the export" in str(w.message)]
    assert len(missing) == 1 and "access.audit" in missing[0]
    assert all(issubclass(w.category, SystemExportWarning) for w in caught)


def test_partition_folders_and_delta_tables_are_read(tmp_path):
    usage = table_of("billing.usage", usage_rows())
    root = tmp_path / "export"
    for day in ("2025-03-01", "2025-03-02"):
        (root / "billing.usage" / f"usage_date={day}").mkdir(parents=True)
        rows = usage.filter(pa.compute.equal(usage["usage_date"], pa.scalar(dt.date.fromisoformat(day))))
        pq.write_table(
            rows.drop_columns(["usage_date"]), root / "billing.usage" / f"usage_date={day}" / "part-0.parquet"
        )
    from deltalake import write_deltalake

    runs = table_of("lakeflow.job_run_timeline", run_rows())
    write_deltalake(str(root / "lakeflow.job_run_timeline"), runs.slice(0, 1))
    write_deltalake(str(root / "lakeflow.job_run_timeline"), runs, mode="overwrite")  # the old file stays
    export = read_system_export(root)
    assert sorted(r["record_id"] for r in export.tables["billing.usage"].to_pylist()) == [
        "r-1",
        "r-2",
        "r-3",
        "r-4",
    ]
    by_id = {r["record_id"]: r["usage_date"] for r in export.tables["billing.usage"].to_pylist()}
    assert by_id["r-4"] == dt.date(2025, 3, 2) and by_id["r-1"] == dt.date(2025, 3, 1)
    assert normalised(export.tables["lakeflow.job_run_timeline"]) == normalised(runs)


def test_parquet_columns_of_other_types_are_conformed(tmp_path):
    """What other tools write: naive nanosecond timestamps (UTC), a zoned one, decimals as doubles
    and as text, IDs as numbers, 32-bit counts, dictionary-encoded strings."""
    rows = usage_rows()
    usage = table_of("billing.usage", rows)
    paris = pa.array([r["usage_end_time"] for r in rows], pa.timestamp("us", "UTC")).cast(
        pa.timestamp("ns", "Europe/Paris")
    )
    usage = _set_column(
        usage,
        "usage_start_time",
        pa.array([r["usage_start_time"].replace(tzinfo=None) for r in rows], pa.timestamp("ns")),
    )
    usage = _set_column(usage, "usage_end_time", paris)
    usage = _set_column(usage, "usage_quantity", pa.array([1.5, -1.5, 0.1, 3.0]))
    usage = _set_column(usage, "workspace_id", pa.array([1234567890123456] * 4))
    usage = _set_column(usage, "cloud", pa.array(["AWS"] * 4).dictionary_encode())
    nodes = table_of("compute.node_timeline", node_rows())
    nodes = _set_column(nodes, "network_sent_bytes", pa.array([7], pa.int32()))
    nodes = _set_column(nodes, "cpu_user_percent", pa.array(["12.5"]))
    root = tmp_path / "export"
    write_export(root, {"billing.usage": usage, "compute.node_timeline": nodes}, "parquet")
    export = read_system_export(root)
    got = export.tables["billing.usage"].to_pylist()
    assert [r["usage_start_time"] for r in got] == [r["usage_start_time"] for r in rows]
    assert [r["usage_end_time"] for r in got] == [r["usage_end_time"] for r in rows]
    assert [r["usage_quantity"] for r in got] == [Decimal(x) for x in ("1.5", "-1.5", "0.1", "3")]
    assert {r["workspace_id"] for r in got} == {"1234567890123456"} and {r["cloud"] for r in got} == {"AWS"}
    node = export.tables["compute.node_timeline"].to_pylist()[0]
    assert node["network_sent_bytes"] == 7 and node["cpu_user_percent"] == 12.5
    assert export.tables["billing.usage"].schema == system_table("billing.usage").arrow_schema()


# ---------------------------------------------------------------------------------- warnings


def test_newer_databricks_shapes_load_with_warnings(tmp_path):
    """Extra columns and struct fields (a newer export), columns in another order, new enum
    values, and the columns and struct fields an older export lacks."""
    usage = table_of("billing.usage", usage_rows())
    metadata = usage["usage_metadata"].combine_chunks()
    kept = [f.name for f in metadata.type if f.name != "agent_bricks_id"]  # older than the reference
    wider = pa.StructArray.from_arrays(
        [metadata.field(n) for n in kept] + [pa.array(["p-1", None, None, None])],
        names=kept + ["project_id"],
    )
    identity = usage["identity_metadata"].combine_chunks()
    older_identity = pa.StructArray.from_arrays(
        [identity.field(n) for n in ("run_as", "created_by", "owned_by")],
        names=["run_as", "created_by", "owned_by"],
        mask=identity.is_null(),
    )
    usage = (
        usage.set_column(usage.schema.get_field_index("usage_metadata"), "usage_metadata", wider)
        .set_column(usage.schema.get_field_index("identity_metadata"), "identity_metadata", older_identity)
        .set_column(
            usage.schema.get_field_index("record_type"),
            "record_type",
            pa.array(["ORIGINAL", "CORRECTION", "CORRECTION", "ADJUSTMENT"]),
        )
        .append_column("usage_policy_tier", pa.array(["gold"] * 4))
    )
    usage = usage.select(list(reversed(usage.column_names)))
    runs = table_of("lakeflow.job_run_timeline", run_rows())
    runs = runs.drop_columns([c.name for c in system_table("lakeflow.job_run_timeline").columns if c.newer])
    root = tmp_path / "export"
    write_export(root, {"billing.usage": usage, "lakeflow.job_run_timeline": runs}, "parquet")

    export = read_system_export(root)
    got = export.tables["billing.usage"]
    reference = system_table("billing.usage").arrow_schema()
    assert got.column_names == reference.names + ["usage_policy_tier"]
    assert got.schema.field("usage_metadata").type == reference.field("usage_metadata").type
    assert got["record_type"].to_pylist() == ["ORIGINAL", "CORRECTION", "CORRECTION", "ADJUSTMENT"]
    assert got["usage_policy_tier"].to_pylist() == ["gold"] * 4
    assert [r and r["run_by"] for r in got["identity_metadata"].to_pylist()] == [None, None, None, None]
    assert got["identity_metadata"].to_pylist()[0]["run_as"] == "svc@acme.com"
    assert export.tables["lakeflow.job_run_timeline"]["compute"].null_count == 2

    text = "\n".join(export.warnings)
    assert (
        "billing.usage: column(s) not in the reference, loaded after the reference columns: usage_policy_tier"
        in text
    )
    assert "billing.usage.usage_metadata: struct field(s) not in the reference, dropped: project_id" in text
    assert (
        "billing.usage.identity_metadata: struct field(s) Databricks added after 2025" in text
        and "run_by" in text
    )
    assert "billing.usage.usage_metadata: struct field(s) of the reference are not in the export" in text
    assert "billing.usage.record_type: value(s) never seen before" in text
    assert "'CORRECTION' (2 rows), 'ADJUSTMENT' (1 row)" in text
    newer = next(
        w for w in export.warnings if w.startswith("lakeflow.job_run_timeline: column(s) Databricks added")
    )
    assert "compute" in newer and "run_duration_seconds" in newer
    assert len(export.warnings) == 6


def test_csv_extra_columns_and_struct_fields_load_with_warnings(tmp_path):
    usage = table_of("billing.usage", usage_rows())
    root = tmp_path / "export"
    write_csv(root / "billing.usage.csv", usage)
    lines = (root / "billing.usage.csv").read_text().splitlines()
    lines[0] += ',"new_col"'
    lines[1] = lines[1].replace('{""cluster_id""', '{""brand_new"":""x"",""cluster_id""') + ',"v"'
    for i in range(2, len(lines)):
        lines[i] += ","
    (root / "billing.usage.csv").write_text("\n".join(lines) + "\n")
    export = read_system_export(root)
    assert export.tables["billing.usage"]["new_col"].to_pylist() == ["v", None, None, None]
    assert normalised(export.tables["billing.usage"].drop_columns(["new_col"])) == normalised(usage)
    assert any(
        "usage_metadata: struct field(s) not in the reference, dropped: brand_new" in w
        for w in export.warnings
    )
    assert any("loaded after the reference columns: new_col" in w for w in export.warnings)


def test_files_that_are_not_system_tables_are_ignored_with_a_warning(tmp_path, runtime):
    root = write_export(
        tmp_path / "export", {"compute.node_timeline": table_of("compute.node_timeline", node_rows())}, "csv"
    )
    (root / "README.md").write_text("my export")
    pq.write_table(pa.table({"x": [1]}), root / "compute.instance_events.parquet")
    (root / "notes").mkdir()
    (root / "compute.node_timeline.csv").rename(root / "compute.node_timeline.csv.tmp")
    (root / "compute.node_timeline").mkdir()
    (root / "compute.node_timeline.csv.tmp").rename(root / "compute.node_timeline" / "part-0.csv")
    (root / "compute.node_timeline" / "manifest.txt").write_text("x")
    export = read_system_export(root)
    assert (
        "ignored (not system tables): README.md, compute.instance_events.parquet, notes/" in export.warnings
    )
    assert "compute.node_timeline/: ignored file(s) that are not part files: manifest.txt" in export.warnings
    assert list(export.tables) == ["compute.node_timeline"]


# ---------------------------------------------------------------------------------- empty and missing


def test_empty_tables_load_with_the_reference_schema(tmp_path, runtime):
    """0 rows of tables with maps, structs and arrays: an empty Parquet file, a CSV with only its
    header, and Spark's JSON output of an empty DataFrame (one empty part file)."""
    root = tmp_path / "export"
    root.mkdir()
    pq.write_table(system_table("billing.usage").arrow_schema().empty_table(), root / "billing.usage.parquet")
    pq.write_table(
        system_table("lakeflow.job_run_timeline").arrow_schema().empty_table(),
        root / "lakeflow.job_run_timeline.parquet",
    )
    write_csv(root / "query.history.csv", system_table("query.history").arrow_schema().empty_table())
    (root / "compute.node_timeline").mkdir()
    (root / "compute.node_timeline" / "part-00000-abc-c000.json").write_bytes(b"")
    (root / "compute.node_timeline" / "_SUCCESS").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_system_tables_into(runtime, root)
    assert any("part-00000-abc-c000.json: no rows" in str(w.message) for w in caught)
    names = ["billing.usage", "compute.node_timeline", "lakeflow.job_run_timeline", "query.history"]
    assert rows == {f"system.{n}": 0 for n in names}
    for name in names:
        stored = runtime.lakehouse.read_arrow(f"system.{name}")
        assert stored.num_rows == 0 and stored.column_names == list(system_table(name).column_names)
    export = read_system_export(root)
    for name in names:
        assert export.tables[name].schema == system_table(name).arrow_schema()


def test_an_export_with_one_table_loads_only_that_table(tmp_path, runtime):
    full = write_export(tmp_path / "full", hand_tables(), "parquet")
    with pytest.warns(SystemExportWarning):
        load_system_tables_into(runtime, full)
    nodes = {"compute.node_timeline": table_of("compute.node_timeline", node_rows())}
    root = write_export(tmp_path / "export", nodes, "jsonl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_system_tables_into(runtime, root)
    assert rows == {"system.compute.node_timeline": 1}
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("tables not in the export") and "billing.usage" in m for m in messages)
    stale = next(m for m in messages if m.startswith("the home keeps system tables"))
    assert "system.billing.usage" in stale and "system.compute.node_timeline" not in stale
    assert "billing.usage" in read_system_export(root).missing


# ---------------------------------------------------------------------------------- errors


def _usage() -> pa.Table:
    return table_of("billing.usage", usage_rows())


def _usage_csv_lines(root: Path) -> list[str]:
    write_csv(root / "billing.usage.csv", _usage())
    return (root / "billing.usage.csv").read_text().splitlines()


def _edit_csv(root: Path, line: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` on (1-based) ``line`` of billing.usage.csv."""
    lines = _usage_csv_lines(root)
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    (root / "billing.usage.csv").write_text("\n".join(lines) + "\n")


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _without_field(table: pa.Table, column: str, drop: str) -> pa.Table:
    arr = table[column].combine_chunks()
    keep = [f.name for f in arr.type if f.name != drop]
    return _set_column(table, column, pa.StructArray.from_arrays([arr.field(n) for n in keep], names=keep))


def _json_lines(root: Path, edit) -> None:
    write_jsonl(root / "billing.usage.jsonl", _usage())
    lines = (root / "billing.usage.jsonl").read_text().splitlines()
    edit(lines)
    (root / "billing.usage.jsonl").write_text("\n".join(lines) + "\n")


def _parquet(root: Path, table: pa.Table, name: str = "billing.usage.parquet") -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / name)


def _latin1(root: Path) -> int:
    """billing.usage.csv with one Latin-1 byte; returns its offset."""
    write_csv(root / "billing.usage.csv", _usage())
    data = (root / "billing.usage.csv").read_bytes().replace(b"data-eng", b"donn\xe9es", 1)
    (root / "billing.usage.csv").write_bytes(data)
    return data.index(b"\xe9")


def _two_formats(root: Path) -> None:
    _parquet(root, _usage(), "billing.usage/part-0.parquet")
    write_csv(root / "billing.usage" / "part-1.csv", _usage())


BAD_EXPORTS = {
    "missing column": (
        lambda root: _parquet(root, _usage().drop_columns(["usage_quantity"])),
        ["billing.usage.parquet", "billing.usage is missing column(s)", "usage_quantity (decimal(38,18))"],
    ),
    "struct where a string is expected": (
        lambda root: _parquet(root, _set_column(_usage(), "sku_name", pa.array([{"a": 1}] * 4))),
        ["billing.usage.parquet, row 1", "billing.usage.sku_name", "expected string, found struct<a:bigint>"],
    ),
    "text that is not a timestamp": (
        lambda root: _edit_csv(root, 3, '"2025-03-01T10:00:00+00:00"', '"yesterday"'),
        [
            "billing.usage.csv: line 3",
            "billing.usage.usage_start_time",
            "cannot read 'yesterday' as timestamp",
        ],
    ),
    "text that is not a decimal": (
        lambda root: _edit_csv(root, 4, '"0.500000000000000000"', '"0.5.1"'),
        ["billing.usage.csv: line 4", "billing.usage.usage_quantity", "'0.5.1'"],
    ),
    "JSON text that does not parse": (
        lambda root: _edit_csv(root, 2, '"{""cluster_id""', '"{not json'),
        ["billing.usage.csv: line 2", "billing.usage.usage_metadata", "not valid JSON text"],
    ),
    "a nested value of the wrong type": (
        lambda root: _edit_csv(root, 4, '""is_photon"":true', '""is_photon"":""yes""'),
        ["billing.usage.csv: line 4", "billing.usage.product_features.is_photon", "'yes'", "boolean"],
    ),
    "a JSON object where a string is expected": (
        lambda root: _json_lines(
            root,
            lambda lines: lines.__setitem__(
                1, lines[1].replace('"sku_name":"PREMIUM_JOBS_COMPUTE"', '"sku_name":{"a":1}')
            ),
        ),
        ["billing.usage.jsonl: line 2", "billing.usage.sku_name", "cannot read {'a': 1} as string"],
    ),
    "a JSON date that is not a date": (
        lambda root: _json_lines(
            root,
            lambda lines: lines.__setitem__(
                2, lines[2].replace('"usage_date":"2025-03-01"', '"usage_date":"2025-02-30"')
            ),
        ),
        ["billing.usage.jsonl: line 3", "billing.usage.usage_date", "'2025-02-30'"],
    ),
    "a broken JSON line": (
        lambda root: _json_lines(root, lambda lines: lines.__setitem__(1, lines[1][:-5])),
        ["billing.usage.jsonl", "line 2", "not valid JSON"],
    ),
    "a stray quote in an unquoted field": (
        lambda root: _edit_csv(root, 3, '"PREMIUM_JOBS_COMPUTE"', 'PREMIUM_"JOBS_COMPUTE'),
        ["billing.usage.csv", "line 3", "stray quote"],
    ),
    "text after a closing quote": (
        lambda root: _edit_csv(root, 4, '"PREMIUM_JOBS_COMPUTE"', '"PREMIUM"_JOBS_COMPUTE'),
        ["billing.usage.csv", "line 4", "text after a closing quote"],
    ),
    "a quote that is not closed on its line": (
        lambda root: _edit_csv(root, 3, '"PREMIUM_JOBS_COMPUTE"', '"PREMIUM_JOBS_COMPUTE'),
        ["billing.usage.csv", "line 3", "text after a closing quote", "stray or unbalanced quote"],
    ),
    "a quoted field that runs into the next line": (
        lambda root: _edit_csv(root, 3, '"COMPUTE_TIME"', '"COMPUTE_TIME'),
        ["billing.usage.csv", "line 4", "the quoted field opened at line 3 ends here"],
    ),
    "a quote left open at the end of the file": (
        lambda root: _edit_csv(root, 5, '"COMPUTE_TIME"', '"COMPUTE_TIME'),
        ["billing.usage.csv", "line 5", "a quoted field that never closes"],
    ),
    "a row with too many fields": (
        lambda root: _edit_csv(root, 3, '"AWS"', '"AWS","extra"'),
        ["billing.usage.csv", "line 3", "19 fields, the header has 18"],
    ),
    "a 0-byte file": (
        lambda root: (root / "billing.usage.csv").write_bytes(b""),
        ["billing.usage.csv", "table billing.usage", "empty (0 bytes)"],
    ),
    "a 0-byte Parquet file": (
        lambda root: (root / "billing.usage.parquet").write_bytes(b""),
        ["billing.usage.parquet", "empty (0 bytes)"],
    ),
    "a file that is not UTF-8": (
        lambda root: _latin1(root),
        ["billing.usage.csv", "not UTF-8", "byte 0xe9 at byte offset"],
    ),
    "CSV in a file named .parquet": (
        lambda root: (root / "billing.usage.parquet").write_text("account_id,workspace_id\na,b\n"),
        ["billing.usage.parquet", "named .parquet but is not a Parquet file"],
    ),
    "Parquet in a file named .csv": (
        lambda root: _parquet(root, _usage(), "billing.usage.csv"),
        ["billing.usage.csv", "named .csv but is a Parquet file"],
    ),
    "gzip without .gz": (
        lambda root: (root / "billing.usage.jsonl").write_bytes(gzip.compress(b'{"a":1}\n')),
        ["billing.usage.jsonl", "gzip-compressed but its name does not end in .gz"],
    ),
    ".gz that is not gzip": (
        lambda root: (root / "billing.usage.csv.gz").write_text("account_id\na\n"),
        ["billing.usage.csv.gz", "named .gz but is not gzip-compressed"],
    ),
    "a JSON array, not JSON lines": (
        lambda root: (root / "billing.usage.json").write_text('[{"account_id": "a"}]'),
        ["billing.usage.json", "not JSON lines", "a JSON array"],
    ),
    "a CSV without its header row": (
        lambda root: (root / "billing.usage.csv").write_text("\n".join(_usage_csv_lines(root)[1:]) + "\n"),
        ["billing.usage.csv", "none of the columns of system.billing.usage", "header"],
    ),
    "a tinyint out of range": (
        lambda root: write_csv(
            root / "query.history.csv",
            table_of("query.history", query_rows()).set_column(
                system_table("query.history").arrow_schema().get_field_index("read_io_cache_percent"),
                "read_io_cache_percent",
                pa.array([97, 300], pa.int64()),
            ),
        ),
        ["query.history.csv", "query.history.read_io_cache_percent", "'300'", "tinyint"],
    ),
    "two files for one table": (
        lambda root: (_parquet(root, _usage()), write_csv(root / "system.billing.usage.csv", _usage())),
        ["billing.usage.parquet", "system.billing.usage.csv", "two files for table billing.usage"],
    ),
    "a format this reader does not know": (
        lambda root: (root / "billing.usage.xlsx").write_bytes(b"PK\x03\x04"),
        ["billing.usage.xlsx", "table billing.usage in a format this reader does not know"],
    ),
    "part files in two formats": (
        lambda root: _two_formats(root),
        ["billing.usage/", "several formats (csv, parquet)"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_EXPORTS))
def test_bad_exports_fail_with_one_clear_line_and_write_nothing(tmp_path, runtime, case):
    build, expected = BAD_EXPORTS[case]
    root = tmp_path / "export"
    root.mkdir()
    pq.write_table(table_of("compute.node_timeline", node_rows()), root / "compute.node_timeline.parquet")
    build(root)
    with pytest.raises(SystemExportError) as err:
        load_system_tables_into(runtime, root)
    message = str(err.value)
    assert "\n" not in message, message
    for part in expected:
        assert part in message, message
    assert isinstance(err.value, ValueError)
    assert runtime.lakehouse.list_tables("system") == []


def test_the_byte_offset_of_a_non_utf8_byte_is_exact(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    offset = _latin1(root)
    with pytest.raises(SystemExportError, match=rf"byte 0xe9 at byte offset {offset} "):
        read_system_export(root)


@pytest.mark.parametrize("block", [1, 2, 7, 64])
def test_the_scan_gives_the_same_answers_across_block_boundaries(tmp_path, monkeypatch, block):
    """The pre-parse scan reads blocks: a quote, a backslash run, a UTF-8 character or a JSON key
    cut by a block boundary must not change what it finds."""
    from health_monitor.system import loader

    monkeypatch.setattr(loader, "_SCAN_BLOCK", block)
    tables = hand_tables()
    for fmt in ("csv", "csv-spark", "jsonl"):
        export = read_system_export(write_export(tmp_path / fmt, tables, fmt))
        for name, table in tables.items():
            assert normalised(export.tables[name]) == normalised(table), (fmt, name)
    for case in (
        "a quoted field that runs into the next line",
        "a stray quote in an unquoted field",
        "a file that is not UTF-8",
    ):
        root = tmp_path / case
        root.mkdir()
        build, expected = BAD_EXPORTS[case]
        build(root)
        with pytest.raises(SystemExportError) as err:
            read_system_export(root)
        assert all(part in str(err.value) for part in expected), str(err.value)
    root = tmp_path / "utf8"
    root.mkdir()
    offset = _latin1(root)
    with pytest.raises(SystemExportError, match=rf"byte 0xe9 at byte offset {offset} "):
        read_system_export(root)
