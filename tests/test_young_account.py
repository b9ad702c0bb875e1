"""A young account: a model with nothing to learn from yet (no base rows, or none whose outcome is
known) is skipped by training, and by inference in the same job, with why; the job goes on and
does not fail. Base rows and labels that share no key are a plugin's bug, and fail."""

from __future__ import annotations

import dataclasses

from pyspark.sql import functions as F

from health_monitor.jobs import run_pipelines
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import Labels
from tests.fakes import FakePlugin, anomaly_model, failure_labels, failure_model, write_fake_gold


class LabelledBy(FakePlugin):
    """FakePlugin whose classifier's labels are ``labels(tables)``."""

    def __init__(self, labels, models=None):
        super().__init__(models or [anomaly_model(), failure_model()])
        self.labels = labels

    @hookimpl
    def register_labels(self, register):
        register(Labels("fake_failure", self.labels))


def items(result, stage):
    return {i.item: i for r in result.reports if r.stage == stage for i in r.items}


def test_a_model_without_known_outcomes_is_skipped_by_train_and_infer(hm_runtime, make_host):
    write_fake_gold(hm_runtime)
    unknown = LabelledBy(lambda t: failure_labels(t).withColumn("label", F.lit(None).cast("int")))
    result = run_pipelines(hm_runtime, make_host({"fake": unknown}))
    train, infer = items(result, "train"), items(result, "infer")
    assert all(i.ok for r in result.reports for i in r.items), [
        i.error for r in result.reports for i in r.failed
    ]
    why = train["fake_failure"].details["skipped"]
    assert why.startswith(
        "model fake_failure: nothing to train on yet: none of its 160 base rows has a label"
    )
    assert infer["fake_failure"].details["skipped"] == f"not trained: {why}"
    assert "skipped" not in train["fake_anomaly"].details and "skipped" not in infer["fake_anomaly"].details
    assert hm_runtime.lakehouse.exists(hm_runtime.settings.predictions("fake_anomaly"))
    assert not hm_runtime.lakehouse.exists(hm_runtime.settings.predictions("fake_failure"))


def test_a_model_with_no_base_rows_yet_is_skipped(hm_runtime, make_host):
    write_fake_gold(hm_runtime)
    none_yet = dataclasses.replace(failure_model(), base=lambda t: failure_model().base(t).where("false"))
    result = run_pipelines(hm_runtime, make_host({"fake": FakePlugin([none_yet])}))
    why = items(result, "train")["fake_failure"].details["skipped"]
    assert why == "model fake_failure: nothing to train on yet: its base has no rows in Gold"
    assert items(result, "infer")["fake_failure"].details["skipped"] == f"not trained: {why}"


def test_labels_that_share_no_key_with_the_base_fail(hm_runtime, make_host):
    write_fake_gold(hm_runtime)
    shifted = lambda t: failure_labels(t).withColumn("entity", F.concat(F.lit("x"), "entity"))  # noqa: E731
    elsewhere = LabelledBy(shifted, [failure_model()])
    result = run_pipelines(hm_runtime, make_host({"fake": elsewhere}))
    failed = items(result, "train")["fake_failure"]
    assert not failed.ok
    assert (
        "the training set is empty: its 160 base rows and 160 labels share no key ['entity', 'day']"
        in failed.error
    )
    assert not items(result, "infer")["fake_failure"].ok  # no champion, and no reason to skip it
