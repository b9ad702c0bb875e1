"""Agent toolkits: typed tools over prediction tables, driven by a fake chat model (no LLM)."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from health_monitor.agents import get_toolkit, make_context
from health_monitor.agents.args import Identifier
from health_monitor.agents.tooling import entity_tool, listing_tool, ranking_tool
from health_monitor.errors import ConfigError
from health_monitor.hookspecs import hookimpl
from health_monitor.pipelines import run_features, run_infer, run_train
from tests.fakes import FakePlugin, write_fake_gold

ENTITY = (Identifier, "Entity name, e.g. 'e1'")
FAKE_TOOLS = (
    entity_tool(
        "entity_failure_risk",
        "reliability",
        "fake_failure",
        "entity",
        "Failure risk of one entity per day.",
        "list_entities",
        kind=ENTITY,
    ),
    ranking_tool(
        "riskiest_entities",
        "reliability",
        "fake_failure",
        "probability",
        "Entities most likely to fail on a day.",
        within=None,
    ),
    listing_tool("list_entities", "reliability", "fake_failure", "entity", "List entities with predictions."),
)


class ScriptedChatModel(GenericFakeChatModel):
    """A chat model that replays scripted replies; tool binding is a no-op."""

    def bind_tools(self, tools, **kwargs):
        return self


class ToolPlugin(FakePlugin):
    @hookimpl
    def register_tools(self, register):
        for tool in FAKE_TOOLS:
            register(tool)


@pytest.fixture(scope="module")
def agent_home(tmp_path_factory, spark):
    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.plugins import make_plugin_manager
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("agents") / "home"))
    write_fake_gold(runtime)
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={"fake": ToolPlugin()}))
    for stage in (run_features, run_train, run_infer):
        stage(runtime, host, progress=False)
    return runtime, host


@pytest.fixture(scope="module")
def toolkit(agent_home):
    runtime, host = agent_home
    return {t.name: t for t in get_toolkit("reliability", context=make_context(runtime=runtime, host=host))}


def call(tool, **args):
    out = tool.invoke(args)
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return out  # an error message for the agent


def test_the_toolkit_has_the_plugins_tools_then_the_cores(toolkit):
    assert list(toolkit) == [
        "entity_failure_risk",
        "list_entities",
        "riskiest_entities",
        "explain_prediction",
        "health_summary",
        "list_models",
    ]
    for tool in toolkit.values():
        assert tool.description
        schema = tool.args_schema.model_json_schema()
        assert all(p.get("description") for p in schema.get("properties", {}).values()), tool.name


def test_tools_answer_from_the_prediction_tables(toolkit):
    entities = call(toolkit["list_entities"])
    assert entities["values"] == ["e0", "e1", "e2", "e3"]
    latest = call(toolkit["entity_failure_risk"], entity="e1")
    assert len(latest["rows"]) == 1 and latest["rows"][0]["entity"] == "e1"
    week = call(toolkit["entity_failure_risk"], entity="e1", start="2026-01-10", end="2026-01-16")
    assert [r["day"] for r in week["rows"]] == [f"2026-01-{d}" for d in range(16, 9, -1)]
    ranked = call(toolkit["riskiest_entities"], day="2026-01-20", limit=3)
    probabilities = [r["probability"] for r in ranked["rows"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    explained = call(
        toolkit["explain_prediction"], model="fake_failure", keys={"entity": "e1", "day": "2026-01-20"}
    )
    assert {c["feature"] for c in explained["contributions"]} <= {"rate", "value"}
    summary = call(toolkit["health_summary"])
    assert summary["reliability"]["fake_failure"]["rows"] == 4
    assert {m["model"] for m in call(toolkit["list_models"])} == {"fake_anomaly", "fake_failure"}


HOSTILE = [
    ("entity_failure_risk", {"entity": "e1'; DROP TABLE x; --"}, "entity"),
    ("entity_failure_risk", {"entity": "nobody"}, "unknown entity 'nobody'.*list_entities"),
    ("entity_failure_risk", {"entity": "e1", "start": "2026-02-30"}, "start"),
    ("entity_failure_risk", {"entity": "e1", "start": "yesterday"}, "start"),
    ("entity_failure_risk", {"entity": "e1", "start": "2026-01-10", "end": "2026-01-01"}, "before start"),
    ("entity_failure_risk", {"entity": 12}, "entity"),
    ("entity_failure_risk", {"entity": "e1", "limit": 10**12}, "limit"),
    ("entity_failure_risk", {"entity": "e1", "limit": "5"}, "limit"),
    ("entity_failure_risk", {"entity": "e1", "sql": "select 1"}, "sql"),
    ("riskiest_entities", {"limit": -1}, "limit"),
    ("list_entities", {"prefix": "' OR 1=1"}, "prefix"),
    ("explain_prediction", {"model": "fake_failure", "keys": {"entity": "e1"}}, "keyed by"),
    ("explain_prediction", {"model": "../../etc", "keys": {}}, "model"),
    ("explain_prediction", {"model": "nope", "keys": {"a": "b"}}, "unknown model"),
    ("health_summary", {"domain": "weather"}, "unknown domain"),
]


@pytest.mark.parametrize(
    ("name", "args", "message"), HOSTILE, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(HOSTILE)]
)
def test_hostile_arguments_get_a_clear_message_and_change_nothing(agent_home, toolkit, name, args, message):
    import re

    runtime, _ = agent_home
    before = {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()}
    out = toolkit[name].invoke(args)
    assert isinstance(out, str) and re.search(message, out), out
    assert not out.startswith("{")
    assert {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()} == before


def test_unknown_domain_is_refused(agent_home):
    runtime, host = agent_home
    with pytest.raises(ConfigError, match="unknown domain 'weather'"):
        get_toolkit("weather", context=make_context(runtime=runtime, host=host))


def test_a_fake_agent_loop_calls_tools_and_survives_a_tool_error(toolkit):
    """The loop a LangChain agent runs: the model asks for tools, gets ToolMessages, goes on."""
    script = iter(
        [
            AIMessage(
                "", tool_calls=[{"name": "entity_failure_risk", "args": {"entity": "ghost"}, "id": "1"}]
            ),
            AIMessage("", tool_calls=[{"name": "list_entities", "args": {}, "id": "2"}]),
            AIMessage("", tool_calls=[{"name": "entity_failure_risk", "args": {"entity": "e2"}, "id": "3"}]),
            AIMessage("e2 is fine."),
        ]
    )
    model = ScriptedChatModel(messages=script).bind_tools(list(toolkit.values()))
    messages = [HumanMessage("Is any job at risk?")]
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for tool_call in reply.tool_calls:
            messages.append(toolkit[tool_call["name"]].invoke(tool_call))
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert "unknown entity 'ghost'" in results[0].content
    assert json.loads(results[2].content)["rows"][0]["entity"] == "e2"
    assert messages[-1].content == "e2 is fine."
