"""The :class:`health_monitor.sdk.specs.ToolContext` agent tools run against: prediction tables in
the online store (no Spark, no SQL text), read-only, with errors an agent can act on. Its
messages quote stored values cleaned (:mod:`health_monitor.untrusted`); rows and values are
cleaned once, on their way out of the tool (``to_langchain``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from langchain_core.tools import ToolException

from health_monitor.champions import Champions, plain
from health_monitor.errors import HealthMonitorError
from health_monitor.models.explain import explain_prediction
from health_monitor.online import NO_DAY, OnlineTable
from health_monitor.sdk.specs import Model
from health_monitor.untrusted import quoted

MAX_ROWS = 100
HIDDEN = frozenset({"scored_at"})


class OnlineToolContext:
    def __init__(self, champions: Champions):
        self.champions = champions
        self.settings = champions.runtime.settings

    def model(self, name: str) -> Model:
        owned = self.champions.host.models.get(name)
        if owned is None:
            raise ToolException(
                f"model {name!r} is not installed here; installed: {', '.join(sorted(self.champions.host.models))}"
            )
        return owned.spec

    def table(self, model: str) -> OnlineTable:
        self.model(model)
        try:
            return self.champions.store.table(self.settings.predictions(model))
        except HealthMonitorError:
            raise ToolException(
                f"there are no predictions of {model} yet; run `health-monitor infer --model {model}`"
            ) from None

    def require(self, model: str, column: str, value: str, listed_by: str) -> str:
        table = self.table(model)
        if (str(value),) not in table.index((column,)):
            sample = ", ".join(quoted(v, 64) for v in table.values(column)[:5])
            raise ToolException(
                f"unknown {column} {quoted(value)} in {model} predictions; valid values include [{sample}]; "
                f"call {listed_by} to list them"
            )
        return str(value)

    def distinct(self, model: str, column: str, limit: int = 100) -> list[str]:
        return self.table(model).values(column)[: max(1, min(limit, 1000))]

    def query(
        self,
        model: str,
        where: dict[str, str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        order_by: str | None = None,
        descending: bool = True,
        limit: int = 20,
        latest_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Prediction rows of ``model`` matching ``where`` on days [start, end] (or the latest
        day), the top ``limit`` by ``order_by``. Index slices and a partial sort: no full scan of
        a large table, no SQL."""
        spec = self.model(model)
        table = self.table(model)
        if start is not None and end is not None and end < start:
            raise ToolException(f"end {end} is before start {start}")
        if order_by is not None and order_by not in table.frame.columns:
            raise ToolException(f"{model} predictions have no column {order_by!r}")
        latest = latest_only and start is None and end is None
        ranged = start is not None or end is not None
        lo = _day(start) if start is not None else NO_DAY + 1
        hi = _day(end if end is not None else start) if ranged else None
        if where:
            positions = table.positions(dict(where))
            if latest or ranged:
                days = table.days(spec.time_column)[positions]
                known = days != NO_DAY
                if latest:
                    lo = hi = days[known].max() if known.any() else NO_DAY
                positions = positions[known & (days >= lo) & (days <= hi)]
        elif latest or ranged:
            if latest:
                lo = hi = table.last_day(spec.time_column)
            positions = table.between_days(spec.time_column, lo, hi)  # nulls left out
        else:
            positions = np.arange(len(table.frame))
        limit = max(1, min(int(limit), MAX_ROWS))
        if order_by is not None:
            positions = _top(positions, table.sort_key(order_by)[positions], descending, limit)
        return [_record(r) for r in table.records(positions[:limit], HIDDEN)]

    def explain(self, model: str, keys: dict[str, str], top_k: int = 5) -> dict[str, Any]:
        try:
            return explain_prediction(self.champions, model, keys, top_k)
        except HealthMonitorError as exc:
            raise ToolException(str(exc)) from None

    def day_summary(self, model: str, rank: str, top: int, flags: bool) -> dict[str, Any]:
        """The latest scored day of ``model``: how many rows, how many flagged
        (``prediction == 1``, when ``flags``), and the ``top`` rows by ``rank``."""
        spec = self.model(model)
        table = self.table(model)
        day = table.last_day(spec.time_column)
        if day == NO_DAY:
            return {"day": None, "rows": 0, "flagged": 0 if flags else None, "top": []}
        positions = table.between_days(spec.time_column, day, day)
        flagged = int((table.sort_key("prediction")[positions] == 1.0).sum()) if flags else None
        best = _top(positions, table.sort_key(rank)[positions], True, max(1, min(top, MAX_ROWS)))
        return {
            "day": str(np.datetime64(day, "D")),
            "rows": len(positions),
            "flagged": flagged,
            "top": [_record(r) for r in table.records(best[:top], HIDDEN)],
        }


def _day(value: dt.date) -> int:
    return (value - dt.date(1970, 1, 1)).days


def _top(positions: np.ndarray, key: np.ndarray, descending: bool, limit: int) -> np.ndarray:
    """``positions`` ordered by ``key`` (nulls last, ties in table order), the first ``limit``
    exactly: a partial sort keeps the candidates at or above the limit's value, then sorts them."""
    order = np.argsort(positions, kind="stable")
    positions, key = positions[order], key[order]
    value = -key if descending else key
    null = np.isnan(value)
    filled = np.where(null, np.inf, value)
    if len(filled) > 4 * limit:
        cut = np.partition(filled, limit - 1)[limit - 1]
        if np.isfinite(cut):
            chosen = filled <= cut
            positions, filled, null = positions[chosen], filled[chosen], null[chosen]
    return positions[np.lexsort((filled, null))]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _round(plain(v)) for k, v in row.items()}


def _round(value: Any) -> Any:
    if isinstance(value, float) and np.isfinite(value):
        return round(value, 6)
    return value
