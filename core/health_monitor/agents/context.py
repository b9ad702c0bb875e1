"""The :class:`health_monitor.specs.ToolContext` agent tools run against: prediction tables in
the online store (no Spark, no SQL text), read-only, with errors an agent can act on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from langchain_core.tools import ToolException

from health_monitor.champions import Champions, plain
from health_monitor.errors import HealthMonitorError
from health_monitor.explain import explain_prediction
from health_monitor.online import OnlineTable, as_text
from health_monitor.specs import Model

MAX_ROWS = 100


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
            sample = table.values(column)[:5]
            raise ToolException(
                f"unknown {column} {value!r} in {model} predictions; valid values include {sample}; "
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
        spec = self.model(model)
        table = self.table(model)
        rows = table.rows(dict(where or {}))
        if rows.empty:
            return []
        times = pd.to_datetime(rows[spec.time_column], utc=True).dt.tz_convert(None).dt.normalize()
        if latest_only and start is None and end is None:
            rows = rows[times == times.max()]
        elif start is not None or end is not None:
            if start is not None and end is not None and end < start:
                raise ToolException(f"end {end} is before start {start}")
            lo = pd.Timestamp(start) if start is not None else times.min()
            hi = pd.Timestamp(end if end is not None else start)
            rows = rows[(times >= lo) & (times <= hi)]
        if order_by is not None:
            if order_by not in rows.columns:
                raise ToolException(f"{model} predictions have no column {order_by!r}")
            rows = rows.sort_values(order_by, ascending=not descending, kind="stable")
        rows = rows.head(max(1, min(int(limit), MAX_ROWS)))
        return [self._record(spec, r) for r in rows.to_dict("records")]

    @staticmethod
    def _record(spec: Model, row: dict[str, Any]) -> dict[str, Any]:
        hidden = {"scored_at"}
        return {k: _round(plain(v)) for k, v in row.items() if k not in hidden}

    def explain(self, model: str, keys: dict[str, str], top_k: int = 5) -> dict[str, Any]:
        try:
            return explain_prediction(self.champions, model, keys, top_k)
        except HealthMonitorError as exc:
            raise ToolException(str(exc)) from None

    def latest_day(self, model: str) -> str | None:
        spec = self.model(model)
        table = self.table(model)
        if table.frame.empty:
            return None
        return str(as_text(table.frame[spec.time_column].sort_values().tail(1))[0])[:10]


def _round(value: Any) -> Any:
    if isinstance(value, float) and np.isfinite(value):
        return round(value, 6)
    return value
