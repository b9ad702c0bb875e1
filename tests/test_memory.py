"""Jobs that run their stages in one process give the memory a stage freed back between stages."""

from __future__ import annotations

import pyarrow as pa

from health_monitor import jobs


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
