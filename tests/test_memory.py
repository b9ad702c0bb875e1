"""Jobs that run their stages in one process give the memory a stage freed back between stages."""

from __future__ import annotations

import pyarrow as pa

from health_monitor import jobs
from health_monitor.pipelines import train
from tests.fakes import FakePlugin, anomaly_model


class _Pool:
    def __init__(self):
        self.released = 0

    def release_unused(self):
        self.released += 1


def test_each_stage_of_the_pipelines_releases_what_it_freed(hm_runtime, make_host, monkeypatch):
    pool = _Pool()
    monkeypatch.setattr(pa, "default_memory_pool", lambda: pool)
    result = jobs.run_pipelines(hm_runtime, make_host({}))
    assert list(result.timings) == ["features", "train", "infer"]
    assert pool.released == 3


def test_each_step_of_the_daily_run_releases_what_it_freed(hm_runtime, make_host, monkeypatch):
    pool = _Pool()
    monkeypatch.setattr(pa, "default_memory_pool", lambda: pool)
    result = jobs.run_daily(hm_runtime, make_host({}), jobs.DailySettings(train_every_days=None))
    assert {"features", "infer", "findings", "vacuum"} <= set(result.timings)
    assert pool.released == len(result.timings)


def test_training_releases_each_models_memory_before_the_next_even_when_it_fails(
    hm_runtime, make_host, monkeypatch
):
    """At the seed scale a model's training set and fits are gigabytes: the next model must not
    start on top of them, and a model that fails frees its memory too."""
    released, seen = [], {}

    def fake_train_model(runtime, host, spec, plugin):
        seen[spec.name] = len(released)  # releases before this model started
        if spec.name == "second":
            raise RuntimeError("boom in the second model")
        return {}

    monkeypatch.setattr(train, "train_model", fake_train_model)
    monkeypatch.setattr(train, "release_memory", lambda: released.append(1))
    models = [anomaly_model(name) for name in ("first", "second", "third")]
    report = train.run_train(hm_runtime, make_host({"fake": FakePlugin(models)}), progress=False)
    assert [(item.item, item.ok) for item in report.items] == [
        ("first", True),
        ("second", False),
        ("third", True),
    ]
    # each model started after the one before released, the third after the failed second's release
    assert seen == {"first": 0, "second": 1, "third": 2}
    assert len(released) == 3


class _System:
    collected = 0

    @classmethod
    def gc(cls):
        cls.collected += 1


class _Session:
    class _jvm:  # noqa: N801 - py4j's attribute name
        System = _System


def test_the_driver_jvm_is_asked_to_collect_only_when_this_process_started_it(monkeypatch):
    """A session this process started gives its heap back between stages; the Databricks
    runtime's session (handed over, not started here) is left alone."""
    from health_monitor.lakehouse import spark

    monkeypatch.setattr(spark, "_session", _Session)
    monkeypatch.setattr(spark, "_started_here", True)
    before = _System.collected
    spark.release_memory()
    assert _System.collected == before + 1
    monkeypatch.setattr(spark, "_started_here", False)
    spark.release_memory()
    assert _System.collected == before + 1
