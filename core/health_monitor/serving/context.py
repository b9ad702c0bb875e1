"""The :class:`health_monitor.sdk.specs.ToolContext` agent tools run against: prediction tables in
the online store (no Spark, no SQL text), read-only, with errors an agent can act on. Its
messages quote stored values cleaned (:mod:`health_monitor.untrusted`); rows and values are
cleaned once, on their way out of the tool (``to_langchain``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from langchain_core.tools import ToolException

from health_monitor.errors import HealthMonitorError
from health_monitor.models.explain import explain_prediction
from health_monitor.sdk.specs import Model
from health_monitor.serving.online import NO_DAY, OnlineTable
from health_monitor.serving.scoring import Champions, plain
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
        day), the top ``limit`` by ``order_by``: an index lookup and masks over arrays, no SQL."""
        spec = self.model(model)
        table = self.table(model)
        if start is not None and end is not None and end < start:
            raise ToolException(f"end {end} is before start {start}")
        if order_by is not None and order_by not in table.frame.columns:
            raise ToolException(f"{model} predictions have no column {order_by!r}")
        positions = table.positions(dict(where or {}))
        if start is not None or end is not None or latest_only:
            days = table.days(spec.time_column)[positions]
            known = days != NO_DAY
            if start is None and end is None:  # the latest day of the rows asked for
                lo = hi = int(days[known].max()) if known.any() else NO_DAY
            else:
                lo, hi = _day(start) if start else NO_DAY + 1, _day(end or start)
            positions = positions[known & (days >= lo) & (days <= hi)]
        if order_by is not None:
            positions = _top(positions, table.sort_key(order_by)[positions], descending)
        return [_record(r) for r in table.records(positions[: max(1, min(int(limit), MAX_ROWS))], HIDDEN)]

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
        days = table.days(spec.time_column)
        day = int(days.max()) if len(days) else NO_DAY  # NO_DAY is the least: a null never wins
        if day == NO_DAY:
            return {"day": None, "rows": 0, "flagged": 0 if flags else None, "top": []}
        positions = np.flatnonzero(days == day)
        flagged = int((table.sort_key("prediction")[positions] == 1.0).sum()) if flags else None
        best = _top(positions, table.sort_key(rank)[positions], True)
        return {
            "day": str(np.datetime64(day, "D")),
            "rows": len(positions),
            "flagged": flagged,
            "top": [_record(r) for r in table.records(best[:top], HIDDEN)],
        }


def _day(value: dt.date | None) -> int:
    return (value - dt.date(1970, 1, 1)).days if value is not None else NO_DAY


def _top(positions: np.ndarray, key: np.ndarray, descending: bool) -> np.ndarray:
    """``positions`` ordered by ``key``, nulls last, ties in table order."""
    value = -key if descending else key
    null = np.isnan(value)
    return positions[np.lexsort((positions, np.where(null, 0.0, value), null))]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v := plain(value), float) else v for k, value in row.items()}
