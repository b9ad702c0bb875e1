"""import-linter over the core and every installed plugin (``./run lint`` and ``./run test`` call it).

``[tool.importlinter]`` in pyproject.toml names no plugin: the list entry ``"<plugins>"`` stands
for the top-level packages of the installed plugins (the ``health_monitor`` entry points). A
plugin copied into ``plugins/`` and installed is therefore under the same contracts, with no
file outside its folder changed, and a contract can never skip a plugin it was not told about.
This writes the expanded configuration to a temporary INI file and runs ``lint-imports`` on it;
its exit status is lint-imports'.

    .venv/bin/python scripts/lint_imports.py [--show]    # --show: print the expanded configuration
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = "<plugins>"
GROUP = "health_monitor"  # health_monitor.plugins.ENTRY_POINT_GROUP, without importing the core


def installed_plugins() -> list[str]:
    """The top-level package of each installed plugin's entry point, sorted."""
    packages = {ep.value.split(":")[0].split(".")[0] for ep in md.entry_points(group=GROUP)}
    if not packages:
        raise SystemExit(f"lint_imports: no plugin installed in the {GROUP!r} entry-point group")
    return sorted(packages)


def expand(values: list[str], plugins: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out += plugins if value == PLACEHOLDER else [value]
    return out


def ini(config: dict, plugins: list[str]) -> str:
    """The ``[tool.importlinter]`` table as import-linter's INI format, placeholders expanded."""
    lines = ["[importlinter]", *_field("root_packages", expand(config["root_packages"], plugins))]
    for i, contract in enumerate(config["contracts"]):
        lines += ["", f"[importlinter:contract:{i + 1}]"]
        for key, value in contract.items():
            if isinstance(value, list):
                lines += _field(key, expand(value, plugins))
            else:
                lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"


def _field(key: str, values: list[str]) -> list[str]:
    return [f"{key} =", *(f"    {v}" for v in values)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the expanded configuration first")
    args = parser.parse_args(argv)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    text = ini(config, installed_plugins())
    if args.show:
        print(text)
    with tempfile.NamedTemporaryFile("w", suffix=".ini", prefix="importlinter-", delete=False) as f:
        f.write(text)
    try:
        lint = Path(sys.executable).parent / "lint-imports"
        return subprocess.run([str(lint), "--config", f.name, "--no-cache"], cwd=ROOT).returncode
    finally:
        Path(f.name).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
