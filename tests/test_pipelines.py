"""The three pipelines on fake plugins: contracts, isolation of failures, champion/challenger,
idempotent inference and explanations."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from health_monitor.models.explain import explain_prediction
from health_monitor.models.verdicts import VERDICTS
from health_monitor.pipelines import run_features, run_infer, run_train
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import AgentTool, Contribution, Explainer, FeatureTable, Labels, Lookup
from health_monitor.serving.scoring import Champions
from tests.fakes import (
    ExplodingEstimator,
    FakePlugin,
    anomaly_model,
    failure_labels,
    failure_model,
    file_days,
    write_fake_gold,
)

PREDICTION_META = ["model_name", "model_version", "scored_at"]


@pytest.fixture
def fake_home(hm_runtime):
    write_fake_gold(hm_runtime)
    return hm_runtime


def run_all(runtime, host):
    return [fn(runtime, host, progress=False) for fn in (run_features, run_train, run_infer)]


def test_features_train_infer_write_the_standard_tables(fake_home, make_host):
    host = make_host({"fake": FakePlugin()})
    features, train, infer = run_all(fake_home, host)
    assert features.ok and train.ok and infer.ok
    s = fake_home.settings
    anomaly = fake_home.lakehouse.read_arrow(s.predictions("fake_anomaly")).to_pandas()
    assert {"entity", "day", "prediction", "anomaly_score", "is_anomaly", *PREDICTION_META} <= set(
        anomaly.columns
    )
    assert anomaly["anomaly_score"].between(0, 1).all()
    failure = fake_home.lakehouse.read_arrow(s.predictions("fake_failure")).to_pandas()
    assert {"probability", "as_of"} <= set(failure.columns) and failure["probability"].between(0, 1).all()
    details = {i.item: i.details for i in train.items}
    assert details["fake_failure"]["metrics"]["f1"] >= 0 and details["fake_failure"]["baseline_metrics"]
    assert details["fake_anomaly"]["metrics"] == {}  # no labels: trained, not evaluated
    assert details["fake_failure"]["verdict"] in VERDICTS
    low, high = details["fake_failure"]["difference_ci95"]
    assert (details["fake_failure"]["verdict"] == "beats baseline") == (low > 0) and low <= high
    assert (
        details["fake_anomaly"]["verdict"] == "not evaluated"
        and details["fake_anomaly"]["alias"] == "champion"
    )
    assert fake_home.lakehouse.describe(s.predictions("fake_failure")).primary_keys == ["entity", "day"]
    # Every fake entity has days on both sides of the one calendar cutoff: none is a cold start.
    coverage = details["fake_failure"]["coverage"]
    assert coverage["test_entities"] >= 1 and coverage["test_rows_unseen_share"] == 0.0, coverage


def test_a_model_raising_in_training_is_reported_and_the_others_finish(fake_home, make_host):
    broken = failure_model("broken_model", estimator=lambda: ExplodingEstimator())
    host = make_host({"fake": FakePlugin([anomaly_model(), broken])})
    _, train, infer = run_all(fake_home, host)
    by_item = {i.item: i for i in train.items}
    assert by_item["fake_anomaly"].ok
    assert not by_item["broken_model"].ok
    assert "boom in fit" in by_item["broken_model"].error
    assert by_item["broken_model"].plugin.name == "fake"
    assert [i.item for i in infer.failed] == ["broken_model"]
    assert "has no 'champion' version" in infer.failed[0].error
    assert fake_home.lakehouse.exists(fake_home.settings.predictions("fake_anomaly"))


def test_a_worse_new_version_stays_challenger(fake_home, make_host):
    run_all(fake_home, make_host({"fake": FakePlugin()}))
    worse = failure_model(estimator=lambda: DummyClassifier(strategy="constant", constant=0))
    train = run_train(fake_home, make_host({"fake": FakePlugin([worse])}), progress=False)
    (item,) = train.items
    assert item.ok and item.details["alias"] == "challenger" and item.details["version"] == 2
    assert "better on the same test rows" in item.details["alias_reason"]
    infer = run_infer(fake_home, make_host({"fake": FakePlugin([worse])}), progress=False)
    assert infer.items[0].details["version"] == 1  # scoring keeps using the champion


def test_a_champion_that_cannot_score_the_test_rows_keeps_its_place(fake_home, make_host):
    run_all(fake_home, make_host({"fake": FakePlugin()}))
    # The new version reads other features: v1 cannot score its test rows, so they cannot be compared.
    other = dataclasses.replace(
        failure_model(),
        lookups=(Lookup("fake_features", ("entity",), ("rate",), timestamp_lookup_key="as_of"),),
    )
    train = run_train(fake_home, make_host({"fake": FakePlugin([other])}), progress=False)
    (item,) = train.items
    assert item.ok and item.details["alias"] == "challenger" and item.details["version"] == 2
    assert "champion v1 could not be scored on the same test rows" in item.details["alias_reason"]
    assert "health-monitor promote --model fake_failure --version 2" in item.details["alias_reason"]


def test_held_back_then_promoted_by_hand_then_rolled_back(fake_home, make_host, capsys):
    """A first version that loses to its baseline has no champion (infer skips it, with the way
    out); `promote` makes it champion; a better v2 replaces it; rolling back is promoting v1, and
    infer and the tools follow."""
    from health_monitor.agents import get_toolkit, make_context
    from health_monitor.cli import main

    losing = failure_model(estimator=lambda: DummyClassifier(strategy="constant", constant=0))
    host = make_host({"fake": FakePlugin([losing])})
    _, train, infer = run_all(fake_home, host)
    (item,) = train.items
    assert item.details["verdict"] == "does not beat baseline" and item.details["difference_ci95"][1] < 0
    assert item.details["alias"] == "challenger" and "no champion yet" in item.details["alias_reason"]
    (skipped,) = infer.items
    assert skipped.ok and "held v1 back" in skipped.details["skipped"]
    assert "health-monitor promote --model fake_failure --version 1" in skipped.details["skipped"]
    from health_monitor.errors import HealthMonitorError
    from health_monitor.serving.scoring import Champions

    with pytest.raises(HealthMonitorError, match="held v1 back .*promote --model fake_failure --version 1"):
        Champions(fake_home, host).get("fake_failure")  # what `serve` answers with its 503

    home = ["--home", str(fake_home.settings.home)]
    assert (
        main(
            ["promote", "--model", "fake_failure", "--version", "1", "--reason", "better than nothing", *home]
        )
        == 0
    )
    assert run_infer(fake_home, host, progress=False).items[0].details["version"] == 1

    good = make_host({"fake": FakePlugin([failure_model()])})
    (item,) = run_train(fake_home, good, progress=False).items
    assert item.details["alias"] == "champion" and item.details["version"] == 2
    assert item.details["alias_reason"].startswith("not worse than v1 outside the noise")
    assert run_infer(fake_home, good, progress=False).items[0].details["version"] == 2

    assert main(["promote", "--model", "fake_failure", "--version", "1", "--reason", "rollback", *home]) == 0
    capsys.readouterr()
    assert run_infer(fake_home, good, progress=False).items[0].details["version"] == 1
    table = fake_home.lakehouse.read_arrow(fake_home.settings.predictions("fake_failure")).to_pandas()
    assert (table["model_version"] == 1).all()
    tools = {
        t.name: t for t in get_toolkit("reliability", context=make_context(runtime=fake_home, host=good))
    }
    explained = tools["explain_prediction"].invoke(
        {"model": "fake_failure", "keys": {"entity": "e1", "day": "2026-02-01"}}
    )
    assert '"model_version":1' in explained.replace(" ", "")


def test_running_infer_twice_gives_the_same_tables(fake_home, make_host):
    host = make_host({"fake": FakePlugin()})
    run_all(fake_home, host)
    table = fake_home.settings.predictions("fake_failure")

    def content():
        df = fake_home.lakehouse.read_arrow(table).to_pandas().drop(columns=["scored_at"])
        return df.sort_values(["entity", "day"]).reset_index(drop=True)

    first = content()
    assert run_infer(fake_home, host, progress=False).ok
    pd.testing.assert_frame_equal(first, content())


def test_selecting_a_model_runs_only_it_and_its_tables(fake_home, make_host):
    host = make_host({"fake": FakePlugin()})
    assert [t.spec.name for t in host.select_feature_tables(model="fake_failure")] == ["fake_features"]
    run_features(fake_home, host, progress=False)
    train = run_train(fake_home, host, model="fake_failure", progress=False)
    assert [i.item for i in train.items] == ["fake_failure"]


def test_explain_uses_the_default_or_the_plugins_explainer(fake_home, make_host):
    host = make_host({"fake": FakePlugin()})
    run_all(fake_home, host)
    keys = {"entity": "e1", "day": "2026-02-01"}
    default = explain_prediction(Champions(fake_home, host), "fake_failure", keys, top_k=2)
    assert default["explainer"] == "occlusion" and default["keys"]["entity"] == "e1"
    assert {c["feature"] for c in default["contributions"]} <= {"rate", "value"}
    assert 0 <= default["outputs"]["probability"] <= 1

    class Explains(FakePlugin):
        @hookimpl
        def register_explainers(self, register):
            register(
                Explainer(
                    "fake_failure",
                    lambda est, X, k: [[Contribution("rate", 0.5, 0.9)] for _ in range(len(X))],
                )
            )

    custom = explain_prediction(Champions(fake_home, make_host({"fake": Explains()})), "fake_failure", keys)
    assert custom["explainer"] == "plugin" and custom["contributions"][0]["weight"] == 0.9


def test_explain_rejects_bad_keys_clearly(fake_home, make_host):
    from health_monitor.errors import ConfigError

    host = make_host({"fake": FakePlugin()})
    run_all(fake_home, host)
    with pytest.raises(ConfigError, match=r"keyed by \['entity', 'day'\]; missing \['day'\]"):
        explain_prediction(Champions(fake_home, host), "fake_failure", {"entity": "e1"})
    with pytest.raises(ConfigError, match="no prediction of fake_failure"):
        explain_prediction(
            Champions(fake_home, host),
            "fake_failure",
            {"entity": "x'; DROP TABLE t; --", "day": "2026-02-01"},
        )
    with pytest.raises(ConfigError, match="unknown model"):
        explain_prediction(Champions(fake_home, host), "nope", {})


def test_tools_are_registered_by_name(make_host):
    from pydantic import BaseModel

    class NoArgs(BaseModel):
        pass

    tool = AgentTool(
        "fake_lookup", "cost", "Look up nothing at all, for the test.", NoArgs, lambda ctx, a: {}
    )

    class Tools:
        @hookimpl
        def register_tools(self, register):
            register(tool)

    host = make_host({"tools": Tools()})
    assert list(host.tools) == ["fake_lookup"]

    class NotATool:
        @hookimpl
        def register_tools(self, register):
            register(object())

    broken = make_host({"broken": NotATool()})
    assert broken.tools == {} and "expects AgentTool" in broken.problems[0].error


def test_a_training_set_over_the_row_limit_is_a_fixed_sample_of_it(hm_settings, spark, make_host):
    """The training set is fitted on the driver: above ``max_training_rows`` base rows, a model
    trains on about that many, the same ones each time (a hash of their keys), and says so."""

    from health_monitor.config import ConfigError, Settings
    from health_monitor.pipelines.train import SAMPLED_FROM, training_frame
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(dataclasses.replace(hm_settings, max_training_rows=1000))
    write_fake_gold(runtime, days=150, entities=20)  # 3,000 base rows
    host = make_host({"fake": FakePlugin([failure_model()])})
    assert run_features(runtime, host, progress=False).ok
    spec = host.models["fake_failure"].spec
    _, frame, _ = training_frame(runtime, host, spec)
    _, again, _ = training_frame(runtime, host, spec)
    assert 700 <= len(frame) <= 1300 and frame.attrs[SAMPLED_FROM] == 3000
    assert frame[["entity", "day"]].equals(again[["entity", "day"]])
    assert frame["entity"].nunique() == 20 and frame["day"].nunique() > 100  # spread, not a block
    report = run_train(runtime, host, progress=False)
    assert report.ok
    said = report.items[0].details["warnings"][0]
    assert said.startswith(f"trained and evaluated on {len(frame):,} of 3,000 base rows"), said

    _, whole, _ = training_frame(Runtime.embedded(hm_settings), host, spec)  # the default limit
    assert len(whole) == 3000 and SAMPLED_FROM not in whole.attrs
    with pytest.raises(ConfigError, match="max training rows must be at least 1000"):
        Settings(home=hm_settings.home, max_training_rows=10)


def test_labels_that_repeat_a_key_are_counted_and_sampled_from_the_join(hm_settings, spark, make_host):
    """Base rows within the limit bound the training set only while labels hold one row per key:
    labels that repeat a key make more rows than the base, and the join is then counted and
    sampled like a base over the limit."""
    from health_monitor.pipelines.train import SAMPLED_FROM, training_frame
    from health_monitor.runtime import Runtime

    class RepeatedLabels(FakePlugin):
        @hookimpl
        def register_labels(self, register):
            for model in self.models:
                register(Labels(model.name, lambda t: failure_labels(t).unionByName(failure_labels(t))))

    runtime = Runtime.embedded(dataclasses.replace(hm_settings, max_training_rows=1000))
    write_fake_gold(runtime, days=30, entities=20)  # 600 base rows, each labelled twice
    host = make_host({"fake": RepeatedLabels([failure_model()])})
    assert run_features(runtime, host, progress=False).ok
    _, frame, _ = training_frame(runtime, host, host.models["fake_failure"].spec)
    assert frame.attrs[SAMPLED_FROM] == 1200 and 700 <= len(frame) <= 1100


class DayColumnPlugin:
    """One feature table keyed by ``k`` alone, its days from ``day_column`` (no timestamp key)."""

    def __init__(self, spark):
        self.spark = spark

    @hookimpl
    def register_feature_tables(self, register):
        def compute(tables):
            # 60 days of 10 rows, in a shuffled order (the first write must not depend on it).
            return self.spark.range(600).selectExpr(
                "cast(id as string) as k",
                "timestamp(date_add(date'2026-01-01', cast((id * 7) % 60 as int))) as ts",
            )

        register(FeatureTable("day_rows", ("k",), compute, day_column="ts", sources=()))


def test_the_first_write_of_a_table_with_a_day_column_holds_contiguous_days_per_file(
    hm_runtime, make_host, spark, monkeypatch
):
    """A table whose days come from its ``day_column`` is filed by those days from its first
    write: otherwise every file spans the whole history and the daily run's first
    ``replace_where`` rewrites the whole table (query_features at the seed scale)."""
    monkeypatch.setattr("health_monitor.lakehouse.layout.CLUSTER_FILE_ROWS", 70)
    report = run_features(hm_runtime, make_host({"days": DayColumnPlugin(spark)}), progress=False)
    assert report.ok, report.failed
    name = hm_runtime.settings.feature_table("day_rows")
    ranges = sorted(file_days(hm_runtime.lakehouse, name).values())
    assert len(ranges) == 9  # ceil(60 days / 7), the row cap allowing it
    for (_, last), (first, _) in zip(ranges, ranges[1:], strict=False):
        assert last < first  # no day is split across files, and the files do not overlap
    assert hm_runtime.lakehouse.read(name).count() == 600
