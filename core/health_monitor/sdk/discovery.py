"""Specs found in a package's modules, so that adding a model to a plugin is adding one file.

A plugin keeps one module per model (the model, its labels, its finding rule) in a subpackage,
and its ``plugin.py`` registers whatever is there::

    from health_monitor_mydomain import models
    from health_monitor.sdk import Labels, Model, hookimpl, specs_in

    @hookimpl
    def register_models(register):
        for model in specs_in(models, Model):
            register(model)
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def specs_in(package: ModuleType | str, kind: type[T]) -> list[T]:
    """Every module-level object of type ``kind`` in the modules of ``package`` (not in its
    subpackages), module by module in name order, each in the order its module defines them, and
    each once. A module-level name counts wherever its object came from: define specs in these
    modules, do not import other modules' specs into them. A module that fails to import raises:
    the plugin's hook then fails, and the host reports it against the plugin."""
    if isinstance(package, str):
        package = importlib.import_module(package)
    paths = getattr(package, "__path__", None)
    if paths is None:
        raise TypeError(f"specs_in needs a package, got the module {package.__name__!r}")
    found: list[T] = []
    for info in sorted(pkgutil.iter_modules(paths), key=lambda m: m.name):
        if info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found += [v for v in vars(module).values() if isinstance(v, kind) and all(v is not f for f in found)]
    return found
