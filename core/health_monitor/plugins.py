"""The plugin-manager factory: specs, entry points, allow/block lists, attributed failures."""

from __future__ import annotations

import importlib.metadata as md
import os
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from health_monitor import hookspecs
from health_monitor.errors import describe_plugin

ENTRY_POINT_GROUP = "health_monitor"
ENV_ALLOW = "HEALTH_MONITOR_PLUGINS"  # comma-separated: load only these
ENV_BLOCK = "HEALTH_MONITOR_DISABLE_PLUGINS"  # comma-separated: never load these


@dataclass(frozen=True)
class PluginInfo:
    """Who a plugin is: entry-point name, distribution and version (None for in-process ones)."""

    name: str
    distribution: str | None = None
    version: str | None = None

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

    ``plugins`` maps names to in-process plugin objects (registered first, e.g. fakes in tests).
    Entry points of group ``health_monitor`` are loaded one by one: an import error is recorded
    with the plugin's distribution and version and the others still load. ``allow``/``block``
    default to the ``HEALTH_MONITOR_PLUGINS`` / ``HEALTH_MONITOR_DISABLE_PLUGINS`` variables.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    result = PluginSet(pm)
    allow = allow if allow is not None else _names_from_env(ENV_ALLOW)
    block = block if block is not None else (_names_from_env(ENV_BLOCK) or set())

    def wanted(name: str) -> bool:
        return name not in block and (allow is None or name in allow)

    for name, plugin in (plugins or {}).items():
        if wanted(name):
            _register(result, plugin, PluginInfo(name))

    if load_entry_points:
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if not wanted(ep.name) or pm.has_plugin(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
            try:
                module = ep.load()
            except Exception as exc:  # any import-time failure is the plugin's, not ours
                result.problems.append(
                    PluginProblem(info, "import", f"{type(exc).__name__}: {exc}", traceback.format_exc())
                )
                continue
            _register(result, module, info)
    return result


def _register(result: PluginSet, plugin: object, info: PluginInfo) -> None:
    try:
        result.pm.register(plugin, name=info.name)
        # Every hookimpl must match a spec: a typo'd hook name would otherwise be silently ignored.
        result.pm.check_pending()
    except Exception as exc:
        if result.pm.is_registered(plugin):
            result.pm.unregister(plugin)
        result.problems.append(PluginProblem(info, "register", f"{type(exc).__name__}: {exc}"))
        return
    result.infos[info.name] = info
