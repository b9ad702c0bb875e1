"""Loading plugins: entry points, attribution of failures, allow/block lists, duplicate names."""

from __future__ import annotations

import sys

import pytest

from health_monitor.hookspecs import hookimpl
from health_monitor.plugins import make_plugin_manager
from tests.fakes import FAKE_TABLE, FakePlugin, anomaly_model

DOMAINS = ["cost", "performance", "quality", "reliability", "security"]


def test_the_five_domain_plugins_are_discovered_with_their_versions(make_host):
    host = make_host(load_entry_points=True)
    assert [p.name for p in host.plugins] == DOMAINS
    for p in host.plugins:
        assert p.distribution == f"health-monitor-{p.name}"
        assert p.version
    assert host.problems == []


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch):
    """An installed distribution (dist-info on sys.path) whose plugin module raises on import."""
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency: nothing-here')\n")
    info = tmp_path / "health_monitor_broken-9.9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: health-monitor-broken\nVersion: 9.9.9\n")
    (info / "entry_points.txt").write_text("[health_monitor]\nbroken = broken_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("broken_plugin", None)


def test_a_plugin_whose_import_raises_is_reported_by_name_and_the_others_load(broken_distribution, make_host):
    host = make_host(load_entry_points=True)
    assert [p.name for p in host.plugins] == DOMAINS
    (problem,) = host.problems
    assert problem.phase == "import"
    assert problem.plugin.name == "broken"
    assert problem.plugin.distribution == "health-monitor-broken"
    assert problem.plugin.version == "9.9.9"
    assert "missing dependency" in str(problem)
    assert len(host.models) >= 5


def test_plugins_command_reports_the_broken_plugin_and_fails(broken_distribution, capsys):
    from health_monitor.cli import main

    assert main(["plugins", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"plugin": "broken"' in out and "health-monitor-broken" in out


def test_allow_and_block_lists(make_host, monkeypatch):
    monkeypatch.setenv("HEALTH_MONITOR_PLUGINS", "cost,quality")
    assert [p.name for p in make_host(load_entry_points=True).plugins] == ["cost", "quality"]
    monkeypatch.delenv("HEALTH_MONITOR_PLUGINS")
    monkeypatch.setenv("HEALTH_MONITOR_DISABLE_PLUGINS", "cost")
    assert "cost" not in [p.name for p in make_host(load_entry_points=True).plugins]


def test_a_hook_with_a_typo_is_refused(make_host):
    class Typo:
        @hookimpl
        def register_modles(self, register):  # not a hook
            pass

    host = make_host({"typo": Typo()})
    (problem,) = host.problems
    assert problem.plugin.name == "typo" and problem.phase == "register"


def test_a_name_registered_twice_names_both_plugins(make_host):
    host = make_host({"first": FakePlugin(), "second": FakePlugin()})
    messages = [str(p) for p in host.problems]
    assert any("registered twice" in m and "'first'" in m and "'second'" in m for m in messages)
    # The first registration stands; the second plugin's duplicates are dropped as a whole.
    assert host.feature_tables["fake_features"].plugin.name == "first"


def test_a_plugin_raising_in_registration_registers_nothing_of_that_hook(make_host):
    class HalfBroken:
        @hookimpl
        def register_feature_tables(self, register):
            register(FAKE_TABLE)
            raise ValueError("oops after one")

    host = make_host({"half": HalfBroken()})
    assert "fake_features" not in host.feature_tables
    assert host.problems[0].phase == "register_feature_tables"


def test_registering_the_wrong_type_is_reported(make_host):
    class Wrong:
        @hookimpl
        def register_models(self, register):
            register({"name": "not a Model"})

    host = make_host({"wrong": Wrong()})
    assert "expects Model" in host.problems[0].error


def test_models_looking_up_unknown_tables_are_dropped_with_a_reason(make_host):
    class Orphan:
        @hookimpl
        def register_models(self, register):
            register(anomaly_model("orphan_model"))

    host = make_host({"orphan": Orphan()})
    assert "orphan_model" not in host.models
    assert "unknown feature tables" in host.problems[0].error


def test_select_models_rejects_unknown_names_with_the_valid_ones(make_host):
    from health_monitor.errors import ConfigError

    host = make_host({"fake": FakePlugin()})
    with pytest.raises(ConfigError, match="known models: fake_anomaly, fake_failure"):
        host.select_models(model="nope")
    with pytest.raises(ConfigError, match="domains with models: cost, reliability"):
        host.select_models(domain="nope")


def test_lifecycle_hooks_observe_and_a_raising_observer_is_ignored(make_host):
    seen = []

    class Observer:
        @hookimpl
        def before_stage(self, stage, item):
            seen.append(("before", stage, item))

        @hookimpl
        def after_stage(self, stage, item, result):
            raise RuntimeError("observer bug")

        @hookimpl
        def on_stage_error(self, stage, item, error):
            seen.append(("error", stage, item, str(error)))

    host = make_host({"obs": Observer()})
    host.notify("before_stage", stage="train", item="m", settings=None)
    host.notify("after_stage", stage="train", item="m", settings=None, result={})
    host.notify("on_stage_error", stage="train", item="m", settings=None, error=ValueError("bad"))
    assert seen == [("before", "train", "m"), ("error", "train", "m", "bad")]


def test_every_hook_is_documented_and_exercised_by_a_test():
    import inspect
    from pathlib import Path

    from health_monitor import hookspecs

    specs = [
        n for n, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "health_monitor_spec")
    ]
    assert specs
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py"))
    tests += "\n".join(p.read_text() for p in Path(__file__).parent.glob("fakes.py"))
    for name in specs:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
        assert f"`{name}" in docs, f"hook {name} is not described in docs/plugins.md"
        assert f"def {name}(" in tests, f"no test implements hook {name}"


def test_manager_is_built_fresh_each_time():
    a, b = make_plugin_manager(load_entry_points=False), make_plugin_manager(load_entry_points=False)
    assert a.pm is not b.pm
