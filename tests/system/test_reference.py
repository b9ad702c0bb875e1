"""The system-table schemas against the reference, and a simulated home's system catalog."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest

from health_monitor.system.reference import TypeParseError, parse_type, system_table, system_tables, type_text

REFERENCE = (
    Path(__file__).resolve().parents[2] / "core" / "health_monitor" / "system" / "reference-columns.csv"
)

# The system tables the issue asks the simulator to emit, under their Databricks names.
EMITTED = (
    "billing.usage",
    "billing.list_prices",
    "access.audit",
    "access.table_lineage",
    "access.workspaces_latest",
    "query.history",
    "lakeflow.jobs",
    "lakeflow.job_tasks",
    "lakeflow.job_run_timeline",
    "lakeflow.job_task_run_timeline",
    "compute.clusters",
    "compute.node_timeline",
    "compute.warehouses",
    "compute.warehouse_events",
    "data_quality_monitoring.table_results",
    "information_schema.tables",
    "information_schema.columns",
)


def _reference_rows() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    with REFERENCE.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["table"].removeprefix("system."), []).append(row)
    return rows


def test_every_reference_column_is_in_its_table_with_the_latest_type():
    for table, rows in _reference_rows().items():
        schema = system_table(table)
        for row in rows:
            col = schema.column(row["column"])  # KeyError names the table and column
            latest = [r for r in rows if r["column"] == row["column"]][-1]
            if "..." in latest["full_data_type"]:
                continue  # an unverified struct: typed from a sibling table (see reference.py)
            text = latest["full_data_type"].split(" (assumed")[0]
            assert col.arrow_type == parse_type(text), f"{table}.{row['column']}"


def test_2025_columns_keep_their_ordinal_order():
    for table, rows in _reference_rows().items():
        ordered = [
            r["column"] for r in sorted((r for r in rows if r["ordinal"]), key=lambda r: int(r["ordinal"]))
        ]
        names = system_table(table).column_names
        assert list(names[: len(ordered)]) == ordered, table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("decimal(38,18)", pa.decimal128(38, 18)),
        ("map<string,bigint>", pa.map_(pa.string(), pa.int64())),
        (
            "array<struct<a:string,b:array<int>>>",
            pa.list_(pa.struct([("a", pa.string()), ("b", pa.list_(pa.int32()))])),
        ),
        ("long", pa.int64()),
        ("tinyint", pa.int8()),
    ],
)
def test_types_parse(text, expected):
    assert parse_type(text) == expected


@pytest.mark.parametrize("text", ["struct<a string>", "map<string>", "varchar2", "array<int"])
def test_bad_types_are_refused(text):
    with pytest.raises(TypeParseError):
        parse_type(text)


def test_a_simulated_home_lists_the_system_tables_with_the_reference_columns_and_types(
    tmp_path, spark, capsys
):
    from health_monitor.cli import main

    home = tmp_path / "home"
    args = ["--home", str(home)]
    assert main(["simulate", *args, "--days", "14", "--end-date", "2025-03-31"]) == 0
    capsys.readouterr()
    assert main(["tables", *args, "--json"]) == 0
    listed = {t["full_name"]: t for t in json.loads(capsys.readouterr().out)}
    for name in EMITTED:
        full = f"system.{name}"
        assert full in listed, f"{full} is not in the home"
        found = {c["name"]: c["type"] for c in listed[full]["columns"]}
        for col in system_tables()[name].columns:
            assert col.name in found, f"{full}.{col.name} is missing"
            assert found[col.name] == type_text(col.arrow_type), f"{full}.{col.name}: {found[col.name]}"
