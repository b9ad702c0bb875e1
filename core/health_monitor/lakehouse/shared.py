"""Frames that several computes of one stage read, computed once (``Tables.shared``).

A plugin rebuilds the same derived frame in several places (job runs from the hourly run
timeline: a feature table's branches, other feature tables, model bases). Spark recomputes a
DataFrame for every plan that reads it, and reuses a computed exchange only between identical
plans, which branches with other columns are not. While a stage runs inside :func:`sharing`,
:func:`shared` keeps the first frame of each plan in Spark's cache (memory, then disk) and
hands that cached frame to every frame with the same plan (``DataFrame.sameSemantics``: the
same tables, filters and expressions). The stage drops them all when it ends, so a later stage
(after Gold or a feature table changed) computes them again. Outside a stage, :func:`shared`
returns the frame as it is.

The stages run one after the other and their items in threads (time limits), so the frames of
the running stage are kept in one process-wide registry, not in a context variable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_lock = threading.Lock()
_frames: list[DataFrame] | None = None  # the running stage's cached frames; None: no stage


@contextmanager
def sharing() -> Iterator[None]:
    """Share frames among the computes run inside; unpersist them all at the end. Nested use
    shares with the outer stage."""
    global _frames
    with _lock:
        if _frames is not None:
            outer = True
        else:
            outer, _frames = False, []
    try:
        yield
    finally:
        if not outer:
            with _lock:
                frames, _frames = _frames or [], None
            for frame in frames:
                frame.unpersist()


def shared(df: DataFrame) -> DataFrame:
    """``df``, or the cached frame of a compute of this stage with the same plan."""
    from pyspark import StorageLevel

    with _lock:
        if _frames is None:
            return df
        for kept in _frames:
            if kept.sameSemantics(df):
                return kept
        kept = df.persist(StorageLevel.MEMORY_AND_DISK)
        _frames.append(kept)
        return kept
