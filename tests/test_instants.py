"""The vectorised time and entity helpers give what the per-row versions they replaced gave."""

from __future__ import annotations

import numpy as np
import pandas as pd

from health_monitor.models import evaluation, verdicts
from health_monitor.models.instants import time_order, utc_instants

RNG = np.random.default_rng(3)
N = 500
AWARE = pd.Series(
    pd.to_datetime("2025-03-01", utc=True) + pd.to_timedelta(RNG.integers(0, 40 * 24, N), unit="h")
)


def _by_objects(times) -> np.ndarray:
    """The order as it was computed before: sorting an array of Timestamp objects."""
    return np.argsort(pd.to_datetime(pd.Series(times), utc=True).to_numpy(), kind="stable")


def test_time_order_is_the_order_of_the_timestamps_with_ties_in_row_order():
    naive = AWARE.dt.tz_convert(None)
    other_zone = AWARE.dt.tz_convert("America/New_York")
    for times in (AWARE, naive, other_zone, AWARE.to_numpy(), list(AWARE)):
        assert (time_order(times, N) == _by_objects(times)).all()
    assert (time_order(None, 4) == np.arange(4)).all()
    # A time 05:00 in New York is 10:00 UTC: later than 09:00 UTC, earlier than 11:00 UTC.
    mixed = pd.Series(
        [pd.Timestamp("2025-01-01 11:00", tz="UTC"), pd.Timestamp("2025-01-01 05:00", tz="America/New_York")]
        + [pd.Timestamp("2025-01-01 09:00", tz="UTC")]
    )
    assert list(time_order(mixed, 3)) == [2, 1, 0]


def test_utc_instants_keeps_missing_times_missing():
    stamps = utc_instants(pd.Series([pd.Timestamp("2025-01-02", tz="UTC"), pd.NaT]))
    assert stamps.dtype == np.dtype("datetime64[ns]")
    assert stamps[0] == np.datetime64("2025-01-02") and np.isnat(stamps[1])


def test_day_units_group_the_rows_of_a_day_as_before():
    before = pd.to_datetime(pd.Series(np.asarray(AWARE)), utc=True).dt.floor("D").to_numpy()
    codes_before, days_before = pd.factorize(pd.Series(before), use_na_sentinel=False)
    codes, days = pd.factorize(pd.Series(verdicts.day_units(AWARE)), use_na_sentinel=False)
    assert (codes == codes_before).all() and len(days) == len(days_before) == AWARE.dt.floor("D").nunique()


def test_entity_key_is_the_row_wise_join_of_the_entity_columns():
    frame = pd.DataFrame(
        {
            "job_id": RNG.integers(0, 30, N).astype(str),
            "workspace_id": RNG.integers(0, 3, N),
            "start": AWARE,
            "tag": np.where(RNG.random(N) < 0.2, None, "team-a"),
        }
    )
    for entity in (["job_id"], ["job_id", "workspace_id"], ["workspace_id", "start"], ["tag", "job_id"]):
        row_wise = frame[entity].astype(str).agg("\x1f".join, axis=1)
        assert evaluation.entity_key(frame, entity).equals(row_wise), entity


def test_time_split_cutoff_is_a_utc_timestamp_among_the_times():
    frame = pd.DataFrame({"day": AWARE.dt.floor("D"), "x": 1.0})
    split = evaluation.time_split(frame, "day", 0.25)
    assert split.cutoff.tz is not None and str(split.cutoff.tz) == "UTC"
    assert split.cutoff in set(frame["day"])
    assert (split.train["day"] < split.cutoff).all() and (split.test["day"] >= split.cutoff).all()
    days = np.sort(frame["day"].unique())
    assert split.cutoff == days[int(np.floor(len(days) * 0.75))]
