"""pytest fixtures of the health-monitor test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

import pytest

from health_monitor.config import Settings

# The simulated account every test session shares: small, short and fixed in time.
TEST_SCALE = os.environ.get("HEALTH_MONITOR_TEST_SCALE", "small")
TEST_DAYS = int(os.environ.get("HEALTH_MONITOR_TEST_DAYS", "75"))
TEST_END_DATE = dt.date(2026, 10, 31)
TEST_SEED = 11


@pytest.fixture(scope="session")
def spark():
    """The process's local SparkSession (started once per test session)."""
    from health_monitor.lakehouse.spark import get_spark

    return get_spark()


@pytest.fixture
def hm_settings(tmp_path) -> Settings:
    """Settings of a fresh, empty home in a temporary folder."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def hm_runtime(hm_settings, spark):
    """A Runtime over an empty throwaway home."""
    from health_monitor.runtime import Runtime

    return Runtime.embedded(hm_settings)


@pytest.fixture
def make_host() -> Callable:
    """Build a Host from in-process plugins (``{"name": plugin}``), without entry points by default."""
    from health_monitor.host import load_host
    from health_monitor.plugins import make_plugin_manager

    def build(plugins: dict | None = None, load_entry_points: bool = False, **kwargs):
        return load_host(
            make_plugin_manager(load_entry_points=load_entry_points, plugins=plugins or {}, **kwargs)
        )

    return build


@pytest.fixture(scope="session")
def simulated_home(tmp_path_factory, spark):
    """A home holding a small simulated account (its system tables, the Gold built from them,
    and ground truth), shared by the session. Treat it as read-only."""
    from health_monitor.jobs import build_gold_into, simulate_into
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("simulated") / "home"))
    simulate_into(runtime, TEST_SCALE, TEST_SEED, TEST_DAYS, TEST_END_DATE)
    report = build_gold_into(runtime)
    if not report.ok:
        failed = [f"{s.table}: {s.error}" for s in report.steps if s.status == "failed"]
        raise RuntimeError(f"Gold build of the simulated account failed: {failed}")
    return runtime


@pytest.fixture(scope="session")
def trained_home(simulated_home):
    """``simulated_home`` after features, train and infer with every installed plugin.

    Returns ``(runtime, host, job_result)``; shared by the session, so treat it as read-only.
    """
    from health_monitor.host import load_host
    from health_monitor.jobs import run_pipelines

    host = load_host()
    result = run_pipelines(simulated_home, host)
    return simulated_home, host, result
