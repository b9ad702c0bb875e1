"""The Asset Bundle's jobs: accepted by databricks-bundles' typed ``Job`` (unknown keys and bad
enum values are refused) and each wheel task's parameters parsed by health-monitor's own command
line, so a job cannot call a command or flag that does not exist. ``databricks bundle validate``
(the Go CLI, not on PyPI) has not been run."""

from __future__ import annotations

import importlib.metadata
import json
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
    """``value`` with every ``${var.*}`` replaced by its default, or by a placeholder for a
    variable that says it is required; an undeclared variable fails."""
    text = yaml.safe_dump(value)
    for name, spec in variables.items():
        if "default" in spec:
            replacement = str(spec["default"])
        else:
            assert spec.get("description", "").startswith("Required"), (
                f"{name}: no default, not said required"
            )
            replacement = f"required-{name}"
        text = text.replace("${var." + name + "}", replacement)
    assert not re.search(r"\$\{var\.", text), f"undeclared variable in {text}"
    return yaml.safe_load(text)


def resources(kind: str) -> dict:
    root = bundle()
    return {k: substituted(v, root["variables"]) for k, v in root["resources"].get(kind, {}).items()}


def jobs() -> dict:
    return resources("jobs")


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


def test_the_bundle_runs_the_daily_job_and_trains_weekly():
    commands = {}
    for job in jobs().values():
        for task in job["tasks"]:
            commands[build_parser().parse_args(task["python_wheel_task"]["parameters"]).command] = job
    assert {"run", "train"} <= set(commands)
    assert build_parser().parse_args(commands["run"]["tasks"][0]["python_wheel_task"]["parameters"]).no_train
    assert commands["train"]["schedule"]["quartz_cron_expression"].split()[3:] == ["?", "*", "SUN"]


def test_every_variable_is_declared_and_set_in_each_target():
    root = bundle()
    variables = root["variables"]
    for target, spec in root["targets"].items():
        assert set(spec.get("variables", {})) <= set(variables), target
    # Every variable used anywhere (jobs, dashboards, alerts) is declared.
    substituted(root["resources"], variables)
    assert "default" not in variables["warehouse_id"]  # a warehouse id cannot be guessed


def test_dashboards_point_at_files_whose_widgets_use_their_datasets():
    boards = resources("dashboards")
    assert boards
    for key, resource in boards.items():
        assert resource["warehouse_id"] == "required-warehouse_id", key
        path = ROOT / "resources" / resource["file_path"]
        assert path.is_file() and path.name.endswith(".lvdash.json"), path
        board = json.loads(path.read_text())
        datasets = [d["name"] for d in board["datasets"]]
        assert len(set(datasets)) == len(datasets), f"{path.name}: a dataset name is used twice"
        used = set()
        for page in board["pages"]:
            names = [item["widget"]["name"] for item in page["layout"]]
            assert len(set(names)) == len(names), f"{path.name}: widget names repeat on {page['name']}"
            for item in page["layout"]:
                assert {"x", "y", "width", "height"} <= set(item["position"])
                assert item["position"]["x"] + item["position"]["width"] <= 6
                for query in item["widget"].get("queries", []):
                    used.add(query["query"]["datasetName"])
        assert used <= set(datasets), f"{path.name}: widgets use undefined datasets {used - set(datasets)}"
        assert set(datasets) <= used, f"{path.name}: datasets no widget shows {set(datasets) - used}"


def test_dashboards_and_alerts_are_accepted_by_databricks_bundles():
    dashboards = pytest.importorskip(
        "databricks.bundles.dashboards", reason="databricks-bundles is not installed"
    )
    alerts = pytest.importorskip("databricks.bundles.alerts")
    assert resources("dashboards") and resources("alerts")
    for resource in resources("dashboards").values():
        dashboards.Dashboard.from_dict(resource)
    for resource in resources("alerts").values():
        alerts.Alert.from_dict(resource)
    alert = next(iter(resources("alerts").values()))
    with pytest.raises(Exception):  # noqa: B017  an operator the API does not know is refused
        alerts.Alert.from_dict(
            {**alert, "evaluation": {**alert["evaluation"], "comparison_operator": "ABOVE"}}
        )


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
