"""The plugin SDK: importing a plugin loads no Spark session, no MLflow and no LangChain, and the
import-linter contracts that keep plugins on the SDK name every module of the core."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

import health_monitor
from health_monitor.plugins import ENTRY_POINT_GROUP
from tests.fakes import write_dist_info

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("mlflow", "langchain_core", "langchain")

# Run in a fresh interpreter: import the SDK, then each plugin's entry point in turn, and after
# each report which heavy modules are loaded and whether a Spark context or its JVM gateway exists.
# Nothing heavy may be loaded at any step, so the first module to load one is the one named.
PROBE = f"""
import importlib, json, sys
from pyspark import SparkContext
for module in ["health_monitor.sdk", *sys.argv[1:]]:
    importlib.import_module(module)
    print(json.dumps({{
        "module": module,
        "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
        "spark_context": SparkContext._active_spark_context is not None,
        "jvm_gateway": SparkContext._gateway is not None,
    }}))
"""


def _plugin_modules() -> list[tuple[str, str]]:
    return sorted((ep.name, ep.value.split(":")[0]) for ep in md.entry_points(group=ENTRY_POINT_GROUP))


def test_importing_the_sdk_or_a_plugin_loads_no_spark_session_mlflow_or_langchain():
    modules = [module for _, module in _plugin_modules()]
    assert modules, "no plugin installed"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [s["module"] for s in steps] == ["health_monitor.sdk", *modules]
    for step in steps:
        assert step["heavy"] == [] and not step["spark_context"] and not step["jvm_gateway"], step


def _core_modules() -> set[str]:
    """Every top-level module and package of the core."""
    core = Path(health_monitor.__file__).parent
    found = {p.stem for p in core.glob("*.py") if p.stem != "__init__"}
    found |= {p.name for p in core.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return {f"health_monitor.{m}" for m in found}


def test_the_sdk_contracts_forbid_every_core_module_but_the_sdk_and_the_errors():
    """A new core module must be added to both lists, or plugins could import it unnoticed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["name"]: c for c in config["contracts"]}
    allowed = {"health_monitor.sdk", "health_monitor.errors"}
    expected = _core_modules() - allowed
    for name in (
        "Plugins import only the SDK (and the errors) of the core",
        "The SDK stands alone: it imports nothing of the core but the errors",
    ):
        forbidden = set(contracts[name]["forbidden_modules"])
        assert forbidden == expected, (
            name,
            {"missing": sorted(expected - forbidden), "not a core module": sorted(forbidden - expected)},
        )


def test_the_configuration_names_no_plugin():
    """The contracts say "<plugins>"; scripts/lint_imports.py puts the installed ones in."""
    text = (ROOT / "pyproject.toml").read_text()
    named = [pkg for pkg in {module.split(".")[0] for _, module in _plugin_modules()} if pkg in text]
    assert not named, f"pyproject.toml names plugin package(s) {named}"


def test_a_newly_installed_plugin_is_under_the_contracts(tmp_path):
    """A plugin nobody listed anywhere, installed (a dist-info on the path), that imports the
    core's internals: the lint fails and names it."""
    (tmp_path / "health_monitor_upkeep").mkdir()
    (tmp_path / "health_monitor_upkeep" / "__init__.py").write_text("")
    (tmp_path / "health_monitor_upkeep" / "plugin.py").write_text(
        "from health_monitor.config import Settings\n"
    )
    write_dist_info(tmp_path, "health-monitor-upkeep", "0.1.0", {"upkeep": "health_monitor_upkeep.plugin"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    script = [sys.executable, str(ROOT / "scripts" / "lint_imports.py"), "--show"]
    proc = subprocess.run(script, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "    health_monitor_upkeep\n" in proc.stdout  # in the expanded lists
    assert "Plugins import only the SDK (and the errors) of the core BROKEN" in proc.stdout
    assert "health_monitor_upkeep.plugin -> health_monitor.config" in proc.stdout


def test_tools_and_endpoints_word_a_refused_argument_alike():
    """One validation layer: ``sdk.args.problems`` words what a ToolArgs model refused, for the
    agent tools and the endpoints alike (each problem with the field it is about)."""
    from pydantic import ValidationError

    from health_monitor.sdk.args import Identifier, Limit, ToolArgs, problems

    class Args(ToolArgs):
        entity: Identifier
        limit: Limit = 5

    cases = {
        '{"limit": 3}': [("entity", "field 'entity' is required")],
        '{"entity": "a b"}': [
            ("entity", "field 'entity' has characters outside [A-Za-z0-9_.:@+-] or is too long")
        ],
        '{"entity": 7}': [("entity", "field 'entity' must be a string")],
        '{"entity": "a", "colour": "red"}': [
            ("colour", "unknown field 'colour'; this tool takes ['entity', 'limit']")
        ],
        "[1]": [(None, "the body must be a JSON object")],
    }
    for body, expected in cases.items():
        with pytest.raises(ValidationError) as refused:
            Args.model_validate_json(body)
        assert problems(refused.value, Args, "this tool") == expected, body
    with pytest.raises(ValidationError) as refused:
        Args.model_validate_json('{"entity": "", "limit": 0}')
    assert [field for field, _ in problems(refused.value, Args, "this tool")] == ["entity", "limit"]
