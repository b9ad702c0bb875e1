"""Fixtures shared by the core's tests."""

from __future__ import annotations

import pytest

from tests.fakes import ToolPlugin, write_fake_gold


@pytest.fixture(scope="session")
def fake_trained_home(tmp_path_factory, spark):
    """A home with the fake Gold table, trained and scored by :class:`ToolPlugin`: ``(runtime, host)``.
    Shared by the test run (by every xdist worker too): treat it as read-only."""
    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.pipelines import run_features, run_infer, run_train
    from health_monitor.plugins import make_plugin_manager
    from health_monitor.runtime import Runtime
    from health_monitor.testing.fixtures import fingerprint, refuse_changes, shared_build

    host = load_host(make_plugin_manager(load_entry_points=False, plugins={"fake": ToolPlugin()}))

    def build(home) -> None:
        runtime = Runtime.embedded(Settings(home=home))
        write_fake_gold(runtime)
        for stage in (run_features, run_train, run_infer):
            stage(runtime, host, progress=False)

    home, _ = shared_build(tmp_path_factory, "fake-trained", build)
    before = fingerprint(home)
    yield Runtime.embedded(Settings(home=home)), host
    refuse_changes("fake-trained", home, before)
