"""The online store's in-memory table and the tools' rows agree with pandas on awkward data
(ties, nulls, time zones, dates as objects)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from health_monitor.serving.context import _records
from health_monitor.serving.online import NO_DAY, OnlineTable


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_top_rows_are_a_stable_sort_with_nulls_last(descending, limit):
    rng = np.random.default_rng(limit)
    values = rng.integers(0, 20, 400).astype("float64")  # many ties
    values[rng.random(400) < 0.1] = np.nan
    values[:3] = [np.inf, -np.inf, np.nan]
    frame = pd.DataFrame({"v": values, "i": np.arange(400)})
    got = [r["i"] for r in _records(frame, "v", descending, limit)]
    order = sorted(
        range(400), key=lambda i: (np.isnan(values[i]), -values[i] if descending else values[i], i)
    )
    assert got == order[:limit]


def test_days_read_dates_timestamps_and_nulls():
    frame = pd.DataFrame(
        {
            "d": [dt.date(2026, 1, 2), None, dt.date(2026, 1, 1), dt.date(2026, 1, 2)],
            "t": pd.to_datetime(
                ["2026-01-02T23:30:00+00:00", "2026-01-01T00:00:00+00:00", None, "2026-01-03T00:00:00+00:00"],
                utc=True,
            ),
        }
    )
    table = OnlineTable("t", 1, frame, ["d"], None)
    day = (dt.date(2026, 1, 2) - dt.date(1970, 1, 1)).days
    assert list(table.days("d")) == [day, NO_DAY, day - 1, day]
    assert list(table.days("t")) == [day, day - 1, NO_DAY, day + 1]


def test_a_store_reading_only_the_wanted_rows_answers_as_the_whole_tables(tmp_path):
    """``rows_reader`` (findings' explanations): keys given as text find typed columns,
    a point-in-time lookup keeps the entity's whole history, and only those rows are read."""
    from health_monitor.featurestore import FeatureLookup, FeatureSpec
    from health_monitor.lakehouse.local import LocalLakehouse
    from health_monitor.reports.findings import rows_reader
    from health_monitor.serving.online import MISSING, OnlineStore

    lakehouse = LocalLakehouse(tmp_path)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(6)]
    grid = [(w, u, d) for w in (7, 8, 9) for u in ("a", "b") for d in days]
    user_days = pa.table(
        {
            "workspace_id": pa.array([w for w, _, _ in grid], pa.int64()),
            "user": [u for _, u, _ in grid],
            "day": pa.array([d for _, _, d in grid], pa.date32()),
            "x": [float(i) for i in range(len(grid))],
        }
    )
    lakehouse.write(
        "hm.features.user_days", user_days, primary_keys=["workspace_id", "user", "day"], timestamp_key="day"
    )
    workspaces = pa.table({"workspace_id": pa.array([7, 8, 9], pa.int64()), "size": [1.0, 2.0, 3.0]})
    lakehouse.write("hm.features.workspaces", workspaces, primary_keys=["workspace_id"])
    spec = FeatureSpec(
        [
            FeatureLookup(
                "hm.features.user_days",
                ["workspace_id", "user"],
                feature_names=["x"],
                timestamp_lookup_key="day",
            ),
            FeatureLookup("hm.features.workspaces", "workspace_id", feature_names=["size"]),
        ],
        ["x", "size"],
    )
    bases = [
        {"workspace_id": "7", "user": "a", "day": days[3]},
        {"workspace_id": 8, "user": "b", "day": days[5] + dt.timedelta(days=3)},
        {"workspace_id": "7", "user": "nobody", "day": days[2]},
    ]
    whole = OnlineStore(lakehouse)
    some = OnlineStore(lakehouse, read=rows_reader(lakehouse, spec, bases))
    for base in bases:
        (_, at_whole), (_, at_some) = whole.resolve(spec, base), some.resolve(spec, base)
        assert (np.array(at_whole) == MISSING).tolist() == (np.array(at_some) == MISSING).tolist()
        assert whole.inputs(spec, *whole.resolve(spec, base)).equals(
            some.inputs(spec, *some.resolve(spec, base))
        )
    read = some.table("hm.features.user_days").frame
    assert sorted(set(zip(read["workspace_id"], read["user"], strict=True))) == [
        (7, "a"),
        (7, "b"),
        (8, "a"),
        (8, "b"),
    ]
    assert len(read) == 4 * len(
        days
    )  # each column restricted alone: a superset of the pairs, whole histories
    assert sorted(some.table("hm.features.workspaces").frame["workspace_id"]) == [7, 8]

    nobody = OnlineStore(
        lakehouse, read=rows_reader(lakehouse, spec, [{"workspace_id": "1", "user": "z", "day": days[0]}])
    )
    empty = nobody.table("hm.features.user_days").frame
    assert len(empty) == 0 and list(empty.columns) == ["workspace_id", "user", "day", "x"]
    assert nobody.resolve(spec, {"workspace_id": "1", "user": "z", "day": days[0]})[1] == (MISSING, MISSING)


def test_a_listing_tool_searches_every_value_of_a_large_table():
    """A prefix past the first 1,000 and the first 100,000 sorted values (the context and the SDK
    each cut the list there) is found, and the count is every value."""
    from types import SimpleNamespace

    from health_monitor.sdk.tools import listing_tool
    from health_monitor.serving.context import OnlineToolContext

    table = OnlineTable(
        "p", 1, pd.DataFrame({"job_id": [f"job{i:06d}" for i in range(100_200)]}), ["job_id"], None
    )
    host = SimpleNamespace(models={"m": SimpleNamespace(spec=None)})
    context = OnlineToolContext(SimpleNamespace(host=host, predictions=lambda model: table))
    tool = listing_tool(
        "list_jobs", "reliability", "m", "job_id", "List the jobs with predictions, by prefix."
    )
    for prefix in ("job0024", "job1001"):
        found = tool.run(context, tool.args(prefix=prefix, limit=2))
        assert found == {"column": "job_id", "count": 100, "values": [f"{prefix}00", f"{prefix}01"]}
    assert tool.run(context, tool.args(limit=1))["count"] == 100_200
