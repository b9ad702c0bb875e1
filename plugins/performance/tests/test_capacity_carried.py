"""workspace_capacity_features asked for the rows from a day on (a daily run): its windows' earlier
days and each workspace's calendar come from the table's own rows, and every row equals the whole
computation's, for workspaces gone quiet, back after a pause, or new."""

import datetime as dt

import pytest

from health_monitor.sdk.featurekit import stored_days
from health_monitor.testing.pointintime import GoldTables, rows_from_differ
from health_monitor_performance.capacity_features import (
    DAILY,
    HISTORY_DAYS,
    WORKSPACE_CAPACITY_FEATURES,
    workspace_capacity_features,
)

START = dt.datetime(2025, 1, 1)
DAYS = 71
TABLE = "workspace_capacity_features"


def _date(n: int) -> dt.date:
    return (START + dt.timedelta(days=n)).date()


def _timeline() -> list[tuple]:
    """Workspace "busy" every day (1-5 workers); "quiet" on days 0-10 only; "pause" on days 0-5
    and from day 50; "new" from day 62. Each worker is a node hour at 09:00 (and "busy" one more
    at 15:00 on even days), beside one driver."""
    rows = []

    def hour(ws, day, at, workers):
        start = START + dt.timedelta(days=day, hours=at)
        end = start + dt.timedelta(hours=1)
        for i in range(workers):
            rows.append((ws, f"{ws}-c", f"{ws}-i{i}", start, end, False, 20.0 + i, 5.0, 40.0 + day % 9))
        rows.append((ws, f"{ws}-c", f"{ws}-driver", start, end, True, 10.0, 2.0, 30.0))

    for d in range(DAYS):
        hour("busy", d, 9, d % 5 + 1)
        if d % 2 == 0:
            hour("busy", d, 15, 2)
        if d <= 10:
            hour("quiet", d, 9, 3)
        if d <= 5 or d >= 50:
            hour("pause", d, 9, 1 + d % 2)
        if d >= 62:
            hour("new", d, 9, 2)
    return rows


@pytest.fixture(scope="module")
def gold(spark):
    nodes = spark.createDataFrame(
        _timeline(),
        "workspace_id string, cluster_id string, instance_id string, start_time timestamp, "
        "end_time timestamp, driver boolean, cpu_user_percent double, cpu_system_percent double, "
        "mem_used_percent double",
    )
    return {"fact_node_timeline": nodes}


@pytest.fixture(scope="module")
def whole(gold):
    return workspace_capacity_features(GoldTables(gold)).cache()


def test_the_whole_computation_is_dense_from_each_workspaces_first_day(whole):
    rows = whole.toPandas().set_index(["workspace_id", "date"])
    days = rows.reset_index().groupby("workspace_id")["date"].agg(["min", "max", "count"])
    assert days.loc["quiet"].tolist() == [_date(0), _date(DAYS - 1), DAYS]  # zero days after day 10
    assert days.loc["new"].tolist() == [_date(62), _date(DAYS - 1), DAYS - 62]
    assert rows.loc[("quiet", _date(40)), "peak_workers"] == 0
    assert (
        rows.loc[("busy", _date(4)), "peak_workers"] == 5
        and rows.loc[("busy", _date(4)), "active_hours"] == 2
    )


@pytest.mark.parametrize("cut", [40, 52, 62, 66])
def test_rows_asked_from_a_day_go_on_from_the_stored_days(gold, whole, cut):
    """Cut at 40: "quiet" has had only zero days for four weeks; at 52 "pause" is back within
    the windows; at 62 "new" starts on the first day asked for; at 66 its first days are stored."""
    since = _date(cut)
    columns = ["workspace_id", "date", *DAILY]
    stored = stored_days(GoldTables(gold, {TABLE: whole}, since), TABLE, "date", HISTORY_DAYS, columns)
    assert stored.rows is not None and stored.gold_days == 0  # the stored rows are used
    assert rows_from_differ(WORKSPACE_CAPACITY_FEATURES, gold, whole, since) == {}


def test_a_table_written_by_an_older_release_is_computed_from_all_of_gold(gold, whole):
    """A stored table without one of the day's values is not read: every row asked for comes from
    the whole of Gold (a 28-day cut would lose "quiet", whose last node hour is long before it)."""
    older = whole.drop("peak_mem_percent")
    assert rows_from_differ(WORKSPACE_CAPACITY_FEATURES, gold, whole, _date(50), stored=older) == {}
