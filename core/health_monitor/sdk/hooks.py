"""The plugin contract: every hook health-monitor calls, in the order the pipelines call them.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match the
specs below; an installed distribution exposes it through the ``health_monitor`` entry-point
group, named after its domain::

    [project.entry-points.health_monitor]
    cost = "health_monitor_cost.plugin"

Two kinds of hooks, one grammar:

- ``register_*(register)`` hooks are called once when the host loads its plugins. The plugin
  calls ``register(spec)`` for each thing it contributes. Names have owners: a name two plugins
  register goes to the plugin whose domain (its entry-point name) is the spec's ``domain``, and
  the other is refused that name only, with a problem naming the owner; labels, explainers and
  finding rules come only from the model's owner (``health_monitor.host``). A plugin that registers nothing
  simply does not implement the hook.
- ``before_stage`` / ``after_stage`` / ``on_stage_error`` are called around each pipeline stage
  (``features``, ``train``, ``infer``) for every item it processes; they observe and must not
  change what they receive.

Implementations may take any subset of a spec's arguments, by name (pluggy's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "health_monitor"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration, called once at load time, in this order -----------------------------------


@hookspec
def register_feature_tables(register: Callable[..., None]) -> None:
    """Declare the feature tables this plugin computes (the **features** hook).

    Call ``register(FeatureTable(...))`` once per table. Called when the host loads plugins,
    before any pipeline runs. The feature pipeline later calls each table's ``compute`` with a
    read-only :class:`~health_monitor.sdk.specs.Tables` and writes the result, enforcing the
    primary key.
    """


@hookspec
def register_models(register: Callable[..., None]) -> None:
    """Declare the models this plugin trains (the **train** hook).

    Call ``register(Model(...))`` once per model. The training pipeline builds each model's
    training set from its ``base`` and ``lookups``, fits a clone of ``estimator()`` and of
    ``baseline()`` on the older rows, evaluates both on the newer ones, logs and registers the
    model. Models may use feature tables of other plugins by name.
    """


@hookspec
def register_labels(register: Callable[..., None]) -> None:
    """Declare how each model's label is computed (the **labels** hook).

    Call ``register(Labels(model=..., compute=...))``; ``compute`` returns the model's keys
    plus the label column. Every supervised model needs exactly one; an anomaly detector's
    labels are used only for evaluation.
    """


@hookspec
def register_explainers(register: Callable[..., None]) -> None:
    """Declare model-specific explanations (the **explain** hook).

    Call ``register(Explainer(model=..., explain=...))``. Models without one are explained by
    the core's default (occlusion against training medians). Used by ``health-monitor
    explain`` and the agents' explain tool.
    """


@hookspec
def register_tools(register: Callable[..., None]) -> None:
    """Declare agent tools this plugin ships (for the domain's LangChain toolkit).

    Call ``register(tool)`` with a :class:`health_monitor.sdk.specs.AgentTool`: a name, the domain
    whose agent gets it, a description, a pydantic argument model and a ``run(context, args)``
    that reads predictions through the :class:`health_monitor.sdk.specs.ToolContext`. Tool names are
    global and stable (agents and prompts refer to them): a name two plugins register goes to
    the plugin whose domain is the tool's ``domain``.
    """


@hookspec
def register_findings(register: Callable[..., None]) -> None:
    """Declare when a model's prediction is a finding (the **findings** hook).

    Call ``register(FindingRule(model=..., when=..., entity=..., entity_kind=..., severity=...,
    reason=..., action=...))`` at most once per model; only the plugin that owns the model may
    (like labels and explainers). After ``infer``, ``health_monitor.reports.findings.update_findings``
    evaluates each rule on its model's latest day of predictions, merges the findings about one
    entity from several models into one, and keeps them with their state in
    ``<catalog>.ml.findings``. A model without a rule makes no findings (its predictions stay
    in its table, for tools and dashboards).
    """


# --- lifecycle, around each item of each pipeline stage --------------------------------------


@hookspec
def before_stage(stage: str, item: str, settings: Any) -> None:
    """Called before ``stage`` (``features``, ``train``, ``infer``) processes ``item`` (a
    feature table or model name). Observe only."""


@hookspec
def after_stage(stage: str, item: str, settings: Any, result: dict[str, Any]) -> None:
    """Called after ``item`` succeeded; ``result`` holds what the stage reports (rows written,
    metrics, model version). Must not be mutated."""


@hookspec
def on_stage_error(stage: str, item: str, settings: Any, error: BaseException) -> None:
    """Called when ``item`` failed, or was stopped at the item time limit (``error`` is then a
    ``health_monitor.deadline.TimeLimitError``). The stage goes on with the next item; the
    run's summary and exit status report the failure."""
