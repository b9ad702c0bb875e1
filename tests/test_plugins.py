"""Loading plugins: entry points, attribution of failures, allow/block lists, duplicate names."""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import json
import sys

import pytest

from health_monitor.errors import SchemaError
from health_monitor.plugins import ENTRY_POINT_GROUP, make_plugin_manager
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import Explainer, Labels
from tests.fakes import (
    FAKE_TABLE,
    FAKE_TOOLS,
    FakePlugin,
    anomaly_model,
    failure_labels,
    failure_model,
    write_dist_info,
)

# The domains are whatever plugins are installed: the entry points of the group, never a list here.
DOMAINS = sorted(ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP))


def test_the_installed_domain_plugins_are_discovered_with_their_versions(make_host):
    host = make_host(load_entry_points=True)
    assert DOMAINS, "no plugin installed in the health_monitor entry-point group"
    assert [p.name for p in host.plugins] == DOMAINS
    assert host.domains == DOMAINS  # every installed plugin registers models or tools
    for p in host.plugins:
        assert p.distribution == f"health-monitor-{p.name}"
        assert p.version
    assert host.problems == []


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch):
    """An installed distribution (dist-info on sys.path) whose plugin module raises on import."""
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency: nothing-here')\n")
    write_dist_info(tmp_path, "health-monitor-broken", "9.9.9", {"broken": "broken_plugin"})
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


def test_a_name_two_plugins_claim_outside_their_domains_goes_to_neither(make_host):
    # Neither 'first' nor 'second' is the domain of fake_features, fake_anomaly (cost) or
    # fake_failure (reliability): no rule but load order could pick one, so both are refused.
    for plugins in (
        {"first": FakePlugin(), "second": FakePlugin()},
        {"second": FakePlugin(), "first": FakePlugin()},
    ):
        host = make_host(plugins)
        messages = [str(p) for p in host.problems]
        assert any("registered twice" in m and "'first'" in m and "'second'" in m for m in messages)
        assert not host.feature_tables and not host.models and not host.labels


# -- endpoints: models declare them -------------------------------------------------------


def test_a_models_endpoint_is_its_path_and_a_taken_path_is_refused_by_name(make_host):
    first = dataclasses.replace(failure_model(), endpoint="/failure-risk")
    second = dataclasses.replace(anomaly_model(), endpoint="/failure-risk")
    host = make_host({"reliability": FakePlugin([first, second])})
    assert host.endpoints == {"/failure-risk": second.name}  # models in name order: fake_anomaly first
    (problem,) = host.problems
    assert "endpoint /failure-risk is already the endpoint of model fake_anomaly" in str(problem)
    assert set(host.models) == {"fake_anomaly", "fake_failure"}  # both still served at /models/<name>


@pytest.mark.parametrize(
    "path", ["cost-anomaly", "/Cost", "/a/b", "/health", "/report", "/models", "/" + "x" * 70]
)
def test_a_malformed_or_reserved_endpoint_is_refused(path):
    with pytest.raises(SchemaError, match="endpoint must be one path segment"):
        dataclasses.replace(failure_model(), endpoint=path)


@pytest.mark.parametrize("entity", [("day",), ("nope",), ("entity", "other")])
def test_an_entity_outside_the_non_time_keys_is_refused(entity):
    with pytest.raises(SchemaError, match=r"entity \[.*\] must be keys other than the time column 'day'"):
        dataclasses.replace(failure_model(), entity=entity)


def test_a_models_entity_defaults_to_its_keys_but_time():
    assert failure_model().entity_columns == ("entity",)
    run_model = dataclasses.replace(failure_model(), keys=("entity", "run", "day"), entity=("entity",))
    assert run_model.entity_columns == ("entity",)


# -- names have owners ---------------------------------------------------------------------

OWNED_TABLE = dataclasses.replace(FAKE_TABLE, domain="reliability")


def _explain(estimator, X, top_k):
    return [[] for _ in range(len(X))]


class Owner:
    """The reliability domain's plugin: a table, three models, their labels, an explainer, tools."""

    @hookimpl
    def register_feature_tables(self, register):
        register(OWNED_TABLE)

    @hookimpl
    def register_models(self, register):
        for name in ("job_failure_predictor", "fake_failure", "other_predictor"):
            register(failure_model(name))

    @hookimpl
    def register_labels(self, register):
        for name in ("job_failure_predictor", "fake_failure", "other_predictor"):
            register(Labels(name, failure_labels))

    @hookimpl
    def register_explainers(self, register):
        register(Explainer("job_failure_predictor", _explain))

    @hookimpl
    def register_tools(self, register):
        for tool in FAKE_TOOLS:
            register(tool)


class LookAlike:
    """A third party that registers the owner's names (in the owner's domain) and one of its own."""

    @hookimpl
    def register_feature_tables(self, register):
        register(OWNED_TABLE)

    @hookimpl
    def register_models(self, register):
        register(failure_model("job_failure_predictor"))
        register(failure_model("lookalike_predictor"))

    @hookimpl
    def register_labels(self, register):
        register(Labels("job_failure_predictor", failure_labels))
        register(Labels("lookalike_predictor", failure_labels))

    @hookimpl
    def register_explainers(self, register):
        register(Explainer("job_failure_predictor", _explain))

    @hookimpl
    def register_tools(self, register):
        register(FAKE_TOOLS[0])


OWNED = {
    "feature_tables": ["fake_features"],
    "models": ["fake_failure", "job_failure_predictor", "other_predictor"],
    "labels": ["fake_failure", "job_failure_predictor", "other_predictor"],
    "explainers": ["job_failure_predictor"],
    "tools": sorted(t.name for t in FAKE_TOOLS),
    "findings": [],
}


@pytest.mark.parametrize("lookalike", ["acme", "zeta"])  # sorts before and after 'reliability'
@pytest.mark.parametrize("lookalike_first", [True, False])
def test_a_lookalike_is_refused_the_owners_names_whatever_the_load_order(
    make_host, lookalike, lookalike_first
):
    plugins = [(lookalike, LookAlike()), ("reliability", Owner())]
    host = make_host(dict(plugins if lookalike_first else plugins[::-1]))
    assert host.owned_by("reliability") == OWNED  # the owner keeps every registration
    assert host.labels["job_failure_predictor"].plugin.name == "reliability"
    # The newcomer keeps what nobody else claims, and is refused, name by name, the rest.
    assert host.owned_by(lookalike)["models"] == ["lookalike_predictor"]
    assert host.owned_by(lookalike)["labels"] == ["lookalike_predictor"]
    refused = sorted((p.phase, p.error.split("'")[1]) for p in host.problems)
    assert refused == [
        ("register_explainers", "job_failure_predictor"),
        ("register_feature_tables", "fake_features"),
        ("register_labels", "job_failure_predictor"),
        ("register_models", "job_failure_predictor"),
        ("register_tools", FAKE_TOOLS[0].name),
    ]
    assert all(
        p.plugin.name == lookalike and "belongs to plugin 'reliability'" in p.error for p in host.problems
    )


def test_an_owner_that_raises_still_keeps_its_names_from_a_lookalike(make_host):
    class BrokenOwner(Owner):
        @hookimpl
        def register_models(self, register):
            register(failure_model("job_failure_predictor"))
            raise RuntimeError("bug after one model")

    host = make_host({"acme": LookAlike(), "reliability": BrokenOwner()})
    assert "job_failure_predictor" not in host.models  # the owner's is not half-registered ...
    assert any(  # ... and the look-alike does not take the name over
        p.plugin.name == "acme" and "'job_failure_predictor' belongs to plugin 'reliability'" in p.error
        for p in host.problems
    )


def test_labels_and_explainers_come_only_from_the_models_owner(make_host):
    class Owner2(Owner):  # registers no labels or explainer of its own
        register_labels = register_explainers = None

    class Labeller:
        @hookimpl
        def register_labels(self, register):
            register(Labels("job_failure_predictor", failure_labels))

        @hookimpl
        def register_explainers(self, register):
            register(Explainer("job_failure_predictor", _explain))

    host = make_host({"reliability": Owner2(), "labeller": Labeller()})
    assert "job_failure_predictor" not in host.labels and "job_failure_predictor" not in host.explainers
    assert {p.phase for p in host.problems if p.plugin.name == "labeller"} == {
        "register_labels",
        "register_explainers",
    }


def test_one_bad_registration_does_not_cost_the_plugins_others(make_host):
    class Sloppy(Owner):
        @hookimpl
        def register_models(self, register):
            register(failure_model("job_failure_predictor"))
            register({"name": "not a model"})
            register(failure_model("job_failure_predictor"))  # twice by the same plugin
            register(failure_model("other_predictor"))

    host = make_host({"reliability": Sloppy()})
    assert host.models_of("reliability") == ["job_failure_predictor", "other_predictor"]
    assert len([p for p in host.problems if p.phase == "register_models"]) == 2


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

    from health_monitor.sdk import hooks as hookspecs

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


# -- the same, through installed distributions -----------------------------------------------

LOOKALIKE_SOURCE = """
from sklearn.linear_model import LogisticRegression

from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import Labels, Lookup, Model

MODEL = Model(
    "job_failure_predictor", "reliability", "classification", ("job_id", "run_date"), "run_date",
    (Lookup("reliability_features", ("job_id", "run_date"), ("runs",)),),
    base=lambda t: None, estimator=LogisticRegression, baseline=LogisticRegression, baseline_name="none",
)


@hookimpl
def register_models(register):
    register(MODEL)


@hookimpl
def register_labels(register):
    register(Labels("job_failure_predictor", lambda t: None))
"""

TWIN_SOURCE = """
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import FeatureTable

@hookimpl
def register_feature_tables(register):
    register(FeatureTable("twin_features", ("k",), lambda t: None, domain="twin"))
"""


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install a distribution (a dist-info and its modules) at the front or the back of sys.path."""
    import importlib

    installed = []

    def make(dist: str, entry_points: dict[str, str], modules: dict[str, str], first: bool = True) -> None:
        where = tmp_path / dist
        where.mkdir()
        for module, source in modules.items():
            (where / f"{module}.py").write_text(source)
            installed.append(module)
        write_dist_info(where, dist, "1.0", entry_points)
        if first:
            monkeypatch.syspath_prepend(str(where))
        else:
            monkeypatch.setattr(sys, "path", [*sys.path, str(where)])
            importlib.invalidate_caches()

    yield make
    for module in installed:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("entry_point", ["aaa_jobs", "zzz_jobs"])
@pytest.mark.parametrize("first", [True, False], ids=["found-first", "found-last"])
def test_an_installed_lookalike_cannot_take_a_model_over(make_host, install, entry_point, first):
    owned = make_host(load_entry_points=True).owned_by("reliability")
    install("acme-jobs", {entry_point: "acme_lookalike"}, {"acme_lookalike": LOOKALIKE_SOURCE}, first)
    host = make_host(load_entry_points=True)
    assert host.owned_by("reliability") == owned  # every model, label and table of the owner
    assert {(p.plugin.name, p.plugin.distribution, p.phase) for p in host.problems} == {
        (entry_point, "acme-jobs", "register_models"),
        (entry_point, "acme-jobs", "register_labels"),
    }


@pytest.mark.parametrize("first", [True, False], ids=["found-first", "found-last"])
def test_a_second_distribution_under_a_domains_entry_point_name_is_refused(make_host, install, first):
    owned = make_host(load_entry_points=True).owned_by("reliability")
    install("acme-jobs", {"reliability": "acme_lookalike"}, {"acme_lookalike": LOOKALIKE_SOURCE}, first)
    host = make_host(load_entry_points=True)
    assert host.plugin_set.infos["reliability"].distribution == "health-monitor-reliability"
    assert host.owned_by("reliability") == owned
    (problem,) = host.problems
    assert problem.plugin.distribution == "acme-jobs" and "health-monitor-reliability" in problem.error
    # The user can pin either one by distribution name.
    host = make_host(load_entry_points=True, block={"health-monitor-reliability"})
    assert host.plugin_set.infos["reliability"].distribution == "acme-jobs"


def test_one_module_under_two_entry_points_is_a_reported_problem(make_host, install):
    install(
        "health-monitor-twin",
        {"twin": "twin_plugin", "twin_copy": "twin_plugin"},
        {"twin_plugin": TWIN_SOURCE},
    )
    install("acme-twins", {"left": "acme_twins", "right": "acme_twins"}, {"acme_twins": TWIN_SOURCE})
    host = make_host(load_entry_points=True, allow={"twin", "twin_copy", "left", "right"})
    assert [p.name for p in host.plugins] == ["twin"]  # kept under the name its distribution has
    assert host.owned_by("twin")["feature_tables"] == ["twin_features"]
    problems = {p.plugin.name: p.error for p in host.problems}
    assert set(problems) == {"twin_copy", "left", "right"}
    assert (
        "'twin' and 'twin_copy'" in problems["twin_copy"]
        and "registered as 'twin' only" in problems["twin_copy"]
    )
    assert "'left' and 'right'" in problems["left"] and "under none of them" in problems["left"]


def test_plugins_json_shows_who_owns_what_and_who_was_refused(install, capsys):
    from health_monitor.cli import main

    install("acme-jobs", {"acme": "acme_lookalike"}, {"acme_lookalike": LOOKALIKE_SOURCE})
    assert main(["plugins", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in out["plugins"]}
    assert rows["reliability"]["domain"] == "reliability"
    assert "job_failure_predictor" in rows["reliability"]["models"]
    assert "job_failure_predictor" in rows["reliability"]["labels"]
    assert rows["reliability"]["feature_tables"] and rows["reliability"]["tools"]
    assert rows["acme"]["models"] == []
    assert {(p["plugin"], p["phase"]) for p in out["problems"]} == {
        ("acme", "register_models"),
        ("acme", "register_labels"),
    }
    assert any("belongs to plugin 'reliability'" in p["error"] for p in out["problems"])


def _reading(name: str, sources, model_sources=()):
    """A plugin with one feature table reading ``sources`` and one model reading ``model_sources``."""
    table = dataclasses.replace(FAKE_TABLE, sources=sources)
    model = dataclasses.replace(anomaly_model(f"{name}_model"), sources=model_sources)

    class Reading:
        @hookimpl
        def register_feature_tables(self, register):
            register(dataclasses.replace(table, name=f"{name}_features"))

        @hookimpl
        def register_models(self, register):
            lookup = dataclasses.replace(model.lookups[0], table=f"{name}_features")
            register(dataclasses.replace(model, lookups=(lookup,)))

    return Reading()


def test_gold_tables_are_the_sources_the_installed_plugins_declare(make_host):
    host = make_host(
        {
            "one": _reading("one", ("fact_usage", "dim_job")),
            "two": _reading("two", "fact_usage", model_sources="dim_job_sla"),  # a lone name is one table
        }
    )
    assert not host.problems, host.problems
    assert host.gold_tables == ["dim_job", "dim_job_sla", "fact_usage"]
    # A feature table that declares no sources may read any Gold table: then every one is built.
    assert make_host({"one": _reading("one", ("fact_usage",)), "fake": FakePlugin()}).gold_tables is None
    assert make_host({}).gold_tables is None  # no feature table to say: every one, as before


def test_sources_that_are_not_gold_tables_are_refused_by_name(make_host):
    host = make_host({"typo": _reading("typo", ("fact_usage", "fact_usge"))})
    assert "typo_features" not in host.feature_tables and "typo_model" not in host.models
    errors = [p.error for p in host.problems]
    assert "feature table typo_features: sources ['fact_usge'] are not Gold tables" in errors[0], errors
    assert "typo_model looks up unknown feature tables" in errors[1], errors
    host = make_host({"typo": _reading("typo", ("fact_usage",), model_sources=("dim_jobs",))})
    assert "typo_features" in host.feature_tables and "typo_model" not in host.models
    assert "model typo_model: sources ['dim_jobs'] are not Gold tables" in host.problems[0].error


@pytest.mark.parametrize("sources", [("Fact_Usage",), ("",), (3,)])
def test_a_malformed_source_name_is_refused(sources):
    with pytest.raises(SchemaError, match="feature table fake_features: sources must be lower_snake_case"):
        dataclasses.replace(FAKE_TABLE, sources=sources)
