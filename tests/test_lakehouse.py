"""The embedded lakehouse: names, atomic replacement, versions, Arrow and Spark round trips."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from health_monitor.errors import (
    ConfigError,
    PrimaryKeyError,
    SchemaError,
    TableNotFoundError,
    WriteCountError,
)
from health_monitor.lakehouse import local as local_lakehouse
from health_monitor.lakehouse.local import LocalLakehouse
from tests.fakes import file_days


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


def _driver_misses_one_file(monkeypatch):
    """Fault injection at the seam where the driver lists what the executors wrote: the first file
    is not seen (as when an executor's disk is not the driver's)."""
    listed = local_lakehouse._listed_parquet
    monkeypatch.setattr(local_lakehouse, "_listed_parquet", lambda spark, folder: listed(spark, folder)[1:])


def test_a_write_whose_files_the_driver_cannot_all_see_raises_and_commits_nothing(lake, spark, monkeypatch):
    lake.write("c.s.t", spark.range(4).selectExpr("id"))
    first_version = {p.name for p in lake.path("c.s.t").glob("v-*")}
    _driver_misses_one_file(monkeypatch)
    with pytest.raises(
        WriteCountError, match=r"table c\.s\.t: Spark's executors wrote 90 row\(s\) but the driver sees"
    ):
        lake.write("c.s.t", spark.range(90).repartition(3).selectExpr("id"))
    assert lake.version("c.s.t") == 0 and sorted(lake.read_arrow("c.s.t").column("id").to_pylist()) == [
        0,
        1,
        2,
        3,
    ]
    # The uncommitted version's files that the driver could see are gone too: nothing half-published.
    assert {p.name for p in lake.path("c.s.t").glob("v-*")} == first_version
    monkeypatch.undo()
    assert lake.write("c.s.t", spark.range(90).repartition(3).selectExpr("id")).rows == 90


def test_a_first_write_whose_files_the_driver_cannot_see_creates_no_table(lake, spark, monkeypatch):
    _driver_misses_one_file(monkeypatch)
    with pytest.raises(WriteCountError, match=r"table c\.s\.new: .* nothing committed"):
        lake.write("c.s.new", spark.range(5).selectExpr("id"))
    assert not lake.exists("c.s.new") and lake.list_tables() == []


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


# ------------------------------------------------------------------ days clustered, days replaced


def _days(spark, first: dt.date, days: int, per_day: int, value: str):
    """``per_day`` rows for each of ``days`` days from ``first``, with a timestamp column."""
    return spark.range(days * per_day).selectExpr(
        f"cast(id as string) || '-{value}' as k",
        f"timestamp(date_add(date'{first}', cast(floor(id / {per_day}) as int))) + make_interval(0, 0, 0, 0, 0, 0, id % {per_day}) as ts",
        f"'{value}' as v",
    )


@pytest.fixture
def clustered(lake, spark, monkeypatch):
    """60 days of 10 rows, written as files of about a week (the row cap lowered to 70)."""
    monkeypatch.setattr("health_monitor.lakehouse.layout.CLUSTER_FILE_ROWS", 70)
    lake.write("c.s.f", _days(spark, dt.date(2026, 1, 1), 60, 10, "old"), primary_keys=["k"], cluster_by="ts")
    return lake


def test_a_write_clustered_by_day_holds_whole_contiguous_days_per_file(clustered):
    ranges = sorted(file_days(clustered, "c.s.f").values())
    assert len(ranges) == 9  # ceil(60 days / 7), the row cap allowing it
    for (_, last), (first, _) in zip(ranges, ranges[1:], strict=False):
        assert last < first  # no day is split across files, and the files do not overlap
    assert ranges[0][0] == dt.date(2026, 1, 1) and ranges[-1][1] == dt.date(2026, 3, 1)


def test_replace_where_rewrites_only_the_files_of_the_latest_days(clustered, spark):
    before = file_days(clustered, "c.s.f")
    since = dt.date(2026, 2, 25)
    info = clustered.replace_where(
        "c.s.f", _days(spark, since, 10, 3, "new"), column="ts", since=since, primary_keys=["k"]
    )
    after = file_days(clustered, "c.s.f")
    untouched = {p for p, (_, last) in before.items() if last < since}
    assert untouched <= set(after) and len(untouched) >= len(before) - 2
    assert info.version == 1 and info.rows == 55 * 10 + 10 * 3 and info.written == 10 * 3
    rows = clustered.read("c.s.f").selectExpr("to_date(ts) as d", "v").collect()
    assert {r.v for r in rows if r.d < since} == {"old"} and {r.v for r in rows if r.d >= since} == {"new"}
    assert len(rows) == info.rows
    assert clustered.read("c.s.f", version=0).count() == 600  # the old version is still readable


@pytest.mark.parametrize("kind", ["timestamp", "timestamp_ntz", "date"])
def test_the_rows_a_straddling_file_keeps_are_counted_as_spark_filters_them(spark, tmp_path, kind):
    """replace_where counts the kept rows of a file across ``since`` from its day column with
    Arrow; the count and days must be those of Spark's ``to_date(ts) < since``."""
    from pyspark.sql import functions as F

    from health_monitor.lakehouse.local import _span_before

    stamps = [
        "1969-12-31 23:00:00",  # before the epoch: days are floored, not truncated
        "2026-02-24 23:59:59.999999",
        "2026-02-25 00:00:00",
        "2026-02-26 12:00:00",
        None,  # a null day is not before `since`
        "2026-02-20 00:00:01",
    ]
    cast = {"timestamp": "timestamp", "timestamp_ntz": "timestamp_ntz", "date": "date"}[kind]
    df = spark.createDataFrame([(s,) for s in stamps], "s string").selectExpr(f"cast(s as {cast}) as ts")
    df.coalesce(1).write.parquet(str(tmp_path / "f"))
    files = sorted((tmp_path / "f").glob("*.parquet"))
    for since in (dt.date(2026, 2, 25), dt.date(2026, 2, 21), dt.date(1970, 1, 1), dt.date(1960, 1, 1)):
        got = _span_before(files, "ts", since)
        day = F.to_date("ts")
        want = df.filter(day < F.lit(since)).agg(F.count(F.lit(1)), F.min(day), F.max(day)).collect()[0]
        assert (got.rows, got.first, got.last) == tuple(want), (kind, since)


def test_replace_where_refuses_rows_before_since_and_commits_nothing(clustered, spark):
    with pytest.raises(SchemaError, match="before 2026-02-25"):
        clustered.replace_where(
            "c.s.f", _days(spark, dt.date(2026, 2, 20), 10, 1, "new"), column="ts", since=dt.date(2026, 2, 25)
        )
    with pytest.raises(SchemaError, match="table's schema"):
        clustered.replace_where(
            "c.s.f",
            _days(spark, dt.date(2026, 3, 1), 1, 1, "new").drop("v"),
            column="ts",
            since=dt.date(2026, 3, 1),
        )
    boom = _days(spark, dt.date(2026, 3, 1), 2, 5, "new").selectExpr(
        "k", "ts", "cast(raise_error('fail mid-write') as string) as v"
    )
    with pytest.raises(Exception, match="fail mid-write"):
        clustered.replace_where("c.s.f", boom, column="ts", since=dt.date(2026, 3, 1))
    assert clustered.version("c.s.f") == 0 and clustered.describe("c.s.f").rows == 600


def test_replace_where_refuses_null_or_repeated_keys_and_commits_nothing(clustered, spark):
    since = dt.date(2026, 3, 1)
    new = _days(spark, since, 2, 3, "new")
    with pytest.raises(PrimaryKeyError, match=r"table c\.s\.f: primary key \['k'\] has 2 duplicated key"):
        clustered.replace_where("c.s.f", new.unionByName(new.limit(2)), column="ts", since=since)
    nulls = new.selectExpr("cast(null as string) as k", "ts", "v").limit(1)
    with pytest.raises(PrimaryKeyError, match="1 row"):  # the table's own keys when none are given
        clustered.replace_where("c.s.f", new.unionByName(nulls), column="ts", since=since)
    assert clustered.version("c.s.f") == 0 and clustered.describe("c.s.f").rows == 600


def test_the_key_check_counts_rows_and_days_in_one_pass(spark):
    from pyspark.sql import functions as F

    from health_monitor.lakehouse.keys import KeyCheck, check_primary_key

    df = _days(spark, dt.date(2026, 1, 1), 5, 4, "x")
    day = F.to_date("ts")
    assert check_primary_key("t", df, ["k"]) == KeyCheck(20)
    assert check_primary_key("t", df, ["k"], day, dt.date(2026, 1, 3)) == KeyCheck(
        20, dt.date(2026, 1, 1), dt.date(2026, 1, 5), early=8
    )
    # No key: every row counted once (none is a duplicate of another), nothing refused.
    assert check_primary_key("t", df.drop("k"), [], day, dt.date(2026, 1, 2)).early == 4
    assert check_primary_key("t", df.limit(0), ["k"], day) == KeyCheck(0)
    with pytest.raises(SchemaError, match=r"table t: primary key column\(s\) \['nope'\]"):
        check_primary_key("t", df, ["nope"])


def test_replace_where_whose_files_the_driver_cannot_all_see_commits_nothing(clustered, spark, monkeypatch):
    _driver_misses_one_file(monkeypatch)
    with pytest.raises(WriteCountError, match=r"table c\.s\.f: .* nothing committed"):
        clustered.replace_where(
            "c.s.f", _days(spark, dt.date(2026, 3, 1), 2, 5, "new"), column="ts", since=dt.date(2026, 3, 1)
        )
    assert clustered.version("c.s.f") == 0 and clustered.describe("c.s.f").rows == 600
