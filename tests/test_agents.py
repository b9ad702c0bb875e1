"""Agent toolkits: typed tools over prediction tables, driven by a fake chat model (no LLM)."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from health_monitor.agents import get_toolkit, make_context
from health_monitor.errors import ConfigError


@pytest.fixture(scope="module")
def toolkit(fake_trained_home):
    runtime, host = fake_trained_home
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
        assert tool.description and "untrusted data" in tool.description
        schema = tool.args_schema.model_json_schema()
        assert all(p.get("description") for p in schema.get("properties", {}).values()), tool.name


def test_tools_answer_from_the_prediction_tables(toolkit):
    entities = call(toolkit["list_entities"])
    assert list(entities)[0] == "data_notice" and entities["values"] == ["e0", "e1", "e2", "e3"]
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
    assert {m["model"] for m in call(toolkit["list_models"])["models"]} == {"fake_anomaly", "fake_failure"}


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
def test_hostile_arguments_get_a_clear_message_and_change_nothing(
    fake_trained_home, toolkit, name, args, message
):
    import re

    runtime, _ = fake_trained_home
    before = {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()}
    out = toolkit[name].invoke(args)
    assert isinstance(out, str) and re.search(message, out), out
    assert not out.startswith("{")
    assert {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()} == before


def test_unknown_domain_is_refused(fake_trained_home):
    runtime, host = fake_trained_home
    with pytest.raises(ConfigError, match="unknown domain 'weather'"):
        get_toolkit("weather", context=make_context(runtime=runtime, host=host))


class ScriptedChatModel(GenericFakeChatModel):
    """A chat model that replays scripted replies; tool binding is a no-op."""

    def bind_tools(self, tools, **kwargs):
        return self


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
