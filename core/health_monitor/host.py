"""The typed facade over the hooks: the one place the core calls ``pm.hook.*``.

The host asks each plugin, one at a time, to register its specs, so that a plugin raising in a
hook is reported by name while the others still load. It validates what plugins register
(types, unique names, cross references) and exposes the result as plain core types.

Names have owners. A hook's registrations are collected from every plugin first and only then
decided, name by name, so the outcome never depends on the order plugins load in:

- a name one plugin claims is that plugin's;
- a name several plugins claim belongs to the one whose domain (its entry-point name) is the
  spec's ``domain``; the others are refused for that name only, with a problem naming the
  owner. When no single claimant is at home, every claimant is refused;
- labels, explainers and finding rules are keyed by model: only the plugin that owns the model
  may give them.

A plugin raising in a hook registers nothing of that hook, but the names it had claimed stay
claimed: another plugin cannot take them over because their owner broke.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from health_monitor.plugins import (
    ENV_ALLOW,
    ENV_BLOCK,
    PluginInfo,
    PluginProblem,
    PluginSet,
    make_plugin_manager,
)
from health_monitor.sdk.specs import AgentTool, Explainer, FeatureTable, FindingRule, Labels, Model

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
    findings: dict[str, Owned[FindingRule]] = field(default_factory=dict)  # by model
    endpoints: dict[str, str] = field(default_factory=dict)  # serve path -> model, as models declare

    @property
    def problems(self) -> list[PluginProblem]:
        return self.plugin_set.problems

    @property
    def plugins(self) -> list[PluginInfo]:
        return sorted(self.plugin_set.infos.values(), key=lambda p: p.name)

    @property
    def domains(self) -> list[str]:
        """The domains of what is installed: those of the models and of the tools (not 'all')."""
        found = {o.spec.domain for o in self.models.values()}
        found |= {o.spec.domain for o in self.tools.values() if o.spec.domain != "all"}
        return sorted(found)

    @property
    def gold_tables(self) -> list[str] | None:
        """The Gold tables the installed plugins read (their feature tables' and models'
        ``sources``), or None for every Gold table: no feature table is installed to say, or one
        declares no sources (it may read any)."""
        tables = [o.spec for o in self.feature_tables.values()]
        if not tables or any(not t.sources for t in tables):
            return None
        declared = {s for t in tables for s in t.sources}
        return sorted(declared | {s for o in self.models.values() for s in o.spec.sources})

    def models_of(self, plugin: str) -> list[str]:
        return sorted(name for name, owned in self.models.items() if owned.plugin.name == plugin)

    def owned_by(self, plugin: str) -> dict[str, list[str]]:
        """Every name ``plugin`` owns, by kind (feature_tables, models, labels, explainers, tools,
        findings: the models it declares finding rules for)."""
        kinds: dict[str, dict[str, Owned[Any]]] = {
            "feature_tables": self.feature_tables,
            "models": self.models,
            "labels": self.labels,
            "explainers": self.explainers,
            "tools": self.tools,
            "findings": self.findings,
        }
        return {
            kind: sorted(name for name, owned in registered.items() if owned.plugin.name == plugin)
            for kind, registered in kinds.items()
        }

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
    _collect(host, "register_feature_tables", FeatureTable, host.feature_tables, lambda s: s.name, _by_domain)
    _collect(host, "register_models", Model, host.models, lambda s: s.name, _by_domain)
    _collect(host, "register_labels", Labels, host.labels, lambda s: s.model, _by_model_owner(host))
    _collect(
        host, "register_explainers", Explainer, host.explainers, lambda s: s.model, _by_model_owner(host)
    )
    _collect(host, "register_tools", AgentTool, host.tools, lambda s: s.name, _by_domain)
    _collect(host, "register_findings", FindingRule, host.findings, lambda s: s.model, _by_model_owner(host))
    _check_references(host)
    _collect_endpoints(host)
    return host


def _collect_endpoints(host: Host) -> None:
    """Each path once: a second model that declares a path already taken keeps /models/<name> only."""
    for name, owned in sorted(host.models.items()):
        path = owned.spec.endpoint
        if path is None:
            continue
        if path in host.endpoints:
            host.problems.append(
                PluginProblem(
                    owned.plugin,
                    "register_models",
                    f"model {name}: endpoint {path} is already the endpoint of model {host.endpoints[path]}; "
                    f"{name} is served at /models/{name} only",
                )
            )
            continue
        host.endpoints[path] = name


@dataclass(frozen=True)
class _Claim:
    spec: Any
    plugin: PluginInfo
    live: bool  # False when the plugin's hook raised: the claim reserves the name, registers nothing


# Who owns a name, given every claim on it: (owner's plugin name, why), or None: nobody does.
Resolver = Callable[[str, list[_Claim]], "tuple[str, str] | None"]


def _by_domain(name: str, claims: list[_Claim]) -> tuple[str, str] | None:
    if len(claims) == 1:
        return claims[0].plugin.name, "the only plugin that registers it"
    at_home = [c for c in claims if getattr(c.spec, "domain", None) == c.plugin.domain]
    if len(at_home) != 1:
        return None
    return at_home[0].plugin.name, f"whose domain {at_home[0].plugin.domain!r} it is in"


def _by_model_owner(host: Host) -> Resolver:
    def resolve(name: str, claims: list[_Claim]) -> tuple[str, str] | None:
        owner = host.models.get(name)
        if owner is not None:
            return owner.plugin.name, f"which owns the model {name!r}"
        # An unknown model: one claim is kept for _check_references to report; several are refused.
        return (claims[0].plugin.name, "") if len(claims) == 1 else None

    return resolve


def _collect(
    host: Host,
    hook: str,
    kind: type,
    into: dict[str, Owned],
    key: Callable[[Any], str | None],
    resolve: Resolver,
) -> None:
    pset = host.plugin_set
    claims: dict[str, list[_Claim]] = {}
    for impl in getattr(pset.pm.hook, hook).get_hookimpls():
        info = pset.infos.get(impl.plugin_name, PluginInfo(impl.plugin_name))
        staged: dict[str, Any] = {}

        def register(spec: Any, _info: PluginInfo = info, _staged: dict = staged) -> None:
            # Refusals are per object: the plugin's other registrations go on.
            if not isinstance(spec, kind):
                error = f"{hook} expects {kind.__name__} objects, got {type(spec).__name__}"
            elif not key(spec):
                error = f"{hook}: registered object {spec!r} has no name"
            elif key(spec) in _staged:
                error = f"{kind.__name__} {key(spec)!r} is registered twice by {_info}"
            else:
                _staged[key(spec)] = spec
                return
            pset.problems.append(PluginProblem(_info, hook, error))

        live = True
        try:
            impl.function(register=register)
        except Exception as exc:
            # All or nothing per plugin and hook: a half-registered plugin is worse than none.
            pset.problems.append(
                PluginProblem(info, hook, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
            live = False
        for name, spec in staged.items():
            claims.setdefault(name, []).append(_Claim(spec, info, live))

    for name in sorted(claims):
        group = claims[name]
        decided = resolve(name, group)
        for claim in group:
            if decided is not None and claim.plugin.name == decided[0]:
                if claim.live:
                    into[name] = Owned(claim.spec, claim.plugin)
                continue
            error = _refusal(kind, name, group, claim, decided, pset)
            pset.problems.append(PluginProblem(claim.plugin, hook, error))


def _refusal(
    kind: type,
    name: str,
    group: list[_Claim],
    claim: _Claim,
    decided: tuple[str, str] | None,
    pset: PluginSet,
) -> str:
    what = f"{kind.__name__} {name!r}"
    if decided is not None:
        owner = pset.infos.get(decided[0], PluginInfo(decided[0]))
        return f"{what} belongs to {owner}, {decided[1]}; not registered for {claim.plugin}"
    claimants = " and ".join(str(c.plugin) for c in group)
    domain = getattr(claim.spec, "domain", None)
    in_domain = f" (its domain is {domain!r})" if domain else ""
    return (
        f"{what} is registered twice: by {claimants}, and it is in the domain of none of them{in_domain}; "
        f"registered by neither. Keep one with {ENV_ALLOW} or {ENV_BLOCK}"
    )


def _check_references(host: Host) -> None:
    """Drop feature tables and models whose sources are not Gold tables, models whose lookups
    name missing feature tables, and labels and finding rules of unknown models."""
    from health_monitor.gold.contract import GOLD_TABLES

    registries: tuple[tuple[str, str, dict[str, Owned[Any]]], ...] = (
        ("feature table", "register_feature_tables", host.feature_tables),
        ("model", "register_models", host.models),
    )
    for kind, hook, registered in registries:
        for name, owned in list(registered.items()):
            unknown = [s for s in owned.spec.sources if s not in GOLD_TABLES]
            if unknown:
                del registered[name]
                why = f"{kind} {name}: sources {unknown} are not Gold tables; they are {sorted(GOLD_TABLES)}"
                host.problems.append(PluginProblem(owned.plugin, hook, why))
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
    for model, owned_labels in list(host.labels.items()):
        if model not in host.models:
            del host.labels[model]
            host.problems.append(
                PluginProblem(owned_labels.plugin, "register_labels", f"labels for unknown model {model}")
            )
    for model, owned_rule in list(host.findings.items()):
        if model not in host.models:
            del host.findings[model]
            host.problems.append(
                PluginProblem(
                    owned_rule.plugin, "register_findings", f"finding rule for unknown model {model}"
                )
            )
