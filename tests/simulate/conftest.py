"""Shared fixtures: one small simulated account per test session (generation takes a few seconds)."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest

from health_monitor.simulate import SimulationConfig, simulate_account


@pytest.fixture(scope="session")
def small_account():
    # HM_SIM_SEED lets the realism checks be run against other seeds.
    return simulate_account(SimulationConfig(scale="small", seed=int(os.environ.get("HM_SIM_SEED", "7"))))


@pytest.fixture(scope="session")
def tiny_config():
    return SimulationConfig(scale="small", seed=11, days=21, end_date=dt.date(2025, 3, 31))


@pytest.fixture(scope="session")
def tiny_account(tiny_config):
    return simulate_account(tiny_config)


@pytest.fixture(scope="module")
def db(small_account):
    """The small account's Gold tables and incidents, queryable with DuckDB SQL."""
    con = duckdb.connect()
    for name, table in small_account.gold.items():
        con.register(name, table)
    con.register("incidents", small_account.ground_truth["incidents"])
    yield con
    con.close()
