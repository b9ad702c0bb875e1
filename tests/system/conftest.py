"""Fixtures of the system-table tests: a tiny simulated account, its system tables, and homes.

The round-trip tests write the simulator's system tables into a fresh home, run the Gold build
and compare what comes out with the Gold tables the simulator generated.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from health_monitor.config import Settings
from health_monitor.simulate import SimulationConfig, simulate_account


@pytest.fixture(scope="session")
def tiny_config():
    return SimulationConfig(scale="small", seed=11, days=21, end_date=dt.date(2025, 3, 31))


@pytest.fixture(scope="session")
def tiny_account(tiny_config):
    return simulate_account(tiny_config)


@pytest.fixture
def system_home(tmp_path, spark):
    """A fresh home; ``load(tables)`` writes ``{"billing.usage": arrow_table}`` into its system catalog."""
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))

    def load(tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            runtime.lakehouse.write(runtime.settings.system(name), table)

    runtime.load_system = load  # type: ignore[attr-defined]
    return runtime


def sorted_rows(table: pa.Table, keys: list[str]) -> list[dict]:
    """Rows as dicts sorted by ``keys`` (maps as sorted item lists), for value-by-value comparison."""
    rows = table.to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, list) and v and isinstance(v[0], tuple):
                row[k] = sorted(v)
    return sorted(rows, key=lambda r: tuple("" if r[k] is None else str(r[k]) for k in keys))
