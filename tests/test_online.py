"""The online store's in-memory table and the tools' rows agree with pandas on awkward data
(ties, nulls, time zones, dates as objects)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
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
