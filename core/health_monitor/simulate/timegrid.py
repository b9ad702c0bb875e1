"""Time: the simulated window, seasonality factors per day, and clock-hour slicing of intervals.

All times are int64 microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
NAT = np.iinfo(np.int64).min  # null timestamp marker


def _us(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days * DAY


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def holidays(year: int) -> tuple[dt.date, ...]:
    """Company-wide days off: New Year, Memorial Day, Independence Day, Labor Day, Thanksgiving, Christmas."""
    return (
        dt.date(year, 1, 1),
        _last_weekday(year, 5, 0),
        dt.date(year, 7, 4),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 11, 3, 4),
        dt.date(year, 12, 25),
    )


@dataclass(frozen=True)
class Calendar:
    """The simulated days and their seasonality.

    `activity` scales human-driven volume (ad-hoc runs, queries, logins): weekends and holidays are
    quiet, the last three days of a month busier (month-end reporting), and it grows over the window.
    `volume` scales data volume (job durations, row counts): a slow growth trend plus month-end.
    """

    start: dt.date
    days: int
    day_start_us: np.ndarray  # (days,) midnight UTC of each day
    weekday: np.ndarray  # 0 = Monday
    is_weekend: np.ndarray
    is_holiday: np.ndarray
    is_month_end: np.ndarray
    activity: np.ndarray
    volume: np.ndarray
    month_index: np.ndarray  # months since 1970-01, per day

    @property
    def window(self) -> tuple[dt.date, int]:
        """(first day, number of days): what event ids are drawn apart by (see ids.uuids)."""
        return self.start, self.days

    @property
    def start_us(self) -> int:
        return int(self.day_start_us[0])

    @property
    def end_us(self) -> int:
        return int(self.day_start_us[-1]) + DAY

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))


def make_calendar(start: dt.date, days: int, growth_per_year: float = 0.35) -> Calendar:
    dates = np.arange(np.datetime64(start, "D"), np.datetime64(start, "D") + days)
    day_start = dates.astype("datetime64[us]").astype(np.int64)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    years = {start.year + i for i in range(days // 365 + 2)}
    hol = {np.datetime64(h, "D") for y in sorted(years) for h in holidays(y)}
    is_holiday = np.array([d in hol for d in dates])
    next_day = dates + 1
    months = dates.astype("datetime64[M]")
    is_month_end = (next_day + 2).astype("datetime64[M]") != months
    is_weekend = weekday >= 5
    trend = 1.0 + growth_per_year * np.arange(days) / 365.0
    activity = (
        trend
        * np.where(is_weekend, 0.35, 1.0)
        * np.where(is_holiday, 0.3, 1.0)
        * np.where(is_month_end, 1.2, 1.0)
    )
    volume = trend * np.where(is_month_end, 1.15, 1.0)
    return Calendar(
        start=start,
        days=days,
        day_start_us=day_start,
        weekday=weekday,
        is_weekend=is_weekend,
        is_holiday=is_holiday,
        is_month_end=is_month_end,
        activity=activity,
        volume=volume,
        month_index=months.astype(np.int64),
    )


@dataclass(frozen=True)
class Slices:
    """Clock-hour slices of a set of intervals. `parent` indexes the interval each slice came from."""

    parent: np.ndarray
    start: np.ndarray
    end: np.ndarray
    is_final: np.ndarray
    index: np.ndarray  # position of the slice within its interval


def hour_slices(start: np.ndarray, end: np.ndarray) -> Slices:
    """Cut each [start, end) at clock-hour boundaries (end > start). A run over N clock hours gives N slices."""
    first = start // HOUR
    last = (end - 1) // HOUR
    n = (last - first + 1).astype(np.int64)
    parent = np.repeat(np.arange(len(start)), n)
    offsets = np.cumsum(n) - n
    index = np.arange(int(n.sum())) - np.repeat(offsets, n)
    hour = first[parent] + index
    s = np.maximum(start[parent], hour * HOUR)
    e = np.minimum(end[parent], (hour + 1) * HOUR)
    return Slices(parent=parent, start=s, end=e, is_final=index == n[parent] - 1, index=index)


def day_of(us: np.ndarray, cal: Calendar) -> np.ndarray:
    """Index of the simulated day holding each time (may fall outside 0..days-1)."""
    return (us - cal.start_us) // DAY
