"""The ordinary shapes of real accounts, each met end to end: system tables -> Gold -> features.

- an account with no classic clusters (empty clusters and node_timeline, nested columns included);
- an account with no SQL warehouses;
- an export with only the tables one domain needs: that domain runs, the others are skipped with
  a note naming the missing tables, and nothing fails.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from health_monitor.gold.build import gold_steps
from health_monitor.gold.build.runner import build_gold
from health_monitor.host import load_host
from health_monitor.pipelines import run_features
from health_monitor.simulate.system import simulate_system_tables


@pytest.fixture(scope="module")
def system_tables(tiny_account, tiny_config):
    return simulate_system_tables(tiny_account.gold, tiny_config.seed, tiny_config)


@pytest.fixture(scope="module")
def host():
    return load_host()


def _home(tmp_path, spark, tables: dict[str, pa.Table], account):
    from health_monitor.config import Settings
    from health_monitor.jobs import SNAPSHOT_HISTORY
    from health_monitor.runtime import Runtime
    from health_monitor.simulate.system import account_inputs

    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    account_inputs(account.gold).write(runtime.settings.account_inputs_path)
    for name, table in tables.items():
        runtime.lakehouse.write(runtime.settings.system(name), table)
    for name in SNAPSHOT_HISTORY:
        runtime.lakehouse.write(runtime.settings.gold(name), account.gold[name])
    return runtime


def _empty(tables: dict[str, pa.Table], *names: str) -> dict[str, pa.Table]:
    return {n: (t.schema.empty_table() if n in names else t) for n, t in tables.items()}


def _features_ok(runtime, host, domain: str):
    report = run_features(runtime, host, domain=domain, progress=False)
    assert report.ok, [(i.item, i.error) for i in report.failed]
    assert not report.skipped, [(i.item, i.details["skipped"]) for i in report.skipped]
    return report


def test_no_classic_clusters(tmp_path, spark, system_tables, tiny_account, host):
    tables = _empty(system_tables, "compute.clusters", "compute.node_timeline")
    runtime = _home(tmp_path, spark, tables, tiny_account)
    assert build_gold(runtime, progress=False).ok
    assert runtime.lakehouse.describe(runtime.settings.gold("dim_cluster")).rows == 0
    _features_ok(runtime, host, "cost")


def test_no_warehouses(tmp_path, spark, system_tables, tiny_account, host):
    tables = _empty(system_tables, "compute.warehouses", "compute.warehouse_events", "query.history")
    runtime = _home(tmp_path, spark, tables, tiny_account)
    assert build_gold(runtime, progress=False).ok
    _features_ok(runtime, host, "cost")


def test_an_export_with_only_one_domains_tables(tmp_path, spark, system_tables, tiny_account, host):
    domain = "reliability"
    steps = gold_steps()
    wanted = {
        source
        for owned in host.select_feature_tables(domain=domain)
        for gold in owned.spec.sources
        for source in steps[gold].sources
    }
    tables = {n: t for n, t in system_tables.items() if n in wanted}
    assert len(tables) < len(system_tables)
    runtime = _home(tmp_path, spark, tables, tiny_account)
    report = build_gold(runtime, progress=False)
    assert report.ok
    skipped = [s for s in report.steps if s.status == "skipped"]
    assert skipped and all("not loaded" in s.notes[0] for s in skipped)

    everything = run_features(runtime, host, progress=False)
    assert everything.ok, [(i.item, i.error) for i in everything.failed]
    ran = {i.item for i in everything.items if "skipped" not in i.details}
    assert {o.spec.name for o in host.select_feature_tables(domain=domain)} <= ran
    assert everything.skipped, "feature tables of the other domains should be skipped"
    for item in everything.skipped:
        assert "not built" in item.details["skipped"], item.details
