"""The embedded lakehouse: names, atomic replacement, versions, Arrow and Spark round trips."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from health_monitor.errors import ConfigError, SchemaError, TableNotFoundError
from health_monitor.lakehouse.local import LocalLakehouse


@pytest.fixture
def lake(tmp_path, spark):
    return LocalLakehouse(tmp_path / "lake")


def test_names_must_be_three_plain_identifiers(lake):
    for bad in ["a.b", "a.b.c.d", "a.b.c;drop", "a.b.`c`", "", "a..c"]:
        with pytest.raises(ConfigError, match="catalog.schema.table"):
            lake.path(bad)


def test_arrow_write_read_and_describe(lake):
    table = pa.table(
        {"k": ["a", "b"], "ts": pa.array([1, 2], pa.timestamp("ns")), "d": [dt.date(2026, 1, 1)] * 2}
    )
    info = lake.write("c.s.t", table, primary_keys=["k"], description="demo")
    assert (info.rows, info.primary_keys, info.description, info.version) == (2, ["k"], "demo", 0)
    assert dict(info.columns)["ts"] == "timestamp"
    assert lake.read_arrow("c.s.t", columns=["k"]).column("k").to_pylist() == ["a", "b"]
    assert lake.read("c.s.t").count() == 2
    assert lake.list_tables() == ["c.s.t"]


def test_spark_write_replaces_and_keeps_old_versions(lake, spark):
    lake.write("c.s.t", spark.range(10).selectExpr("id", "'x' as s"))
    lake.write("c.s.t", spark.range(3).selectExpr("id"))
    assert lake.read("c.s.t").columns == ["id"] and lake.read("c.s.t").count() == 3
    assert lake.read("c.s.t", version=0).count() == 10
    assert lake.describe("c.s.t").rows == 3


def test_an_empty_dataframe_writes_an_empty_table_with_its_schema(lake, spark):
    lake.write("c.s.e", spark.range(5).selectExpr("id", "cast(id as double) v").limit(0))
    df = lake.read("c.s.e")
    assert df.count() == 0 and df.columns == ["id", "v"]


def test_a_failed_spark_write_leaves_the_previous_version_intact(lake, spark):
    lake.write("c.s.t", spark.range(4).selectExpr("id"))
    boom = spark.range(100).selectExpr("id", "raise_error('fail mid-write') as x")
    with pytest.raises(Exception, match="fail mid-write"):
        lake.write("c.s.t", boom)
    assert lake.version("c.s.t") == 0
    assert sorted(lake.read_arrow("c.s.t").column("id").to_pylist()) == [0, 1, 2, 3]


def test_missing_tables_and_columns_are_named(lake):
    with pytest.raises(TableNotFoundError, match="c.s.nope"):
        lake.read("c.s.nope")
    lake.write("c.s.t", pa.table({"a": [1]}))
    with pytest.raises(SchemaError, match=r"c.s.t has no column\(s\) \['b'\]"):
        lake.read_arrow("c.s.t", columns=["b"])
    with pytest.raises(SchemaError, match="primary key column 'z'"):
        lake.write("c.s.t", pa.table({"a": [1]}), primary_keys=["z"])


def test_a_second_lakehouse_object_sees_the_same_tables(lake, tmp_path):
    lake.write("c.s.t", pa.table({"a": [1, 2]}))
    other = LocalLakehouse(tmp_path / "lake")
    assert other.read_arrow("c.s.t").num_rows == 2
