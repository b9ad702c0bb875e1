"""An agent loop over the reliability toolkit, with a rule-based stand-in for the chat model.

    .venv/bin/python examples/agent_loop.py [--home H]

Run it after ``./run demo``. A real agent binds the same tools to any LangChain chat model that
supports tool calling (``llm.bind_tools(tools)``) and runs the same loop; the stand-in here makes
it reproducible without an LLM or network: it asks for the riskiest jobs, explains the top one,
probes an unknown job (the tool error comes back as a message and the loop goes on) and answers.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from health_monitor.agents import get_toolkit


class RuleBasedChatModel(BaseChatModel):
    """Decides the next tool call from the tool results so far (a stand-in for an LLM)."""

    @property
    def _llm_type(self) -> str:
        return "rule-based"

    def bind_tools(self, tools: list[Any], **kwargs: Any) -> RuleBasedChatModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            reply = _call("riskiest_jobs", {"limit": 3})
        elif len(results) == 1:
            top = json.loads(results[0].content)["rows"][0]
            reply = _call(
                "explain_prediction",
                {
                    "model": "job_failure_predictor",
                    "keys": {"job_id": top["job_id"], "run_date": top["run_date"]},
                    "top_k": 3,
                },
            )
        elif len(results) == 2:
            reply = _call("job_failure_risk", {"job_id": "999"})
        else:
            explained = json.loads(results[1].content)
            drivers = ", ".join(f"{c['feature']}={c['value']}" for c in explained["contributions"])
            reply = AIMessage(
                f"Job {explained['keys']['job_id']} is the most likely to fail on {explained['keys']['run_date']} "
                f"(probability {explained['outputs']['probability']:.2f}); main drivers: {drivers}."
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _call(name: str, args: dict) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{name}"}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="the demo home (default: HEALTH_MONITOR_HOME or ~/.health-monitor)")
    args = parser.parse_args()
    tools = {t.name: t for t in get_toolkit("reliability", args.home)}
    model = RuleBasedChatModel().bind_tools(list(tools.values()))
    messages: list = [HumanMessage("Which job is most likely to fail next, and why?")]
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = tools[call["name"]].invoke(call)
            messages.append(result)
            print(f"> {call['name']}({json.dumps(call['args'])})\n  {result.content[:300]}")
    print(f"\n{messages[-1].content}")


if __name__ == "__main__":
    main()
