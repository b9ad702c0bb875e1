import gc
import hashlib
import weakref
from collections import UserDict

import pyarrow as pa

from health_monitor.simulate import SimulationConfig, simulate_account
from health_monitor.simulate.system import LAST_READ, simulate_system_tables, system_tables_one_by_one


def _digest(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _digests(account) -> dict[str, str]:
    out = {f"gold.{k}": _digest(v) for k, v in account.gold.items()}
    out.update({f"truth.{k}": _digest(v) for k, v in account.ground_truth.items()})
    return out


def test_same_seed_same_tables(tiny_account, tiny_config):
    again = simulate_account(tiny_config)
    assert _digests(again) == _digests(tiny_account)


def test_different_seed_differs(tiny_account, tiny_config):
    other = simulate_account(
        SimulationConfig(
            scale=tiny_config.scale,
            seed=tiny_config.seed + 1,
            days=tiny_config.days,
            end_date=tiny_config.end_date,
        )
    )
    a, b = _digests(tiny_account), _digests(other)
    differing = [k for k in a if a[k] != b[k]]
    # Everything random differs; the price list and SKU dimension are fixed vocabularies.
    assert len(differing) >= len(a) - 3
    assert "gold.fact_usage" in differing


def test_system_tables_built_one_by_one_are_the_ones_built_at_once(tiny_account, tiny_config):
    """`simulate` writes each system table as it is built and lets it go before the next: the
    tables, their names and the random streams behind them are those of building them all at once,
    whatever the caller does between two of them."""
    whole = simulate_system_tables(tiny_account.gold, tiny_config.seed, tiny_config)
    names, tables = system_tables_one_by_one(tiny_account.gold, tiny_config.seed, tiny_config)
    assert names == sorted(whole)
    seen, let_go = [], []
    for name, table in tables:
        seen.append(name)
        assert _digest(table) == _digest(whole[name]), name
        let_go.append(weakref.ref(table))
        del table
        gc.collect()
        assert all(ref() is None for ref in let_go), "the iterator still holds a table it yielded"
    assert sorted(seen) == names


class _Reads(UserDict):
    """Gold tables that records which ones are read while each system table is built."""

    def __init__(self, gold):
        super().__init__(gold)
        self.current, self.reads = None, {}

    def __getitem__(self, name):
        self.reads.setdefault(self.current, set()).add(name)
        return super().__getitem__(name)


def test_letting_gold_go_keeps_the_tables_and_drops_each_after_its_last_reader(tiny_account, tiny_config):
    """``simulate`` lets each large Gold table go once the last system table built from it is
    built (LAST_READ): the tables are the same, every table it lets go is read by the system table
    named for it and by none built after it, and nothing else leaves the account."""
    whole = simulate_system_tables(tiny_account.gold, tiny_config.seed, tiny_config)
    gold = _Reads(tiny_account.gold)
    _, tables = system_tables_one_by_one(gold, tiny_config.seed, tiny_config, let_go=True)
    order = []
    while True:
        gold.current = f"building table {len(order)}"
        try:
            name, table = next(tables)
        except StopIteration:
            break
        gold.reads[name] = gold.reads.pop(gold.current, set())
        order.append(name)
        assert _digest(table) == _digest(whole[name]), name
    assert gold.reads.pop(gold.current, set()) == set()
    assert set(order) == set(whole)
    for name, done in LAST_READ.items():
        later = order[order.index(name) + 1 :]
        for table in done:
            assert table in gold.reads[name], f"{name} does not read gold {table}"
            assert not [t for t in later if table in gold.reads[t]], f"gold {table} is read after {name}"
    let_go = {t for done in LAST_READ.values() for t in done}
    assert set(gold) == set(tiny_account.gold) - let_go
