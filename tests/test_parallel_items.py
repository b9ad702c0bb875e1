"""Items of a stage run at once (``--workers``): each reported in order, the hooks called from the
stage's own thread, a failing, stuck or exiting item reported without holding the others back, and
an interrupt stopping what still runs. The real pipelines at two workers: tests/test_daily.py."""

from __future__ import annotations

import threading
import time

import pytest

from health_monitor.config import Settings
from health_monitor.deadline import current
from health_monitor.errors import ConfigError, SkipItem
from health_monitor.host import Owned
from health_monitor.pipelines.report import run_items
from health_monitor.plugins import PluginInfo
from health_monitor.sdk.hooks import hookimpl


def owned(*names: str) -> list[Owned[str]]:
    return [Owned(name, PluginInfo("acme")) for name in names]


class Recorder:
    """Every hook call with the thread it came from."""

    def __init__(self):
        self.calls: list[tuple[str, str, int]] = []

    @hookimpl
    def before_stage(self, item):
        self.calls.append(("before", item, threading.get_ident()))

    @hookimpl
    def after_stage(self, item):
        self.calls.append(("after", item, threading.get_ident()))

    @hookimpl
    def on_stage_error(self, item, error):
        self.calls.append((f"error {type(error).__name__}", item, threading.get_ident()))


def test_items_run_at_once_and_are_reported_in_their_order(make_host):
    together = threading.Barrier(3, timeout=20)  # broken unless three items run at the same time
    threads: dict[str, int] = {}

    def work(name):
        threads[name] = threading.get_ident()
        if name in ("a", "b", "c"):
            together.wait()
        if name == "bad":
            raise ValueError("no such column: spend")
        if name == "empty":
            raise SkipItem("nothing to read")
        time.sleep(0.05 if name == "a" else 0)  # `a` ends last of the three
        return {"rows": len(name)}

    recorder = Recorder()
    names = ("a", "b", "c", "bad", "empty", "last")
    report = run_items("infer", owned(*names), str, work, make_host({"r": recorder}), None, False, workers=3)

    assert [i.item for i in report.items] == list(names)
    assert [i.ok for i in report.items] == [True, True, True, False, True, True]
    assert report.items[0].details == {"rows": 1} and report.items[5].details == {"rows": 4}
    assert (
        report.items[3].error == "ValueError: no such column: spend" and report.items[3].plugin.name == "acme"
    )
    assert [i.item for i in report.skipped] == ["empty"]
    main = threading.get_ident()
    assert {t for _, _, t in recorder.calls} == {main}  # hooks never run in an item's thread
    assert main not in threads.values()  # (a thread's ident is reused once it ended)
    for name in names:  # each item's hook before it starts, its outcome's after it ends
        kinds = [kind for kind, item, _ in recorder.calls if item == name]
        assert kinds[0] == "before" and len(kinds) == (1 if name == "empty" else 2), (name, kinds)
    assert ("error ValueError", "bad") in [(k, i) for k, i, _ in recorder.calls]
    assert sum(kind == "before" for kind, _, _ in recorder.calls[:3]) == 3  # three started at once


def test_one_worker_runs_the_items_in_the_stage_thread_one_after_the_other(make_host):
    threads, order = set(), []

    def work(name):
        threads.add(threading.get_ident())
        order.append(name)
        return {}

    report = run_items("features", owned("x", "y", "z"), str, work, make_host({}), None, False)
    assert report.ok and order == ["x", "y", "z"] and threads == {threading.get_ident()}


def test_a_stuck_item_holds_back_no_other_and_a_system_exit_is_reported(make_host):
    release, written = threading.Event(), []

    def work(name):
        if name == "stuck":
            release.wait(60)
        if name == "exits":
            raise SystemExit(3)  # plugin code calling sys.exit: the stage must not wait for it forever
        written.append(name)
        return {}

    start = time.perf_counter()
    names = ("stuck", "exits", "a", "b", "c")
    report = run_items("features", owned(*names), str, work, make_host({}), None, False, 0.5, workers=2)
    assert time.perf_counter() - start < 20
    release.set()
    assert [(i.item, i.ok) for i in report.items] == [(n, n not in ("stuck", "exits")) for n in names]
    assert "stopped after 0.5 s" in report.items[0].error
    assert report.items[1].error == "SystemExit: 3"
    assert sorted(written) == ["a", "b", "c"]


def test_an_interrupt_stops_every_running_item(make_host):
    started, stopped = threading.Barrier(3, timeout=20), []

    class Interrupts:
        @hookimpl
        def before_stage(self, item):
            if item == "third":
                started.wait()  # the first two are running
                raise KeyboardInterrupt

    def work(name):
        token = current()
        token.on_cancel(lambda: stopped.append(name))  # e.g. cancel its Spark jobs
        started.wait()
        for _ in range(600):
            if token.cancelled:
                return {}
            time.sleep(0.05)
        return {}

    with pytest.raises(KeyboardInterrupt):
        items, host = owned("first", "second", "third"), make_host({"i": Interrupts()})
        run_items("infer", items, str, work, host, None, False, workers=3)
    assert sorted(stopped) == ["first", "second"]


def test_the_workers_setting(monkeypatch, tmp_path):
    assert Settings(home=tmp_path).workers is None  # each command's own: 1, the daily run's own
    assert Settings(home=tmp_path, workers="4").workers == 4
    monkeypatch.setenv("HEALTH_MONITOR_WORKERS", "3")
    assert Settings.from_env(home=tmp_path).workers == 3
    assert Settings.from_env(home=tmp_path, workers=2).workers == 2  # the flag wins
    for bad in ("many", "0", "65", "1.5"):
        monkeypatch.setenv("HEALTH_MONITOR_WORKERS", bad)
        with pytest.raises(ConfigError, match=f"HEALTH_MONITOR_WORKERS.*{bad!r}"):
            Settings.from_env(home=tmp_path)
    with pytest.raises(ConfigError, match="workers must be a whole number from 1 to 64"):
        Settings(home=tmp_path, workers=0)
