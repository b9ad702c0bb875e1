"""The Asset Bundle's jobs: accepted by databricks-bundles' typed ``Job`` (unknown keys and bad
enum values are refused) and each wheel task's parameters parsed by health-monitor's own command
line, so a job cannot call a command or flag that does not exist. ``databricks bundle validate``
(the Go CLI, not on PyPI) has not been run."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

from health_monitor.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def bundle() -> dict:
    root = yaml.safe_load((ROOT / "databricks.yml").read_text())
    for pattern in root.get("include", []):
        for path in sorted(ROOT.glob(pattern)):
            for kind, items in yaml.safe_load(path.read_text())["resources"].items():
                root.setdefault("resources", {}).setdefault(kind, {}).update(items)
    return root


def substituted(value, variables: dict):
    text = yaml.safe_dump(value)
    for name, spec in variables.items():
        text = text.replace("${var." + name + "}", str(spec["default"]))
    assert not re.search(r"\$\{var\.", text), f"undeclared variable in {text}"
    return yaml.safe_load(text)


def jobs() -> dict:
    root = bundle()
    return {k: substituted(v, root["variables"]) for k, v in root["resources"]["jobs"].items()}


def test_every_job_is_a_valid_job_and_its_tasks_call_real_commands():
    entry_points = {e.name for e in importlib.metadata.distribution("health-monitor").entry_points}
    assert jobs()
    for name, job in jobs().items():
        for task in job["tasks"]:
            wheel = task["python_wheel_task"]
            assert wheel["entry_point"] in entry_points, name
            args = build_parser().parse_args(wheel["parameters"])
            assert args.runtime == "databricks", f"{name}: a job on a workspace runs the databricks runtime"
            assert task["environment_key"] in {e["environment_key"] for e in job["environments"]}


def test_jobs_are_accepted_by_databricks_bundles():
    jobs_module = pytest.importorskip("databricks.bundles.jobs", reason="databricks-bundles is not installed")
    for job in jobs().values():
        jobs_module.Job.from_dict(job)
    with pytest.raises(Exception):  # noqa: B017  the check does refuse: an unknown key
        jobs_module.Job.from_dict({**next(iter(jobs().values())), "not_a_job_field": 1})


def test_the_job_entry_point_raises_the_exit_status(monkeypatch):
    from health_monitor import cli

    monkeypatch.setattr(cli, "main", lambda: 2)
    with pytest.raises(SystemExit) as exit_:
        cli.job()
    assert exit_.value.code == 2
