import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from health_monitor.gold import GOLD_TABLES, GoldContractError, read_gold_export


def _csv_safe(table: pa.Table) -> pa.Table:
    """CSV has no maps: exports hold them as JSON objects."""
    import json

    for i, field in enumerate(table.schema):
        if pa.types.is_map(field.type):
            text = [None if v is None else json.dumps(dict(v)) for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def _export(account, root, csv=(), directory=()):
    for name, table in account.gold.items():
        if name in csv:
            pacsv.write_csv(_csv_safe(table), root / f"{name}.csv")
        elif name in directory:
            (root / name).mkdir()
            pq.write_table(table.slice(0, table.num_rows // 2), root / name / "part-0.parquet")
            pq.write_table(table.slice(table.num_rows // 2), root / name / "part-1.parquet")
        else:
            pq.write_table(table, root / f"{name}.parquet")


def test_round_trip_parquet_csv_and_directories(tiny_account, tmp_path):
    csv = ("dim_job", "fact_usage", "dim_workspace", "fact_audit_logs")
    _export(tiny_account, tmp_path, csv=csv, directory=("fact_node_timeline",))
    tables = read_gold_export(tmp_path)
    assert list(tables) == list(GOLD_TABLES)
    for name, table in tables.items():
        expected = tiny_account.gold[name]
        if name in csv:
            # CSV round trips values, not float bits beyond print precision.
            assert table.schema.equals(expected.schema), name
            assert table.num_rows == expected.num_rows, name
            assert table.drop_columns(
                [c for c in table.column_names if pa.types.is_floating(table.schema.field(c).type)]
            ).equals(
                expected.drop_columns(
                    [c for c in expected.column_names if pa.types.is_floating(expected.schema.field(c).type)]
                )
            ), name
        else:
            assert table.equals(expected), name


def test_missing_column_fails_before_anything_is_returned(tiny_account, tmp_path):
    _export(tiny_account, tmp_path)
    pq.write_table(
        tiny_account.gold["fact_query_history"].drop_columns(["read_bytes"]),
        tmp_path / "fact_query_history.parquet",
    )
    with pytest.raises(GoldContractError, match=r"fact_query_history: missing column\(s\) read_bytes"):
        read_gold_export(tmp_path)


def test_wrong_type_names_table_column_expected_and_found(tiny_account, tmp_path):
    _export(tiny_account, tmp_path)
    t = tiny_account.gold["dim_job"]
    t = t.set_column(t.column_names.index("is_current"), "is_current", pa.array(["maybe"] * t.num_rows))
    pq.write_table(t, tmp_path / "dim_job.parquet")
    with pytest.raises(GoldContractError, match=r"dim_job.is_current: cannot parse 'maybe' as bool"):
        read_gold_export(tmp_path)
    t = tiny_account.gold["dim_job"]
    t = t.set_column(t.column_names.index("task_count"), "task_count", pa.array([1.5] * t.num_rows))
    pq.write_table(t, tmp_path / "dim_job.parquet")
    with pytest.raises(GoldContractError, match=r"dim_job.task_count: cannot cast double to int"):
        read_gold_export(tmp_path)
    t = tiny_account.gold["dim_job"]
    t = t.set_column(t.column_names.index("tags"), "tags", pa.array([1] * t.num_rows))
    pq.write_table(t, tmp_path / "dim_job.parquet")
    with pytest.raises(
        GoldContractError, match=r"dim_job.tags: wrong type, expected map<string,string> .* found int64"
    ):
        read_gold_export(tmp_path)


def test_a_missing_table_is_a_warning_and_an_empty_export_an_error(tiny_account, tmp_path):
    _export(tiny_account, tmp_path)
    (tmp_path / "dim_sku.parquet").unlink()
    with pytest.warns(UserWarning, match=r"not in the export: dim_sku; .* will be skipped"):
        tables = read_gold_export(tmp_path)
    assert set(tables) == set(GOLD_TABLES) - {"dim_sku"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GoldContractError, match="no Gold table found"):
        read_gold_export(empty)


def test_unknown_files_are_ignored_with_a_warning(tiny_account, tmp_path):
    _export(tiny_account, tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="notes.txt"):
        tables = read_gold_export(tmp_path)
    assert set(tables) == set(GOLD_TABLES)


def test_a_stray_quote_in_a_csv_is_an_error_naming_the_file_and_line(tiny_account, tmp_path):
    """pyarrow alone would load the row with the next rows swallowed into one field (exit 0)."""
    _export(tiny_account, tmp_path, csv=("dim_workspace",))
    path = tmp_path / "dim_workspace.csv"
    lines = path.read_text().splitlines(keepends=True)
    first = lines[2].split(",")
    first[1] = '"' + first[1].strip('"')  # opens a quoted field that never closes
    lines[2] = ",".join(first)
    path.write_text("".join(lines))
    with pytest.raises(GoldContractError, match=r"dim_workspace.csv: line 3: .*quote"):
        read_gold_export(tmp_path)
