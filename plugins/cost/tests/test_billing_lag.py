"""A billing feed that lands days late: every usage day is still judged, with the lag it was
judged at, on the same first report as a feed on time, and nothing is read before it landed.

One account holds each simulated workspace four times: its billing ingested 0, 1 and 2 days
later (workspace ``<id>+<lag>``) and a feed that falls two days behind (``<id>+late``). The
lag is measured per workspace, so one computation of a feature table covers the four feeds."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.config import Settings
from health_monitor.testing.pointintime import GoldAsOf, leaks, naive_utc
from health_monitor_cost.billing import LAG, LAG_WINDOW_DAYS, billing_lag, judged_days
from health_monitor_cost.features import COST_FEATURES
from health_monitor_cost.models import COST_ANOMALY_DETECTOR
from health_monitor_cost.resource_features import RESOURCE_DAILY_SPEND

LAGS = (0, 1, 2)
FEEDS = (*(str(lag) for lag in LAGS), "late")
DAYS = 35
END = dt.date(2026, 10, 31)
SLIP = END - dt.timedelta(days=14)  # the +late workspaces' feed falls two days behind
DETECTOR_INPUTS = list(COST_ANOMALY_DETECTOR.input_names)


# Each feed bills its own copies of the account's workspaces and resources.
IDS = (
    "record_id",
    "workspace_id",
    "cluster_id",
    "job_id",
    "job_run_id",
    "run_id",
    "warehouse_id",
    "dlt_pipeline_id",
)


def _copy(table: pa.Table, feed: str) -> pa.Table:
    """``table`` with every id suffixed ``+<feed>``."""
    for column in IDS:
        if column in table.column_names:
            i = table.schema.get_field_index(column)
            ids = pc.binary_join_element_wise(table[column], pa.scalar(f"+{feed}"), "")
            table = table.set_column(i, column, ids)
    return table


def _feed(usage: pa.Table, feed: str) -> pa.Table:
    """``usage`` ingested ``feed`` days later, or (``late``) on time until ``SLIP`` and two
    days late from then on."""
    if feed == "late":
        lag = pc.if_else(pc.greater_equal(usage["usage_date"], pa.scalar(SLIP)), 2, 0).cast(pa.int32())
    else:
        lag = pa.scalar(int(feed), pa.int32())
    later = pc.add(usage["ingestion_date"].cast(pa.int32()), lag).cast(pa.date32())
    return usage.set_column(usage.schema.get_field_index("ingestion_date"), "ingestion_date", later)


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    """Gold of a small simulated account, once per feed."""
    from health_monitor.runtime import Runtime
    from health_monitor.simulate import SimulationConfig, simulate_account

    gold = simulate_account(SimulationConfig(scale="small", seed=11, days=DAYS, end_date=END)).gold
    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("lagging") / "home"))
    for name in ("fact_usage", "dim_cluster", "fact_job_run_timeline"):
        copies = [_copy(_feed(gold[name], f) if name == "fact_usage" else gold[name], f) for f in FEEDS]
        runtime.lakehouse.write(runtime.settings.gold(name), pa.concat_tables(copies))
    return runtime.tables


@pytest.fixture(scope="module")
def cost_features(tables):
    return COST_FEATURES.compute(tables).toPandas()


def _at(frame: pd.DataFrame, feed: int | str) -> pd.DataFrame:
    """The rows of the workspaces billed by ``feed``, under their own ids, dates as datetimes."""
    frame = frame[frame["workspace_id"].str.endswith(f"+{feed}")]
    return frame.assign(
        workspace_id=frame["workspace_id"].str.rsplit("+", n=1).str[0],
        **{c: pd.to_datetime(frame[c]) for c in ("usage_date", "as_of_date")},
    )


def test_a_feed_that_falls_behind_is_judged_once_a_day_at_its_new_lag(cost_features):
    """The ``+late`` workspaces' feed is on time, then two days late from ``SLIP``: the lag
    measured follows the bulk of the records, and each usage day is judged once, on the first
    day it is known."""
    days = _at(cost_features, "late").sort_values(["workspace_id", "usage_date"])
    first, last = days["usage_date"].min(), days["usage_date"].max()
    for _, judged in days.groupby("workspace_id"):
        assert list(judged["usage_date"]) == list(pd.date_range(first, last))
        assert judged["as_of_date"].is_monotonic_increasing
        assert ((judged["as_of_date"] - judged["usage_date"]).dt.days == judged[LAG]).all()
        before = judged["usage_date"] < pd.Timestamp(SLIP)
        assert (judged.loc[before, LAG] == 0).all()
        # The other workspaces' feed is on time, so the account's latest usage day does not
        # hold this one's days back: they are judged at the old lag until the lag measured
        # over LAG_WINDOW_DAYS turns (a whole account falling behind is held back at once).
        after = judged.loc[~before, LAG]
        assert after.is_monotonic_increasing and (after.tail(LAG_WINDOW_DAYS // 2) == 2).all()


def test_a_whole_account_falling_behind_is_held_back_at_once(spark):
    """When every workspace's feed slips (the usual case: one billing pipeline per account), no
    day is judged before something of it has landed, whatever the lag measured so far."""
    start = dt.date(2026, 1, 1)
    rows = [
        (w, start + dt.timedelta(u), start + dt.timedelta(u + (0 if u < 10 else 2) + (i == 3)), "ORIGINAL")
        for w in ("a", "b")
        for u in range(20)
        for i in range(4)
    ]
    usage = spark.createDataFrame(
        pd.DataFrame(rows, columns=["workspace_id", "usage_date", "ingestion_date", "record_type"])
    )
    judged = judged_days(billing_lag(usage, ["workspace_id"]), ["workspace_id"]).toPandas()
    for _, days in judged.sort_values("usage_date").groupby("workspace_id"):
        assert list(days["usage_date"]) == [start + dt.timedelta(u) for u in range(20)]
        assert list(days[LAG]) == [0] * 10 + [2] * 10


@pytest.mark.parametrize("lag", [1, 2])
def test_a_late_feed_gives_the_same_features_lag_days_later(cost_features, lag):
    on_time, late = _at(cost_features, 0), _at(cost_features, lag)
    assert len(on_time) > 0 and (on_time[LAG] == 0).all()
    assert (late[LAG] == lag).all()
    assert ((late["as_of_date"] - late["usage_date"]).dt.days == lag).all()
    # Every usage day of every workspace, judged on the same first report.
    keys = ["workspace_id", "usage_date"]
    a = on_time.drop(columns=["as_of_date", LAG]).set_index(keys).sort_index()
    b = late.drop(columns=["as_of_date", LAG]).set_index(keys).sort_index()
    assert a.index.equals(b.index)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
    # So the detector's inputs move from day to day as they do on time.
    spread = late[DETECTOR_INPUTS].std()
    assert (spread > 0).all(), f"constant detector inputs at lag {lag}: {spread[spread == 0].index.tolist()}"
    assert (late["daily_cost"] > 0).mean() > 0.9


def test_features_of_late_feeds_are_point_in_time(tables, cost_features):
    days = sorted(pd.to_datetime(cost_features["as_of_date"]).dt.date.unique())
    cutoff = days[len(days) // 2]
    as_of = COST_FEATURES.compute(GoldAsOf(tables, cutoff)).toPandas()
    assert leaks(COST_FEATURES, cost_features, as_of, cutoff) == {}


def test_resource_spend_is_judged_on_the_workspaces_day(tables, cost_features):
    spend = naive_utc(RESOURCE_DAILY_SPEND.compute(tables).toPandas())
    for lag in LAGS:
        at = _at(spend, lag)
        assert len(at) > 0 and (at[LAG] == lag).all()
        assert np.isclose(at["cost_reported"].sum(), _at(spend, 0)["cost_reported"].sum())
    judged = cost_features[["workspace_id", "usage_date", "as_of_date"]].astype(str)
    keys = spend[["workspace_id", "usage_date", "as_of_date"]].astype(str).drop_duplicates()
    assert len(keys.merge(judged)) == len(keys)


def test_late_and_stalled_feeds_are_reported(spark, cost_features):
    """`features` prints each workspace whose billing lands late on the latest day, and each
    whose usage days stopped being judged in the last weeks; an on-time feed says nothing."""
    from health_monitor_cost.billing import MAX_LAG_DAYS, lag_warnings

    judged = cost_features[["workspace_id", "usage_date", "as_of_date", LAG]]
    warnings = lag_warnings(spark.createDataFrame(judged))
    late = {w.split(":")[0].removeprefix("workspace ") for w in warnings}
    workspaces = set(judged["workspace_id"])
    assert late == {w for w in workspaces if not w.endswith("+0")}
    assert all("lands 2 day(s) after usage" in w for w in warnings if "+2:" in w or "+late:" in w)

    stalled_at = judged["usage_date"].max() - dt.timedelta(days=MAX_LAG_DAYS + 5)
    quiet = judged[judged["workspace_id"].str.endswith("+0")].iloc[:1].assign(usage_date=stalled_at)
    on_time = judged[~judged["workspace_id"].isin(quiet["workspace_id"])]
    warnings = lag_warnings(spark.createDataFrame(pd.concat([on_time, quiet])))
    (line,) = [w for w in warnings if w.startswith(f"workspace {quiet['workspace_id'].iloc[0]}:")]
    assert f"no usage day judged after {stalled_at}" in line and f"{MAX_LAG_DAYS + 5} days behind" in line
