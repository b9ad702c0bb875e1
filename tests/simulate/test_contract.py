from pathlib import Path

import pyarrow as pa
import pytest

from health_monitor.gold import (
    GOLD_TABLES,
    GoldContractError,
    arrow_schema,
    check_table,
    conform,
    render_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gold-contract.md"


def test_every_gold_table_is_generated_and_conforms(small_account):
    assert list(small_account.gold) == list(GOLD_TABLES)
    for name, table in small_account.gold.items():
        check_table(name, table)
        assert table.schema.equals(arrow_schema(GOLD_TABLES[name])), name
        assert table.num_rows > 0, name


def test_docs_are_rendered_from_the_contract():
    assert DOCS.read_text() == render_markdown()


def _usage(small_account) -> pa.Table:
    return small_account.gold["fact_usage"].slice(0, 50)


def test_missing_column_names_table_and_column(small_account):
    t = _usage(small_account).drop_columns(["sku_name"])
    with pytest.raises(GoldContractError, match=r"fact_usage: missing column\(s\) sku_name"):
        check_table("fact_usage", t)


def test_wrong_type_names_expected_and_found(small_account):
    t = _usage(small_account)
    i = t.column_names.index("usage_quantity")
    t = t.set_column(i, "usage_quantity", t.column(i).cast(pa.string()))
    with pytest.raises(GoldContractError) as err:
        check_table("fact_usage", t)
    msg = str(err.value)
    assert "fact_usage.usage_quantity" in msg and "expected double" in msg and "found string" in msg


def test_duplicate_and_null_keys_are_counted(small_account):
    t = _usage(small_account)
    with pytest.raises(GoldContractError, match="3 duplicate primary key"):
        check_table("fact_usage", pa.concat_tables([t, t.slice(0, 3)]))
    i = t.column_names.index("record_id")
    nulled = t.set_column(i, "record_id", pa.array([None] * 2 + t.column(i).to_pylist()[2:], pa.string()))
    with pytest.raises(GoldContractError, match="fact_usage.record_id: 2 null"):
        check_table("fact_usage", nulled)


def test_conform_casts_safe_types_and_orders_columns(small_account):
    t = small_account.gold["dim_job_sla"]
    shuffled = t.select(list(reversed(t.column_names)))
    i = shuffled.column_names.index("sla_end_hour_utc")
    shuffled = shuffled.set_column(i, "sla_end_hour_utc", shuffled.column(i).cast(pa.int64()))
    shuffled = shuffled.append_column("unexpected", pa.array(range(t.num_rows)))
    out = conform("dim_job_sla", shuffled)
    assert out.equals(t)


def test_conform_parses_text_and_names_bad_values(small_account):
    t = small_account.gold["dim_workspace"]
    as_text = t.set_column(
        t.column_names.index("create_time"), "create_time", t.column("create_time").cast(pa.string())
    )
    assert conform("dim_workspace", as_text).column("create_time").equals(t.column("create_time"))
    bad = as_text.set_column(
        as_text.column_names.index("create_time"), "create_time", pa.array(["not a time"] * t.num_rows)
    )
    with pytest.raises(GoldContractError, match=r"dim_workspace.create_time: cannot parse 'not a time'"):
        conform("dim_workspace", bad)


def test_unknown_table_is_an_error():
    with pytest.raises(GoldContractError, match="unknown Gold table"):
        check_table("fact_nothing", pa.table({"a": [1]}))
