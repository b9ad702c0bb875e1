"""Times as numbers that numpy sorts and compares in C.

A time-zone-aware pandas column's ``to_numpy()`` is an array of ``Timestamp`` objects, one built
per row, which numpy then sorts and compares in Python: at the seed scale, 23 s of the 374 s a
training stage spent in ``train_model`` went to building them (py-spy, session 54). These
helpers keep the times as ``datetime64[ns]`` in UTC instead; the order, ties and groups are the
same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def utc_instants(times) -> np.ndarray:
    """``times`` (a column, an array or a list; naive times are taken as UTC) as UTC
    ``datetime64[ns]``, NaT where missing."""
    stamps = pd.to_datetime(pd.Series(times), utc=True)
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def time_order(times, n: int) -> np.ndarray:
    """The row order by time, ties in row order; ``0..n-1`` when ``times`` is None."""
    if times is None:
        return np.arange(n)
    return np.argsort(utc_instants(times), kind="stable")
