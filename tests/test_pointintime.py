"""The point-in-time checker catches a feature that looks ahead, and passes one that does not."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk.specs import FeatureTable
from health_monitor.testing.pointintime import GoldAsOf, leaks


def _daily(tables, offset: int):
    usage = tables.gold("fact_usage").where(F.col("ingestion_date") <= F.col("usage_date"))
    daily = usage.groupBy("workspace_id", "usage_date").agg(F.sum("list_cost").alias("cost"))
    shifted = F.lag("cost", offset) if offset > 0 else F.lead("cost", -offset)
    return daily.select(
        "workspace_id",
        "usage_date",
        shifted.over(Window.partitionBy("workspace_id").orderBy("usage_date")).alias("x"),
    )


def _check(simulated_home, offset):
    table = FeatureTable(
        "probe", ("workspace_id", "usage_date"), lambda t: _daily(t, offset), timestamp_key="usage_date"
    )
    full = table.compute(simulated_home.tables).toPandas()
    days = sorted(full["usage_date"].unique())
    cutoff = days[len(days) // 2]
    as_of = table.compute(GoldAsOf(simulated_home.tables, cutoff)).toPandas()
    return leaks(table, full, as_of, cutoff)


def test_tomorrows_value_is_caught_as_a_leak(simulated_home):
    assert _check(simulated_home, offset=-1) == {"x": 2}  # one row per workspace, on the cutoff day


def test_yesterdays_value_is_not_a_leak(simulated_home):
    assert _check(simulated_home, offset=1) == {}


def test_versioned_tables_are_current_as_of_the_cutoff(simulated_home):
    import datetime as dt

    early = GoldAsOf(simulated_home.tables, dt.date(2000, 1, 1)).gold("dim_job")
    assert early.count() == 0
    jobs = GoldAsOf(simulated_home.tables, dt.date(2100, 1, 1)).gold("dim_job")
    per_job = jobs.groupBy("job_id").agg(F.sum(F.col("is_current").cast("int")).alias("n"))
    assert per_job.where("n != 1").count() == 0


def test_timestamp_keys_match_across_arrow_and_spark_readers():
    import datetime as dt

    import pandas as pd

    from health_monitor.sdk.specs import FeatureTable
    from health_monitor.testing.pointintime import leaks

    stamps = pd.to_datetime(["2026-01-01 10:00", "2026-01-02 23:30"])
    spec = FeatureTable("run_table", ("run_id", "ended_at"), lambda t: None, timestamp_key="ended_at")
    from_delta = pd.DataFrame({"run_id": [1, 2], "ended_at": stamps.tz_localize("UTC"), "x": [1.0, 2.0]})
    from_spark = pd.DataFrame({"run_id": [1, 2], "ended_at": stamps, "x": [1.0, 2.0]})
    assert leaks(spec, from_delta, from_spark, dt.date(2026, 1, 2)) == {}
    from_spark.loc[1, "x"] = 3.0
    assert leaks(spec, from_delta, from_spark, dt.date(2026, 1, 2)) == {"x": 1}
