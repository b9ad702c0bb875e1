"""The Unity Catalog lakehouse's statements, executed on local Spark.

``LocalNames`` maps ``catalog.schema.table`` to tables of one local database, and the tables are
Parquet (local Spark has no Delta: its jars come from Maven). So ``createOrReplace``,
``INSERT OVERWRITE``, ``SHOW TBLPROPERTIES``/``ALTER TABLE ... SET TBLPROPERTIES``,
``SHOW TABLES``, reads with filters and ``DROP`` run here for real; ``createOrReplace``, ``replaceWhere``, ``DESCRIBE
HISTORY``, ``RESTORE``, ``VACUUM`` and the journal's ``MERGE`` need Delta and run only on a
workspace (docs/databricks.md)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from health_monitor.errors import PrimaryKeyError, SchemaError, TableNotFoundError
from health_monitor.lakehouse.unity import LocalNames, UnityLakehouse

D = dt.date


@pytest.fixture
def uc(spark, tmp_path):
    database = f"hm_unity_{tmp_path.name[-12:].replace('-', '_')}"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{tmp_path}'")
    lakehouse = UnityLakehouse(lambda: spark, names=LocalNames(database), table_format="parquet")
    yield lakehouse
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")


def test_write_read_describe_and_list(uc, spark):
    df = spark.createDataFrame(
        [("a", D(2026, 1, 1), 1.0), ("b", D(2026, 1, 2), 2.0)], "k string, day date, f double"
    )
    info = uc.write(
        "cat.features.f", df, primary_keys=["k", "day"], timestamp_key="day", description="it's new"
    )
    assert (info.full_name, info.rows) == ("cat.features.f", 2)
    assert info.columns == [("k", "string"), ("day", "date"), ("f", "double")]
    assert (info.primary_keys, info.timestamp_key, info.description) == (["k", "day"], "day", "it's new")
    assert uc.exists("cat.features.f") and not uc.exists("cat.features.g")
    uc.write("cat.gold.g", pa.table({"x": [1, 2, 3]}))  # Arrow in, as the local lakehouse takes it
    assert uc.list_tables("cat") == ["cat.features.f", "cat.gold.g"]
    assert uc.list_tables("cat", "gold") == ["cat.gold.g"]
    got = uc.read_arrow("cat.features.f", columns=["k", "f"], filters=[("day", ">=", D(2026, 1, 2))])
    assert got.to_pylist() == [{"k": "b", "f": 2.0}]
    with pytest.raises(SchemaError, match="no column"):
        uc.read_arrow("cat.features.f", columns=["nope"])
    with pytest.raises(TableNotFoundError):
        uc.read("cat.features.g")


def test_a_rewrite_with_the_same_columns_keeps_the_table_and_its_properties(uc, spark):
    uc.write(
        "c.s.t", spark.createDataFrame([("a", 1)], "k string, v int"), primary_keys=["k"], description="d"
    )
    uc.write("c.s.t", spark.createDataFrame([("b", 2), ("c", 3)], "k string, v int"), primary_keys=["k"])
    assert sorted(map(tuple, uc.read("c.s.t").collect())) == [("b", 2), ("c", 3)]
    assert uc.describe("c.s.t").description == ""  # each write states its description
    # New columns: REPLACE TABLE AS SELECT, which only Delta tables support (not these Parquet ones).
    with pytest.raises(Exception, match="REPLACE TABLE AS SELECT"):
        uc.write("c.s.t", spark.createDataFrame([("z", 1.5)], "k string, w double"), primary_keys=["k"])
    assert sorted(map(tuple, uc.read("c.s.t").collect())) == [("b", 2), ("c", 3)]
    uc.drop("c.s.t")
    assert not uc.exists("c.s.t")


def test_a_key_missing_from_the_data_is_refused_before_anything_is_written(uc, spark):
    with pytest.raises(SchemaError, match="'day' is not in the data"):
        uc.write("c.s.t", spark.createDataFrame([("a", 1)], "k string, v int"), primary_keys=["k", "day"])
    assert not uc.exists("c.s.t")


def test_replace_where_refuses_repeated_keys_or_early_rows_before_writing(uc, spark):
    """The checks run here; the replaceWhere write itself needs Delta (a workspace)."""
    schema = "k string, day date, v int"
    uc.write("c.s.t", spark.createDataFrame([("a", D(2026, 1, 1), 1)], schema), primary_keys=["k", "day"])
    twice = spark.createDataFrame([("b", D(2026, 1, 2), 1), ("b", D(2026, 1, 2), 2)], schema)
    with pytest.raises(PrimaryKeyError, match=r"table c\.s\.t: primary key \['k', 'day'\] has 1 duplicated"):
        uc.replace_where("c.s.t", twice, column="day", since=D(2026, 1, 2))  # the table's own keys
    early = spark.createDataFrame([("b", D(2026, 1, 1), 1), ("c", D(2026, 1, 2), 2)], schema)
    with pytest.raises(SchemaError, match="given 1 row"):
        uc.replace_where("c.s.t", early, column="day", since=D(2026, 1, 2), primary_keys=["k", "day"])
    assert [tuple(r) for r in uc.read("c.s.t").collect()] == [("a", D(2026, 1, 1), 1)]


def test_versions_need_delta(uc, spark):
    uc.write("c.s.t", spark.createDataFrame([("a", 1)], "k string, v int"))
    assert uc.describe("c.s.t").version is None
    with pytest.raises(SchemaError, match="versions need Delta"):
        uc.version("c.s.t")
