"""Bounded work: an item past its time limit is stopped and reported, the others go on; runs a
killed process left RUNNING are closed as failed at the next train."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import threading
import time

import pytest

from health_monitor.config import Settings
from health_monitor.deadline import Cancelled, TimeLimitError, checkpoint, run_with_limit
from health_monitor.errors import ConfigError
from health_monitor.host import Owned
from health_monitor.pipelines.report import run_items
from health_monitor.plugins import PluginInfo
from health_monitor.registry import HOST_TAG, PID_TAG
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import Labels
from tests.fakes import (
    RELEASE_HUNG_FITS,
    ExplodingEstimator,
    FakePlugin,
    HangingEstimator,
    anomaly_model,
    failure_labels,
    failure_model,
    write_fake_gold,
)


def _join(prefix: str) -> None:
    """Wait for a stopped item's thread to run to its end (it was released)."""
    threads = [t for t in threading.enumerate() if t.name.startswith(prefix)]
    assert threads
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()


def test_an_item_past_its_limit_is_stopped_reported_and_writes_nothing_afterwards(make_host):
    release, written, undone, seen = threading.Event(), [], [], []

    class Observer:
        @hookimpl
        def on_stage_error(self, item, error):
            seen.append((item, type(error).__name__))

    def work(name):
        if name == "stuck":
            from health_monitor.deadline import current

            current().on_cancel(lambda: undone.append(name))  # e.g. cancel its Spark jobs
            release.wait()
        checkpoint(f"write {name}")  # what the core does before every write
        written.append(name)
        return {"rows": 1}

    items = [Owned(name, PluginInfo(name.replace("stuck", "acme"))) for name in ("first", "stuck", "last")]
    start = time.perf_counter()
    report = run_items("train", items, str, work, make_host({"obs": Observer()}), None, False, time_limit=0.5)
    assert time.perf_counter() - start < 10
    assert [(i.item, i.ok) for i in report.items] == [("first", True), ("stuck", False), ("last", True)]
    stuck = report.items[1]
    assert stuck.plugin.name == "acme" and "stopped after 0.5 s" in stuck.error and "acme" in stuck.error
    assert seen == [("stuck", "TimeLimitError")] and undone == ["stuck"]
    release.set()  # the stuck work returns now, too late: its write is refused
    _join("health-monitor: train of stuck")
    assert written == ["first", "last"]


def test_run_with_limit_passes_results_errors_and_no_limit_through():
    assert run_with_limit(lambda: 42, 5, "x") == 42
    assert run_with_limit(lambda: 42, None, "x") == 42
    with pytest.raises(ZeroDivisionError):
        run_with_limit(lambda: 1 / 0, 5, "x")
    with pytest.raises(TimeLimitError, match="x stopped after 0.1 s"):
        run_with_limit(lambda: time.sleep(2), 0.1, "x")
    checkpoint("outside any item: never raises")
    with pytest.raises(Cancelled):
        from health_monitor.deadline import Token

        token = Token("t")
        token.cancel()
        token.check("write")


def test_the_time_limit_setting(monkeypatch, tmp_path):
    assert Settings(home=tmp_path).item_time_limit == 1800
    assert Settings(home=tmp_path, item_time_limit=0).item_time_limit is None  # 0: no limit
    monkeypatch.setenv("HEALTH_MONITOR_ITEM_TIME_LIMIT", "90")
    assert Settings.from_env(home=tmp_path).item_time_limit == 90
    assert Settings.from_env(home=tmp_path, item_time_limit=5).item_time_limit == 5  # the flag wins
    monkeypatch.setenv("HEALTH_MONITOR_ITEM_TIME_LIMIT", "soon")
    with pytest.raises(ConfigError, match="HEALTH_MONITOR_ITEM_TIME_LIMIT"):
        Settings.from_env(home=tmp_path)


def test_the_time_limit_flag_is_checked():
    from health_monitor.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--item-time-limit", "-1"])
    assert exit_.value.code == 2


def test_runs_left_running_by_a_dead_process_are_closed_at_the_next_train(tmp_path, make_host):
    from health_monitor.pipelines import run_train
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    client = runtime.registry.client()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()

    def running(experiment, pid, host=here):
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        return client.create_run(experiment_id, tags={PID_TAG: str(pid), HOST_TAG: host}).info.run_id

    killed = running("/health-monitor/reliability", dead.pid)
    live = running("/health-monitor/reliability", "1")  # pid 1 is alive: not ours to close
    elsewhere = running("/health-monitor/cost", dead.pid, host="another-host")  # cannot tell: kept
    foreign = running("/someone-else", dead.pid)  # not this project's experiment
    run_train(runtime, make_host({}), progress=False)  # no models: the clean-up alone, no Spark
    status = {run: client.get_run(run).info.status for run in (killed, live, elsewhere, foreign)}
    assert status == {killed: "FAILED", live: "RUNNING", elsewhere: "RUNNING", foreign: "RUNNING"}
    assert "is gone" in client.get_run(killed).data.tags["health_monitor.closed"]
    # A run older than the item time limit is abandoned wherever it runs.
    time.sleep(1.1)
    closed = dict(runtime.registry.close_abandoned_runs(older_than=1))
    assert set(closed) == {live, elsewhere}
    assert "time limit" in closed[live]


# -- on Spark: the training pipeline ---------------------------------------------------------


@pytest.fixture(scope="module")
def featured_home(tmp_path_factory, spark):
    """A home with the fake Gold and the fake feature table computed."""
    from health_monitor.host import load_host
    from health_monitor.pipelines import run_features
    from health_monitor.plugins import make_plugin_manager
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("time-limits") / "home"))
    write_fake_gold(runtime)
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={"fake": FakePlugin()}))
    assert run_features(runtime, host, progress=False).ok
    return runtime


def test_a_fit_that_never_returns_is_stopped_and_the_models_after_it_train(featured_home, make_host):
    from health_monitor.pipelines import run_train
    from health_monitor.runtime import Runtime

    limit = 20.0  # a fake model trains in about 3 s on a busy 2-core machine
    runtime = Runtime.embedded(dataclasses.replace(featured_home.settings, item_time_limit=limit))
    stuck = failure_model("a_stuck_model", estimator=lambda: HangingEstimator())  # sorts first
    host = make_host({"fake": FakePlugin([stuck, anomaly_model(), failure_model()])})
    try:
        train = run_train(runtime, host, progress=False)
    finally:
        RELEASE_HUNG_FITS.set()  # the stuck fit returns now, after its deadline
    by_item = {i.item: i for i in train.items}
    assert by_item["fake_anomaly"].ok and by_item["fake_failure"].ok
    failed = by_item["a_stuck_model"]
    assert not failed.ok and failed.plugin.name == "fake"
    assert f"stopped after {limit:g} s" in failed.error and limit <= failed.seconds < limit + 15
    _join("health-monitor: train of a_stuck_model")
    RELEASE_HUNG_FITS.clear()
    # Released late, the stuck item logged and registered nothing.
    client = runtime.registry.client()
    name = runtime.settings.registered_model("a_stuck_model")
    assert client.search_model_versions(f"name='{name}'") == []
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.model = 'a_stuck_model'"
    )
    assert runs == []


def test_the_owner_trains_its_model_and_a_lookalike_does_not(featured_home, make_host):
    from health_monitor.pipelines import run_train

    class LookAlike:
        @hookimpl
        def register_models(self, register):
            register(failure_model("fake_failure", estimator=lambda: ExplodingEstimator()))

        @hookimpl
        def register_labels(self, register):
            register(Labels("fake_failure", failure_labels))

    for plugins in (
        {"acme": LookAlike(), "reliability": FakePlugin()},
        {"reliability": FakePlugin(), "zeta": LookAlike()},
    ):
        host = make_host(plugins)
        assert host.models["fake_failure"].plugin.name == "reliability"
    train = run_train(featured_home, host, model="fake_failure", progress=False)
    (item,) = train.items
    assert item.ok and item.plugin.name == "reliability"  # the owner's estimator, not the exploding one
    run = featured_home.registry.client().get_run(item.details["run_id"])
    assert run.data.tags["plugin"] == "reliability"
