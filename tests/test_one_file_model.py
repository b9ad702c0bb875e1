"""Adding a model is one file: a module holding the model, its labels and its finding rule, in a
plugin whose ``plugin.py`` registers what ``specs_in`` finds. The model here reads the cost
plugin's workspace-day features, and trains and scores on a copy of the trained home."""

from __future__ import annotations

import importlib
import shutil
import sys
import textwrap

import pytest

from health_monitor.config import Settings
from health_monitor.host import load_host
from health_monitor.pipelines import run_infer, run_train
from health_monitor.plugins import make_plugin_manager
from health_monitor.runtime import Runtime

PLUGIN = '''
"""Registers every model module in health_monitor_onefile.models."""
from health_monitor.sdk import FindingRule, Labels, Model, hookimpl, specs_in
from health_monitor_onefile import models


@hookimpl
def register_models(register):
    for spec in specs_in(models, Model):
        register(spec)


@hookimpl
def register_labels(register):
    for spec in specs_in(models, Labels):
        register(spec)


@hookimpl
def register_findings(register):
    for spec in specs_in(models, FindingRule):
        register(spec)
'''

# The one file: what docs/plugins.md shows as "a model in one file".
MODEL_FILE = '''
"""Will a workspace's all-purpose spend jump tomorrow? One file: model, labels, finding rule."""
from pyspark.sql import Window
from pyspark.sql import functions as F
from sklearn.linear_model import LogisticRegression

from health_monitor.sdk import FindingRule, HistoryRateClassifier, Labels, Lookup, Model, ProblemType
from health_monitor.sdk.findingkit import number, numeric

FEATURES = ("all_purpose_cost_z_7d", "jobs_on_all_purpose_share", "api_cluster_cost_share")


def workspace_days(tables):
    return tables.features("cost_features").select("workspace_id", "usage_date", "as_of_date")


def jumps_tomorrow(tables):
    days = tables.features("cost_features").select("workspace_id", "usage_date", "all_purpose_cost_z_7d")
    tomorrow = F.lead("all_purpose_cost_z_7d").over(Window.partitionBy("workspace_id").orderBy("usage_date"))
    labelled = days.withColumn("label", (F.coalesce(tomorrow, F.lit(0.0)) > 1.0).cast("int"))
    return labelled.select("workspace_id", "usage_date", "label")


ALL_PURPOSE_JUMP = Model(
    name="all_purpose_jump_predictor",
    domain="onefile",
    problem_type=ProblemType.CLASSIFICATION,
    keys=("workspace_id", "usage_date"),
    time_column="usage_date",
    lookups=(Lookup("cost_features", ("workspace_id", "usage_date"), FEATURES, timestamp_lookup_key="as_of_date"),),
    base=workspace_days,
    estimator=lambda: LogisticRegression(max_iter=500),
    baseline=lambda: HistoryRateClassifier(column="all_purpose_cost_z_7d"),
    baseline_name="today's all-purpose cost z-score as the risk",
    description="Probability that a workspace's all-purpose spend jumps tomorrow.",
)
LABELS = Labels("all_purpose_jump_predictor", jumps_tomorrow, description="1 when tomorrow's z-score > 1.")
FINDING = FindingRule(
    model="all_purpose_jump_predictor",
    when=lambda rows: numeric(rows, "prediction") >= 1,
    entity=("workspace_id",),
    entity_kind="workspace",
    severity="low",
    reason=lambda rows: "all-purpose spend likely to jump tomorrow (probability " + number(rows["probability"], 2) + ")",
    action="Check which all-purpose clusters run scheduled jobs; move those jobs to job clusters.",
    columns=("prediction", "probability"),
)
'''


@pytest.fixture
def onefile(tmp_path, monkeypatch):
    package = tmp_path / "health_monitor_onefile"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (package / "plugin.py").write_text(PLUGIN)
    (package / "models" / "__init__.py").write_text("")
    (package / "models" / "all_purpose_jump.py").write_text(textwrap.dedent(MODEL_FILE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("health_monitor_onefile.plugin")
    for name in [m for m in sys.modules if m.startswith("health_monitor_onefile")]:
        del sys.modules[name]


def test_the_model_file_is_short():
    assert len(textwrap.dedent(MODEL_FILE).strip().splitlines()) <= 80


def test_a_model_in_one_file_registers_trains_and_scores(onefile, trained_home, tmp_path):
    runtime, _, _ = trained_home
    host = load_host(make_plugin_manager(load_entry_points=True, plugins={"onefile": onefile}))
    assert host.problems == []
    assert host.models["all_purpose_jump_predictor"].plugin.name == "onefile"
    assert {"all_purpose_jump_predictor"} <= set(host.labels) & set(host.findings)

    shutil.copytree(runtime.settings.home, tmp_path / "home")
    home = Runtime.embedded(Settings(home=tmp_path / "home"))
    trained = run_train(home, host, model="all_purpose_jump_predictor", progress=False)
    (item,) = trained.items
    assert item.ok, item.error
    assert item.details["metrics"] and item.details["baseline_metrics"]
    scored = run_infer(home, host, model="all_purpose_jump_predictor", progress=False)
    assert scored.ok
    if item.details["alias"] == "champion":
        table = home.lakehouse.read_arrow(home.settings.predictions("all_purpose_jump_predictor"))
        assert table.num_rows > 0
