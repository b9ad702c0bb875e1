"""The ordinary shapes of real accounts, each met end to end: system tables -> Gold -> features.

- an account with no classic clusters (empty clusters and node_timeline, nested columns included);
- an account with no SQL warehouses;
- an export with only the tables one domain needs (the cheapest domain): that domain runs, the
  others are skipped with a note naming the missing tables, and nothing fails.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from health_monitor.gold.build import gold_steps
from health_monitor.gold.build.runner import build_gold
from health_monitor.host import load_host
from health_monitor.pipelines import run_features
from health_monitor.simulate.system import simulate_system_tables

pytestmark = pytest.mark.heavy  # minutes: the pipelines on several hand-shaped exports


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


def _reading(host, domain: str, empty: set[str]):
    """The domain's feature tables that read one of the ``empty`` Gold tables."""
    return [o.spec for o in host.select_feature_tables(domain=domain) if empty & set(o.spec.sources)]


@pytest.mark.parametrize(
    "sources, gold",
    [
        (("compute.clusters", "compute.node_timeline"), ("dim_cluster", "fact_node_timeline")),
        (
            ("compute.warehouses", "compute.warehouse_events", "query.history"),
            ("dim_warehouse", "fact_warehouse_events", "fact_query_history"),
        ),
    ],
    ids=["no_classic_clusters", "no_warehouses"],
)
def test_cost_features_compute_when_a_compute_kind_is_absent(
    tmp_path, spark, system_tables, tiny_account, host, sources, gold
):
    """Empty ``sources`` system tables: their ``gold`` tables come out empty, and every cost
    feature table that reads them still computes rows from the other tables."""
    runtime = _home(tmp_path, spark, _empty(system_tables, *sources), tiny_account)
    tables = _reading(host, "cost", set(gold))
    assert tables, f"no cost feature table reads {gold}"
    needed = sorted({g for t in tables for g in t.sources})
    report = build_gold(runtime, tables=needed, progress=False)
    assert report.ok, [(s.table, s.error) for s in report.steps if s.error]
    for name in gold:
        if name in needed:
            assert runtime.lakehouse.describe(runtime.settings.gold(name)).rows == 0
    for table in tables:
        frame = table.compute(runtime.tables).toPandas()
        assert len(frame) > 0, f"{table.name} is empty when {gold} are"
        assert not frame.duplicated(list(table.primary_keys)).any(), table.name


def test_an_export_with_only_one_domains_tables(tmp_path, spark, system_tables, tiny_account, host):
    """The domain whose feature tables read the fewest system tables (any domain would do; fewer
    tables are less to run), from an export of those tables only."""
    steps = gold_steps()

    def reads(domain: str) -> set[str]:
        owned = host.select_feature_tables(domain=domain)
        return {source for o in owned for gold in o.spec.sources for source in steps[gold].sources}

    domains = sorted({o.spec.domain for o in host.models.values()})
    assert len(domains) > 1, "the other domains' feature tables must be skipped: install two plugins"
    domain = min(domains, key=lambda d: (len(reads(d)), d))
    wanted = reads(domain)
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
