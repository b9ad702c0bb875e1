"""The plugin-manager factory: specs, entry points, allow/block lists, attributed failures.

Which plugin is loaded under a name never depends on the order the entry points are found in:
two distributions declaring the same entry-point name, or one module under two entry-point
names, are resolved by a fixed rule (the distribution named ``health-monitor-<name>`` wins)
and reported as problems naming both.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from health_monitor.errors import describe_plugin
from health_monitor.sdk import hooks as hookspecs

ENTRY_POINT_GROUP = "health_monitor"
ENV_ALLOW = "HEALTH_MONITOR_PLUGINS"  # comma-separated: load only these
ENV_BLOCK = "HEALTH_MONITOR_DISABLE_PLUGINS"  # comma-separated: never load these


@dataclass(frozen=True)
class PluginInfo:
    """Who a plugin is: entry-point name, distribution and version (None for in-process ones)."""

    name: str
    distribution: str | None = None
    version: str | None = None

    @property
    def domain(self) -> str:
        """The domain this plugin speaks for: its entry-point name (``cost = "health_monitor_cost.plugin"``).

        Names registered in that domain (a model's ``domain``, a feature table's or a tool's)
        belong to this plugin when another plugin claims them too. Entry-point names are unique
        in a plugin set, so each domain has at most one owner.
        """
        return self.name

    @property
    def canonical(self) -> bool:
        """True when the distribution is named after the entry point (``health-monitor-<name>``)."""
        return self.distribution is not None and _normalize(self.distribution) == _normalize(
            f"health-monitor-{self.name}"
        )

    def __str__(self) -> str:
        return describe_plugin(self.name, self.distribution, self.version)


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that failed to load or to register; the others went on."""

    plugin: PluginInfo
    phase: str  # "import", "register_models", ...
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.plugin} failed in {self.phase}: {self.error}"


@dataclass
class PluginSet:
    """A plugin manager with what was loaded and what failed to load."""

    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def info_for(self, plugin: Any) -> PluginInfo:
        name = self.pm.get_name(plugin) or repr(plugin)
        return self.infos.get(name, PluginInfo(name))


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _names_from_env(var: str) -> set[str] | None:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def make_plugin_manager(
    *,
    load_entry_points: bool = True,
    plugins: dict[str, ModuleType | object] | None = None,
    allow: set[str] | None = None,
    block: set[str] | None = None,
) -> PluginSet:
    """Build a fresh plugin manager; no global state, so tests make their own.

    ``plugins`` maps names to in-process plugin objects (registered first, e.g. fakes in tests;
    an entry point of the same name is then not loaded). Entry points of group
    ``health_monitor`` are loaded one by one: an import error is recorded with the plugin's
    distribution and version and the others still load. ``allow``/``block`` default to the
    ``HEALTH_MONITOR_PLUGINS`` / ``HEALTH_MONITOR_DISABLE_PLUGINS`` variables; an entry matches
    a plugin's entry-point name or its distribution name.

    Two distributions declaring one entry-point name: the one named ``health-monitor-<name>``
    is loaded and the others are reported; when none or several are, none is loaded. One module
    under several entry-point names: it is registered once, under the name its distribution is
    named after, or under none of them if that does not single one out; either way reported.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    result = PluginSet(pm)
    allow = allow if allow is not None else _names_from_env(ENV_ALLOW)
    block = block if block is not None else (_names_from_env(ENV_BLOCK) or set())
    allow = {_normalize(n) for n in allow} if allow is not None else None
    block = {_normalize(n) for n in block}

    def wanted(info: PluginInfo) -> bool:
        names = {_normalize(info.name)} | ({_normalize(info.distribution)} if info.distribution else set())
        return not (names & block) and (allow is None or bool(names & allow))

    candidates: list[tuple[PluginInfo, object]] = [
        (PluginInfo(name), plugin) for name, plugin in (plugins or {}).items() if wanted(PluginInfo(name))
    ]
    if load_entry_points:
        candidates += _load_entry_points(result, wanted, taken={info.name for info, _ in candidates})
    for info, plugin in _one_name_per_module(result, candidates):
        _register(result, plugin, info)
    return result


def _load_entry_points(result: PluginSet, wanted, taken: set[str]) -> list[tuple[PluginInfo, object]]:
    by_name: dict[str, list[tuple[PluginInfo, md.EntryPoint]]] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
        if ep.name not in taken and wanted(info):
            by_name.setdefault(ep.name, []).append((info, ep))
    loaded = []
    for name in sorted(by_name):
        claims = sorted(by_name[name], key=lambda c: (c[0].distribution or "", c[1].value))
        if len(claims) > 1:
            winners = [c for c in claims if c[0].canonical]
            winner = winners[0] if len(winners) == 1 else None
            for claim in claims:
                if claim is winner:
                    continue
                info, ep = claim
                others = ", ".join(f"{i} -> {e.value}" for i, e in claims if i is not info)
                why = (
                    f"its distribution is not {winner[0].distribution}, which is named after it"
                    if winner
                    else f"no single one of them is the distribution health-monitor-{name}"
                )
                result.problems.append(
                    PluginProblem(
                        info,
                        "entry point",
                        f"entry point {name!r} ({ep.value}) is also declared by {others}; not loaded: {why}. "
                        f"Keep one with {ENV_ALLOW} or {ENV_BLOCK} (distribution names are accepted)",
                    )
                )
            if winner is None:
                continue
            claims = [winner]
        ((info, ep),) = claims
        try:
            module = ep.load()
        except Exception as exc:  # any import-time failure is the plugin's, not ours
            result.problems.append(
                PluginProblem(info, "import", f"{type(exc).__name__}: {exc}", traceback.format_exc())
            )
            continue
        loaded.append((info, module))
    return loaded


def _one_name_per_module(
    result: PluginSet, candidates: list[tuple[PluginInfo, object]]
) -> list[tuple[PluginInfo, object]]:
    """Keep one name per plugin object: pluggy registers an object once, so a second name would
    either be refused or, worse, unregister the first."""
    groups: dict[int, list[tuple[PluginInfo, object]]] = {}
    for info, plugin in candidates:
        groups.setdefault(id(plugin), []).append((info, plugin))
    kept = []
    for info, plugin in candidates:
        group = groups[id(plugin)]
        if len(group) == 1:
            kept.append((info, plugin))
            continue
        canonical = [i for i, _ in group if i.canonical]
        keep = canonical[0] if len(canonical) == 1 else None
        if info is keep:
            kept.append((info, plugin))
            continue
        names = " and ".join(repr(i.name) for i, _ in group)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        outcome = f"registered as {keep.name!r} only" if keep else "registered under none of them"
        result.problems.append(
            PluginProblem(
                info,
                "entry point",
                f"module {module} is declared under the entry points {names}; {outcome}. "
                "Declare one entry point per plugin module",
            )
        )
    return kept


def _register(result: PluginSet, plugin: object, info: PluginInfo) -> None:
    try:
        result.pm.register(plugin, name=info.name)
        # Every hookimpl must match a spec: a typo'd hook name would otherwise be silently ignored.
        result.pm.check_pending()
    except Exception as exc:
        if result.pm.get_name(plugin) == info.name:  # only undo our own registration
            result.pm.unregister(plugin)
        result.problems.append(PluginProblem(info, "register", f"{type(exc).__name__}: {exc}"))
        return
    result.infos[info.name] = info
