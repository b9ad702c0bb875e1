"""Factories for the three shapes most agent tools take, so a plugin's ``tools.py`` holds only
domain knowledge (which model, which entity, what to say to the agent):

- :func:`entity_tool`: the predictions of one entity (a job, a workspace, a user, a table) over a
  date range, e.g. "failure risk of job 42 this week";
- :func:`ranking_tool`: the entities most at risk on one day, optionally within a workspace;
- :func:`listing_tool`: the valid values of an entity column, which the others' errors point to.

Every argument is typed and bounded (see :mod:`health_monitor.sdk.args`); entity values are
checked against the prediction table before anything else happens.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import Field, create_model

from health_monitor.sdk.args import (
    Identifier,
    IsoDate,
    Limit,
    NumericId,
    TableName,
    ToolArgs,
    end_field,
    limit_field,
    start_field,
)
from health_monitor.sdk.specs import AgentTool, ProblemType, ToolContext

# What "most at risk" means for each problem type when a ranking names no column.
RANK_COLUMN = {
    ProblemType.ANOMALY_DETECTION: "anomaly_score",
    ProblemType.CLASSIFICATION: "probability",
    ProblemType.MULTICLASS: "probability",
    ProblemType.REGRESSION: "prediction",
}

# Entity columns the simulated and real accounts share, with their formats.
ENTITIES: dict[str, tuple[Any, str]] = {
    "workspace_id": (NumericId, "Databricks workspace ID, digits only (e.g. '3849571098153639')"),
    "job_id": (NumericId, "Databricks job ID, digits only (e.g. '78428343331435')"),
    "run_id": (NumericId, "Job run ID, digits only"),
    "warehouse_id": (Identifier, "SQL warehouse ID (e.g. 'c3ecffc57d07e8ba')"),
    "user_id": (Identifier, "User identity: e-mail or service principal ID (e.g. 'jane.doe@example.com')"),
    "statement_id": (Identifier, "Query statement ID (a UUID)"),
    "table_full_name": (TableName, "Table name as catalog.schema.table"),
    "cluster_id": (Identifier, "Cluster ID (e.g. '0102-000000-h1xudy36')"),
}


def _entity(column: str, kind: tuple[Any, str] | None = None) -> tuple[Any, str]:
    if kind is not None:
        return kind
    if column not in ENTITIES:
        raise ValueError(f"no argument type for entity column {column!r}; known: {sorted(ENTITIES)}")
    return ENTITIES[column]


def entity_tool(
    name: str,
    domain: str,
    model: str,
    entity: str,
    description: str,
    listed_by: str,
    kind: tuple[Any, str] | None = None,
) -> AgentTool:
    """Predictions of one ``entity`` value over [start, end], newest first (default: its latest).

    ``kind`` is the argument's (type, description) for an entity column not in :data:`ENTITIES`."""
    arg_type, what = _entity(entity, kind)
    fields: dict[str, Any] = {
        entity: (arg_type, Field(description=f"{what}. {listed_by} lists valid values.")),
        "start": (IsoDate | None, start_field()),
        "end": (IsoDate | None, end_field()),
        "limit": (Limit, limit_field(31)),
    }
    args = create_model(f"{_camel(name)}Args", __base__=ToolArgs, **fields)

    def run(context: ToolContext, a: Any) -> dict[str, Any]:
        value = context.require(model, entity, getattr(a, entity), listed_by)
        latest = a.start is None and a.end is None
        rows = context.query(
            model,
            where={entity: value},
            start=a.start,
            end=a.end,
            order_by=context.model(model).time_column,
            descending=True,
            limit=1 if latest else a.limit,
        )
        return {"model": model, entity: value, "rows": rows}

    return AgentTool(name, domain, description, args, run, reads=(model,), entity=entity)


def ranking_tool(
    name: str,
    domain: str,
    model: str,
    description: str,
    order_by: str | None = None,
    within: str | None = None,
    listed_by: str | None = None,
    kind: tuple[Any, str] | None = None,
) -> AgentTool:
    """The rows of one day with the highest ``order_by`` (default: the model's risk column:
    anomaly score, probability or prediction), optionally within one ``within`` value."""
    fields: dict[str, Any] = {
        "day": (
            IsoDate | None,
            Field(None, description="Day to rank, YYYY-MM-DD. Default: the latest scored day."),
        ),
        "limit": (Limit, limit_field(10)),
    }
    if within is not None:
        arg_type, what = _entity(within, kind)
        fields[within] = (arg_type | None, Field(None, description=f"Only this {what}. Default: all."))
    args = create_model(f"{_camel(name)}Args", __base__=ToolArgs, **fields)

    def run(context: ToolContext, a: Any) -> dict[str, Any]:
        where = {}
        if within is not None and getattr(a, within) is not None:
            where[within] = context.require(model, within, getattr(a, within), listed_by or "list tools")
        ranked_by = order_by or RANK_COLUMN[context.model(model).problem_type]
        rows = context.query(
            model,
            where=where,
            start=a.day,
            end=a.day,
            order_by=ranked_by,
            descending=True,
            limit=a.limit,
            latest_only=a.day is None,
        )
        return {"model": model, "ranked_by": ranked_by, "rows": rows}

    return AgentTool(name, domain, description, args, run, reads=(model,))


def listing_tool(name: str, domain: str, model: str, column: str, description: str) -> AgentTool:
    """Valid values of ``column`` (those with predictions), optionally starting with a prefix."""
    args = create_model(
        f"{_camel(name)}Args",
        __base__=ToolArgs,
        prefix=(
            str | None,
            Field(
                None, description="Only values starting with this text.", pattern=r"^[A-Za-z0-9_.:@+-]{1,64}$"
            ),
        ),
        limit=(Limit, limit_field(50)),
    )

    def run(context: ToolContext, a: Any) -> dict[str, Any]:
        values = context.distinct(model, column, limit=sys.maxsize)  # the prefix and count see every value
        if a.prefix:
            values = [v for v in values if v.startswith(a.prefix)]
        return {"column": column, "count": len(values), "values": values[: a.limit]}

    return AgentTool(name, domain, description, args, run, reads=(model,))


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))
