"""LangChain toolkits for the five agents: typed, validated, read-only prediction lookups.

>>> from health_monitor.agents import get_toolkit
>>> tools = get_toolkit("cost")            # the cost agent's tools, on the default home
>>> [t.name for t in tools]                # doctest: +SKIP

Domain tools come from plugins (the ``register_tools`` hook, :class:`~health_monitor.sdk.specs.AgentTool`);
every toolkit also gets the core's ``explain_prediction``, ``health_summary`` and ``list_models``.
Arguments are validated by their pydantic schemas before a tool runs; a bad argument or an
unknown entity comes back to the agent as a message (``ToolException``), so the agent loop goes
on. Tools read the online store (no Spark) and never build SQL from their input.

Stored text is data (:mod:`health_monitor.untrusted`): every answer is a JSON object that opens
with a ``data_notice``, every string in it is length-capped and stripped of control and
bidirectional characters, error messages quote values, and every tool's description tells the
agent that field values are untrusted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

from health_monitor.config import Settings
from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.host import Host, load_host
from health_monitor.runtime import Runtime
from health_monitor.sdk.args import Identifier, Limit, ToolArgs, problems
from health_monitor.sdk.specs import AgentTool, ProblemType
from health_monitor.sdk.tools import RANK_COLUMN
from health_monitor.serving.context import OnlineToolContext
from health_monitor.serving.scoring import Champions
from health_monitor.untrusted import TOOL_NOTICE, as_data, message

__all__ = ["CORE_TOOLS", "get_toolkit", "make_context", "to_langchain"]

log = logging.getLogger(__name__)


def make_context(
    home: str | None = None, runtime: Runtime | None = None, host: Host | None = None
) -> OnlineToolContext:
    """The read-only context tools run against: a home's prediction tables and champions."""
    if runtime is None:
        runtime = Runtime.embedded(Settings.from_env(home))
    return OnlineToolContext(Champions(runtime, host or load_host()))


def get_toolkit(
    domain: str,
    home: str | None = None,
    *,
    context: OnlineToolContext | None = None,
    runtime: Runtime | None = None,
    host: Host | None = None,
) -> list[StructuredTool]:
    """The tools of one domain's agent (a domain is an installed plugin's: ``cost``, ``security``,
    ...): its domain's plugin tools, then the core's cross-domain tools."""
    context = context or make_context(home, runtime, host)
    domains = context.champions.host.domains
    if domain not in domains:
        raise ConfigError(f"unknown domain {domain!r}; installed domains: {', '.join(domains) or 'none'}")
    owned = context.champions.host.tools
    domain_tools = [o.spec for _, o in sorted(owned.items()) if o.spec.domain in (domain, "all")]
    return [to_langchain(t, context) for t in domain_tools] + [to_langchain(t, context) for t in CORE_TOOLS]


def to_langchain(tool: AgentTool, context: OnlineToolContext) -> StructuredTool:
    """Wrap an :class:`AgentTool` as a ``StructuredTool`` that answers with JSON text: the
    cleaned answer under a data notice (:func:`~health_monitor.untrusted.as_data`), or a cleaned
    error message."""

    schema: type[BaseModel] = tool.args  # AgentTool checked it is a pydantic model

    def call(**kwargs: Any) -> str:
        # LangChain validated the arguments against the schema; rebuild the model without
        # validating twice (validators turn dates into ``datetime.date``).
        args = schema.model_construct(**kwargs)
        try:
            result = tool.run(context, args)
        except ToolException as exc:
            raise ToolException(message(str(exc))) from None
        except (HealthMonitorError, ValueError, KeyError) as exc:
            raise ToolException(message(f"{tool.name}: {exc}")) from None
        except Exception as exc:  # a bug must not end the agent's loop; it is logged in full
            log.exception("tool %s failed", tool.name)
            raise ToolException(f"{tool.name} failed ({type(exc).__name__}); the error was logged") from None
        return json.dumps(as_data(result), default=str, separators=(",", ":"))

    return StructuredTool.from_function(
        func=call,
        name=tool.name,
        description=f"{tool.description.rstrip()} {TOOL_NOTICE}",
        args_schema=schema,
        handle_tool_error=True,
        handle_validation_error=_validation_message(schema),
    )


def _validation_message(schema: type[BaseModel]):
    def described(error: ValidationError | Exception) -> str:
        if isinstance(error, ValidationError):
            return message(
                "invalid arguments: " + "; ".join(why for _, why in problems(error, schema, "this tool"))
            )
        return message(f"invalid arguments: {error}")

    return described


# --- the core's cross-domain tools ------------------------------------------------------------


class ExplainArgs(ToolArgs):
    model: Identifier = Field(
        description="Model name, as listed by list_models (e.g. 'job_failure_predictor')."
    )
    keys: dict[Identifier, Identifier] = Field(
        description="The prediction's keys, column -> value, e.g. {'job_id': '42', 'run_date': '2025-06-30'}; "
        "list_models shows each model's keys.",
        max_length=8,
    )
    top_k: Limit = Field(5, description="How many contributing features to return, 1 to 100.")


def _explain(context: OnlineToolContext, args: ExplainArgs) -> dict[str, Any]:
    return context.explain(args.model, dict(args.keys), min(args.top_k, 50))


class SummaryArgs(ToolArgs):
    domain: str | None = Field(
        None,
        description="Only this domain (list_models shows each model's); default: every domain.",
        pattern="^[a-z][a-z0-9_]{1,62}$",
    )
    top: Limit = Field(3, description="How many most at-risk entities to show per model, 1 to 100.")


def _summary(context: OnlineToolContext, args: SummaryArgs) -> dict[str, Any]:
    _check_domain(context, args.domain)
    out: dict[str, Any] = {}
    for name, owned in sorted(context.champions.host.models.items()):
        spec = owned.spec
        if args.domain is not None and spec.domain != args.domain:
            continue
        rank = RANK_COLUMN[spec.problem_type]
        flags = spec.problem_type in (ProblemType.ANOMALY_DETECTION, ProblemType.CLASSIFICATION)
        try:
            day = context.day_summary(name, rank, args.top, flags)
        except ToolException as exc:
            out.setdefault(spec.domain, {})[name] = {"status": message(str(exc))}
            continue
        day["top"] = [{**{k: r.get(k) for k in spec.keys}, rank: r.get(rank)} for r in day["top"]]
        out.setdefault(spec.domain, {})[name] = day
    return out


class NoArgs(ToolArgs):
    domain: str | None = Field(
        None,
        description="Only this domain (list_models shows each model's); default: every domain.",
        pattern="^[a-z][a-z0-9_]{1,62}$",
    )


def _check_domain(context: OnlineToolContext, domain: str | None) -> None:
    domains = context.champions.host.domains
    if domain is not None and domain not in domains:
        raise ToolException(f"unknown domain {domain!r}; installed domains: {', '.join(domains)}")


def _list_models(context: OnlineToolContext, args: NoArgs) -> dict[str, Any]:
    _check_domain(context, args.domain)
    return {"models": _models(context, args.domain)}


def _models(context: OnlineToolContext, domain: str | None) -> list[dict[str, Any]]:
    return [
        {
            "model": name,
            "domain": o.spec.domain,
            "problem_type": o.spec.problem_type.value,
            "keys": list(o.spec.keys),
            "time_column": o.spec.time_column,
            "outputs": [n for n, _ in o.spec.outputs],
            "description": o.spec.description,
        }
        for name, o in sorted(context.champions.host.models.items())
        if domain is None or o.spec.domain == domain
    ]


def _core_tool(name: str, description: str, args: type[BaseModel], run) -> AgentTool:
    return AgentTool(name=name, domain="all", description=description, args=args, run=run)


CORE_TOOLS: tuple[AgentTool, ...] = (
    _core_tool(
        "explain_prediction",
        "Explain one prediction of any model: its top contributing features, their values and "
        "signed weights. Use after a lookup tool returned a row you want to understand.",
        ExplainArgs,
        _explain,
    ),
    _core_tool(
        "health_summary",
        "Cross-domain health summary on the latest scored day: per model, rows scored, how many "
        "are flagged, and the entities most at risk.",
        SummaryArgs,
        _summary,
    ),
    _core_tool(
        "list_models",
        "List the installed models with their domain, keys, time column and extra output columns.",
        NoArgs,
        _list_models,
    ),
)
