"""A sixth domain is a copied plugin folder: nothing outside it changes.

The quality plugin is copied to a temporary folder and renamed ``upkeep`` (package, distribution,
entry point, the domain of its specs), then installed the way pip would leave it (the package and
a dist-info with its entry point on the path). The core, run in a fresh interpreter, then lists
it as a plugin with its models and tools, gives its agent a toolkit, and keeps it under the import
contracts. Its pipelines are the quality plugin's, which its conformance suite trains and scores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fakes import write_dist_info

ROOT = Path(__file__).resolve().parents[1]

# One interpreter, several commands: the JSON each prints, keyed by the command.
DRIVER = """
import contextlib, io, json, sys
from health_monitor.cli import main
out = {}
for argv in (["plugins", "--json"], ["models", "--json"], ["tools", "--domain", "upkeep", "--json"]):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(argv)
    out[argv[0]] = {"status": status, "output": json.loads(buffer.getvalue())}
print(json.dumps(out))
"""


def copy_as(source: Path, to: Path, old: str, new: str) -> None:
    """Copy a plugin folder and rename it, as an author starting a new domain would."""
    shutil.copytree(source, to, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "dist"))
    (to / f"health_monitor_{old}").rename(to / f"health_monitor_{new}")
    for path in to.rglob("*"):
        if path.suffix in (".py", ".toml"):
            text = path.read_text()
            text = text.replace(f"health_monitor_{old}", f"health_monitor_{new}")
            text = text.replace(f"health-monitor-{old}", f"health-monitor-{new}")
            text = text.replace(f'"{old}"', f'"{new}"').replace(f"\n{old} = ", f"\n{new} = ")
            path.write_text(text)
    if (to / "tests" / f"test_{old}_conformance.py").exists():
        (to / "tests" / f"test_{old}_conformance.py").rename(to / "tests" / f"test_{new}_conformance.py")


def install_on_path(folder: Path, site: Path, name: str) -> None:
    """What ``pip install`` leaves: the package and a dist-info with the entry points."""
    shutil.copytree(folder / f"health_monitor_{name}", site / f"health_monitor_{name}")
    project = (folder / "pyproject.toml").read_text()
    section = project.split("[project.entry-points.health_monitor]")[1].split("\n[")[0]
    entry_points = dict(  # TOML `name = "module"` lines
        (key.strip(), value.strip().strip('"'))
        for key, value in (line.split("=", 1) for line in section.strip().splitlines())
    )
    write_dist_info(site, f"health-monitor-{name}", "0.1.0", entry_points)


def test_a_copied_and_renamed_plugin_is_a_sixth_domain(tmp_path):
    plugin, site = tmp_path / "plugins" / "upkeep", tmp_path / "site"
    copy_as(ROOT / "plugins" / "quality", plugin, "quality", "upkeep")
    site.mkdir()
    install_on_path(plugin, site, "upkeep")
    assert 'upkeep = "health_monitor_upkeep.plugin"' in (plugin / "pyproject.toml").read_text()

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        # With its original beside it, the copy's models would share their names with the
        # quality plugin's (an author renames them); here it stands beside cost instead.
        "HEALTH_MONITOR_PLUGINS": "cost,upkeep",
    }
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["plugins"]["status"] == 0, out["plugins"]
    plugins = {p["name"]: p for p in out["plugins"]["output"]["plugins"]}
    assert set(plugins) == {"cost", "upkeep"}
    assert plugins["upkeep"]["distribution"] == "health-monitor-upkeep" and plugins["upkeep"]["models"]
    models = [m for m in out["models"]["output"] if m["domain"] == "upkeep"]
    assert sorted(m["name"] for m in models) == sorted(plugins["upkeep"]["models"])
    tools = out["tools"]["output"]
    assert {t["toolkit"] for t in tools} >= {"upkeep"}, tools

    lint = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lint_imports.py"), "--show"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert "    health_monitor_upkeep\n" in lint.stdout and "BROKEN" not in lint.stdout
