"""The typed facade over the hooks: the one place the core calls ``pm.hook.*``.

The host asks each plugin, one at a time, to register its specs, so that a plugin raising in a
hook is reported by name while the others still load. It validates what plugins register
(types, unique names, cross references) and exposes the result as plain core types.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from health_monitor.plugins import PluginInfo, PluginProblem, PluginSet, make_plugin_manager
from health_monitor.specs import AgentTool, Explainer, FeatureTable, Labels, Model

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Owned(Generic[T]):
    """A registered spec with the plugin that registered it."""

    spec: T
    plugin: PluginInfo


@dataclass
class Host:
    """What the loaded plugins contribute, validated; build one with :func:`load_host`."""

    plugin_set: PluginSet
    feature_tables: dict[str, Owned[FeatureTable]] = field(default_factory=dict)
    models: dict[str, Owned[Model]] = field(default_factory=dict)
    labels: dict[str, Owned[Labels]] = field(default_factory=dict)
    explainers: dict[str, Owned[Explainer]] = field(default_factory=dict)
    tools: dict[str, Owned[AgentTool]] = field(default_factory=dict)

    @property
    def problems(self) -> list[PluginProblem]:
        return self.plugin_set.problems

    @property
    def plugins(self) -> list[PluginInfo]:
        return sorted(self.plugin_set.infos.values(), key=lambda p: p.name)

    def models_of(self, plugin: str) -> list[str]:
        return sorted(name for name, owned in self.models.items() if owned.plugin.name == plugin)

    def select_models(self, domain: str | None = None, model: str | None = None) -> list[Owned[Model]]:
        """Models filtered by domain and/or name; an unknown name raises with the valid ones."""
        from health_monitor.errors import ConfigError

        if model is not None and model not in self.models:
            raise ConfigError(
                f"unknown model {model!r}; known models: {', '.join(sorted(self.models)) or 'none'}"
            )
        domains = sorted({o.spec.domain for o in self.models.values()})
        if domain is not None and domain not in domains:
            raise ConfigError(
                f"unknown domain {domain!r}; domains with models: {', '.join(domains) or 'none'}"
            )
        return [
            owned
            for name, owned in sorted(self.models.items())
            if (model is None or name == model) and (domain is None or owned.spec.domain == domain)
        ]

    def select_feature_tables(
        self, domain: str | None = None, model: str | None = None
    ) -> list[Owned[FeatureTable]]:
        """The feature tables the selected models read (all tables when nothing is selected)."""
        if domain is None and model is None:
            return [self.feature_tables[name] for name in sorted(self.feature_tables)]
        wanted = {lookup.table for o in self.select_models(domain, model) for lookup in o.spec.lookups}
        return [self.feature_tables[name] for name in sorted(wanted) if name in self.feature_tables]

    # -- lifecycle hooks: observers; their failures are logged, never fatal --------------------

    def notify(self, hook: str, **kwargs: Any) -> None:
        caller = getattr(self.plugin_set.pm.hook, hook)
        for impl in caller.get_hookimpls():
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception:
                info = self.plugin_set.infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
                log.warning("%s raised in %s; ignored:\n%s", info, hook, traceback.format_exc())


def load_host(plugin_set: PluginSet | None = None) -> Host:
    """Load plugins (entry points unless ``plugin_set`` is given) and collect their specs."""
    host = Host(plugin_set or make_plugin_manager())
    _collect(host, "register_feature_tables", FeatureTable, host.feature_tables, lambda s: s.name)
    _collect(host, "register_models", Model, host.models, lambda s: s.name)
    _collect(host, "register_labels", Labels, host.labels, lambda s: s.model)
    _collect(host, "register_explainers", Explainer, host.explainers, lambda s: s.model)
    _collect(host, "register_tools", AgentTool, host.tools, lambda s: s.name)
    _check_references(host)
    return host


def _collect(
    host: Host, hook: str, kind: type, into: dict[str, Owned], key: Callable[[Any], str | None]
) -> None:
    pset = host.plugin_set
    for impl in getattr(pset.pm.hook, hook).get_hookimpls():  # registration order
        info = pset.infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
        staged: dict[str, Owned] = {}

        def register(spec: Any, _info: PluginInfo = info, _staged: dict = staged) -> None:
            if not isinstance(spec, kind):
                raise TypeError(f"{hook} expects {kind.__name__} objects, got {type(spec).__name__}")
            name = key(spec)
            if not name:
                raise TypeError(f"{hook}: registered object {spec!r} has no name")
            if name in into or name in _staged:
                other = (into.get(name) or _staged[name]).plugin
                raise ValueError(f"{kind.__name__} {name!r} is registered twice: by {other} and by {_info}")
            _staged[name] = Owned(spec, _info)

        try:
            impl.function(register=register)
        except Exception as exc:
            # All or nothing per plugin and hook: a half-registered plugin is worse than none.
            pset.problems.append(
                PluginProblem(info, hook, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
            continue
        into.update(staged)


def _check_references(host: Host) -> None:
    """Drop models whose lookups name missing feature tables, and labels of unknown models."""
    for name, owned in list(host.models.items()):
        missing = [lk.table for lk in owned.spec.lookups if lk.table not in host.feature_tables]
        if missing:
            del host.models[name]
            host.problems.append(
                PluginProblem(
                    owned.plugin, "register_models", f"model {name} looks up unknown feature tables {missing}"
                )
            )
            continue
        for lookup in owned.spec.lookups:
            table = host.feature_tables[lookup.table].spec
            expected = [
                k
                for k in table.primary_keys
                if not (lookup.timestamp_lookup_key and k == table.timestamp_key)
            ]
            if len(lookup.lookup_key) != len(expected):
                del host.models[name]
                host.problems.append(
                    PluginProblem(
                        owned.plugin,
                        "register_models",
                        f"model {name}: lookup on {lookup.table} has keys {list(lookup.lookup_key)} "
                        f"but the table's keys are {expected}",
                    )
                )
                break
    for model, owned in list(host.labels.items()):
        if model not in host.models:
            del host.labels[model]
            host.problems.append(
                PluginProblem(owned.plugin, "register_labels", f"labels for unknown model {model}")
            )
