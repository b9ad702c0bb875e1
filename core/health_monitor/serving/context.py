"""The :class:`health_monitor.sdk.specs.ToolContext` agent tools run against: prediction tables in
the online store (no Spark, no SQL text), read-only, with errors an agent can act on. Its
messages quote stored values cleaned (:mod:`health_monitor.untrusted`); rows and values are
cleaned once, on their way out of the tool (``to_langchain``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from langchain_core.tools import ToolException

from health_monitor.models.explain import explain_prediction
from health_monitor.sdk.specs import Model
from health_monitor.serving.online import NO_DAY, OnlineTable
from health_monitor.serving.scoring import Champions, plain
from health_monitor.untrusted import quoted

MAX_ROWS = 100
HIDDEN = ["scored_at"]


class OnlineToolContext:
    def __init__(self, champions: Champions):
        self.champions = champions

    def model(self, name: str) -> Model:
        owned = self.champions.host.models.get(name)
        if owned is None:
            installed = ", ".join(sorted(self.champions.host.models))
            raise ToolException(f"model {name!r} is not installed here; installed: {installed}")
        return owned.spec

    def table(self, model: str) -> OnlineTable:
        self.model(model)
        if (table := self.champions.predictions(model)) is None:
            why = f"there are no predictions of {model} yet; run `health-monitor infer --model {model}`"
            raise ToolException(why)
        return table

    def require(self, model: str, column: str, value: str, listed_by: str) -> str:
        table = self.table(model)
        if (str(value),) not in table.index((column,)):
            sample = ", ".join(quoted(v, 64) for v in table.values(column)[:5])
            why = f"unknown {column} {quoted(value)} in {model} predictions; valid values include [{sample}]"
            raise ToolException(f"{why}; call {listed_by} to list them")
        return str(value)

    def distinct(self, model: str, column: str, limit: int = 100) -> list[str]:
        return self.table(model).values(column)[: max(1, limit)]

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
        day), the top ``limit`` by ``order_by``: an index lookup and a mask on days, no SQL."""
        spec, table = self.model(model), self.table(model)
        if start is not None and end is not None and end < start:
            raise ToolException(f"end {end} is before start {start}")
        if order_by is not None and order_by not in table.frame.columns:
            raise ToolException(f"{model} predictions have no column {order_by!r}")
        positions = table.positions(dict(where or {}))
        if start is not None or end is not None or latest_only:
            days = table.days(spec.time_column)[positions]
            if start is None and end is None:  # the latest day of the rows asked for
                lo = hi = days.max(initial=NO_DAY)  # NO_DAY, a null, is the least
            else:  # days since 1970-01-01; no start is NO_DAY (NaT), the least, and nulls are left out
                lo, hi = (np.datetime64(day, "D").astype(np.int64) for day in (start, end or start))
            positions = positions[(days != NO_DAY) & (days >= lo) & (days <= hi)]
        return _records(table.frame.iloc[positions], order_by, descending, limit)

    def explain(self, model: str, keys: dict[str, str], top_k: int = 5) -> dict[str, Any]:
        return explain_prediction(self.champions, model, keys, top_k)  # to_langchain words its errors

    def day_summary(self, model: str, rank: str, top: int, flags: bool) -> dict[str, Any]:
        """The latest scored day of ``model``: how many rows, how many flagged
        (``prediction == 1``, when ``flags``), and the ``top`` rows by ``rank``."""
        table = self.table(model)
        days = table.days(self.model(model).time_column)
        day = int(days.max(initial=NO_DAY))  # NO_DAY, a null, is the least
        rows = table.frame.iloc[np.flatnonzero(days == day) if day != NO_DAY else []]
        return {
            "day": str(np.datetime64(day, "D")) if day != NO_DAY else None,
            "rows": len(rows),
            "flagged": int((rows["prediction"] == 1.0).sum()) if flags else None,
            "top": _records(rows, rank, True, top),
        }


def _records(rows: pd.DataFrame, order_by: str | None, descending: bool, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` (at most ``MAX_ROWS``) of ``rows`` by ``order_by``, nulls last, ties
    in table order, as JSON-ready dicts."""
    if order_by is not None:
        rows = rows.sort_values(order_by, ascending=not descending, kind="stable", na_position="last")
    rows = rows.head(max(1, min(int(limit), MAX_ROWS))).drop(columns=HIDDEN, errors="ignore")
    return [
        {str(k): round(v, 6) if isinstance(v := plain(x), float) else v for k, x in r.items()}
        for r in rows.to_dict("records")
    ]
