"""Fake plugins and tiny hand-made Gold tables for testing the core's mechanics.

The real models are tested on the simulated account; these fakes test what the core does with
any plugin: loading, attribution, isolation of failures, the pipelines' contracts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import numpy as np
import pyarrow as pa
from pyspark.sql import Window
from pyspark.sql import functions as F
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression

from health_monitor.sdk.args import Identifier
from health_monitor.sdk.baselines import HistoryRateClassifier, ZScoreRule
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import FeatureTable, FindingRule, Labels, Lookup, Model, ProblemType
from health_monitor.sdk.tools import entity_tool, listing_tool, ranking_tool

START = dt.date(2026, 1, 1)


def write_fake_gold(runtime, days: int = 40, entities: int = 4, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(days), entities)
    entity = np.tile([f"e{i}" for i in range(entities)], days)
    value = rng.normal(100, 10, (days, entities))
    # A day fails when the day before ran hot: learnable from features looked up as of yesterday.
    yesterday = np.vstack([np.full((1, entities), 100.0), value[:-1]])
    failed = (yesterday + rng.normal(0, 4, yesterday.shape) > 107).astype(int).ravel()
    value = value.ravel()
    runtime.lakehouse.write(
        runtime.settings.gold("facts"),
        pa.table(
            {
                "entity": entity,
                "day": [START + dt.timedelta(int(d)) for d in day],
                "value": value,
                "failed": failed,
            }
        ),
    )


def fake_features(tables):
    gold = tables.gold("facts")
    prior = Window.partitionBy("entity").orderBy("day").rowsBetween(-7, -1)
    return gold.select(
        "entity",
        "day",
        "value",
        ((F.col("value") - F.avg("value").over(prior)) / F.stddev("value").over(prior)).alias("z"),
        F.avg("failed").over(Window.partitionBy("entity").orderBy("day").rowsBetween(-14, 0)).alias("rate"),
    )


FAKE_TABLE = FeatureTable("fake_features", ("entity", "day"), fake_features, timestamp_key="day")


def anomaly_model(name: str = "fake_anomaly", estimator=None) -> Model:
    return Model(
        name,
        "cost",
        ProblemType.ANOMALY_DETECTION,
        ("entity", "day"),
        "day",
        (Lookup("fake_features", ("entity", "day"), ("value", "z")),),
        base=lambda t: t.features("fake_features").select("entity", "day"),
        estimator=estimator or (lambda: IsolationForest(n_estimators=20, random_state=0)),
        baseline=lambda: ZScoreRule("z"),
        baseline_name="z-score",
    )


def failure_model(name: str = "fake_failure", estimator=None) -> Model:
    return Model(
        name,
        "reliability",
        ProblemType.CLASSIFICATION,
        ("entity", "day"),
        "day",
        (Lookup("fake_features", ("entity",), ("rate", "value"), timestamp_lookup_key="as_of"),),
        base=lambda t: t.features("fake_features").select(
            "entity", "day", F.date_sub("day", 1).alias("as_of")
        ),
        estimator=estimator or (lambda: LogisticRegression()),
        baseline=lambda: HistoryRateClassifier("rate"),
        baseline_name="history",
    )


def failure_labels(tables):
    return tables.gold("facts").select("entity", "day", F.col("failed").alias("label"))


class FakePlugin:
    """Registers one feature table and two models (anomaly + classification)."""

    def __init__(self, models=None):
        self.models = models if models is not None else [anomaly_model(), failure_model()]

    @hookimpl
    def register_feature_tables(self, register):
        register(FAKE_TABLE)

    @hookimpl
    def register_models(self, register):
        for model in self.models:
            register(model)

    @hookimpl
    def register_labels(self, register):
        for model in self.models:
            if model.problem_type is not ProblemType.ANOMALY_DETECTION:
                register(Labels(model.name, failure_labels))


class ExplodingEstimator(LogisticRegression):
    """Raises in fit, as a plugin's buggy model would."""

    def fit(self, X, y):
        raise RuntimeError("boom in fit")


RELEASE_HUNG_FITS = threading.Event()  # a test sets it to let the hung fits return


class HangingEstimator(LogisticRegression):
    """Does not return from fit until the test releases it, as a deadlocked plugin model would."""

    def fit(self, X, y):
        RELEASE_HUNG_FITS.wait()
        return super().fit(X, y)


ENTITY = (Identifier, "Entity name, e.g. 'e1'")
FAKE_TOOLS = (
    entity_tool(
        "entity_failure_risk",
        "reliability",
        "fake_failure",
        "entity",
        "Failure risk of one entity per day.",
        "list_entities",
        kind=ENTITY,
    ),
    ranking_tool(
        "riskiest_entities", "reliability", "fake_failure", "Entities most likely to fail on a day."
    ),
    listing_tool("list_entities", "reliability", "fake_failure", "entity", "List entities with predictions."),
)


class ToolPlugin(FakePlugin):
    """FakePlugin plus three agent tools over ``fake_failure``."""

    @hookimpl
    def register_tools(self, register):
        for tool in FAKE_TOOLS:
            register(tool)


# -- findings: three detectors of one user's bad day, and their hand-written prediction tables ----

SIGNAL_MODELS = ("fake_threat", "fake_egress", "fake_privilege")


def _flag_rule(model: str, severity: str = "high") -> FindingRule:
    return FindingRule(
        model=model,
        when=lambda rows: rows["is_anomaly"] == 1,
        entity=("entity",),
        entity_kind="user",
        severity=severity,
        reason=lambda rows: "score " + rows["anomaly_score"].map("{:.2f}".format),
        action=f"look at what {model} saw",
        columns=("is_anomaly", "anomaly_score"),
    )


class FindingsPlugin(FakePlugin):
    """Three anomaly detectors of users in the security domain, each with a finding rule; the
    third's flags are ``critical``."""

    def __init__(self):
        super().__init__([dataclasses.replace(anomaly_model(n), domain="security") for n in SIGNAL_MODELS])

    @hookimpl
    def register_findings(self, register):
        for model in SIGNAL_MODELS:
            register(_flag_rule(model, "critical" if model == "fake_privilege" else "high"))


def write_signal_predictions(runtime, model: str, day: dt.date, flagged: dict[str, float]) -> None:
    """``<model>_predictions`` holding one day: users ``u1``-``u3`` scored, those in ``flagged``
    (user -> anomaly score) flagged, with an older day before it that flags everyone."""
    users = ["u1", "u2", "u3"]
    rows = {
        "entity": users * 2,
        "day": [day - dt.timedelta(days=1)] * 3 + [day] * 3,
        "prediction": [1.0] * 3 + [1.0 if u in flagged else 0.0 for u in users],
        "anomaly_score": [0.99] * 3 + [flagged.get(u, 0.5) for u in users],
        "is_anomaly": [1] * 3 + [1 if u in flagged else 0 for u in users],
        "model_name": [model] * 6,
        "model_version": [1] * 6,
    }
    runtime.lakehouse.write(
        runtime.settings.predictions(model), pa.table(rows), primary_keys=["entity", "day"]
    )


def write_dist_info(where, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """What ``pip install`` leaves for a distribution in folder ``where``: a dist-info with its
    metadata and its ``health_monitor`` entry points (name -> module), found once ``where`` is on
    the path."""
    info = where / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[health_monitor]\n{lines}")


def file_days(lake, name: str, column: str = "ts") -> dict:
    """Each data file of local table ``name``: its first and last day of ``column``, from the
    file's footer (how the lakehouse decides which files a ``replace_where`` touches)."""
    from health_monitor.lakehouse.local import _day_range

    path = lake.path(name)
    return {
        a: _day_range(path / a, column)
        for a in lake._delta(name).get_add_actions(flatten=True)["path"].to_pylist()
    }
