"""Fixtures shared by the core's tests."""

from __future__ import annotations

import pytest

from tests.fakes import ToolPlugin, write_fake_gold


@pytest.fixture(scope="session")
def fake_trained_home(tmp_path_factory, spark):
    """A home with the fake Gold table, trained and scored by :class:`ToolPlugin`: ``(runtime, host)``.
    Shared by the session: treat it as read-only."""
    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.pipelines import run_features, run_infer, run_train
    from health_monitor.plugins import make_plugin_manager
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("fake-trained") / "home"))
    write_fake_gold(runtime)
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={"fake": ToolPlugin()}))
    for stage in (run_features, run_train, run_infer):
        stage(runtime, host, progress=False)
    return runtime, host
