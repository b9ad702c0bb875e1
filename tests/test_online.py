"""The online store's in-memory table: days, sort keys and the top rows agree with
pandas on awkward data (ties, nulls, time zones, dates as objects)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from health_monitor.serving.context import _top
from health_monitor.serving.online import NO_DAY, OnlineTable


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_top_is_pandas_stable_sort_with_nulls_last(descending, limit):
    rng = np.random.default_rng(limit)
    values = rng.integers(0, 20, 400).astype("float64")  # many ties
    values[rng.random(400) < 0.1] = np.nan
    values[:3] = [np.inf, -np.inf, np.nan]
    positions = rng.permutation(1000)[:400]
    frame = pd.DataFrame({"v": values}, index=positions).sort_index()
    expected = frame.sort_values("v", ascending=not descending, kind="stable").index[:limit]
    got = _top(positions, values, descending)[:limit]
    assert list(got) == list(expected)


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
    epoch = dt.date(1970, 1, 1)
    day = (dt.date(2026, 1, 2) - epoch).days
    assert list(table.days("d")) == [day, NO_DAY, day - 1, day]
    assert list(table.days("t")) == [day, day - 1, NO_DAY, day + 1]


def test_sort_keys_order_numbers_times_and_text():
    frame = pd.DataFrame(
        {
            "n": [3, 1, 2],
            "s": ["b", None, "a"],
            "t": pd.to_datetime(["2026-01-03", "2026-01-01", None]),
            "b": [True, False, True],
        }
    )
    table = OnlineTable("t", 1, frame, ["n"], None)
    assert list(table.sort_key("n")) == [3.0, 1.0, 2.0]
    s = table.sort_key("s")
    assert s[2] < s[0] and np.isnan(s[1])
    t = table.sort_key("t")
    assert t[1] < t[0] and np.isnan(t[2])
    assert list(table.sort_key("b")) == [1.0, 0.0, 1.0]
    assert table.records(np.array([2]), frozenset({"t", "b"})) == [{"n": 2, "s": "a"}]
