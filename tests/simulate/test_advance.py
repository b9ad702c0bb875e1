"""``simulate --advance``: the new days spliced onto the old account never reuse an old event's id."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest

from health_monitor.gold.contract import GOLD_TABLES
from health_monitor.simulate import SimulationConfig, simulate_account
from health_monitor.simulate.advance import splice, split_column

# The demo's account, advanced one day: lineage took 108 ids of old events before the fix.
DEMO = SimulationConfig(scale="small", seed=7, days=45, end_date=dt.date(2025, 6, 30))


@pytest.fixture(scope="module")
def accounts():
    later = dataclasses.replace(DEMO, days=DEMO.days + 1, end_date=DEMO.end_date + dt.timedelta(days=1))
    return simulate_account(DEMO), simulate_account(later), DEMO.end_date + dt.timedelta(days=1)


@pytest.mark.parametrize(
    "table", ["fact_usage", "fact_audit_logs", "fact_table_lineage", "fact_query_history"]
)
def test_the_new_days_take_new_event_ids(accounts, table):
    """A longer window of the same seed draws the same random numbers at shifted places; its event
    ids must still differ from the old window's, or the incremental Gold refuses the new days (it
    did: 'rebuilt row(s) ... repeat the key (record_id)' on fact_table_lineage after one day)."""
    old_account, new_account, boundary = accounts
    old, new = old_account.gold[table], new_account.gold[table]
    assert split_column(new) is not None
    spliced = splice(old, new, boundary)
    assert spliced.num_rows > splice(old, old, boundary).num_rows  # the new days brought rows
    keys = list(GOLD_TABLES[table].primary_key)
    distinct = spliced.select(keys).group_by(keys).aggregate([]).num_rows
    assert distinct == spliced.num_rows, f"{spliced.num_rows - distinct} repeated key(s) on {keys}"


def test_one_window_draws_the_same_ids(tiny_config):
    from health_monitor.simulate import ids

    rng = lambda: __import__("numpy").random.default_rng(3)  # noqa: E731
    window = (tiny_config.end_date, tiny_config.days)
    assert ids.uuids(rng(), 5, window) == ids.uuids(rng(), 5, window)
    assert ids.uuids(rng(), 5, window) != ids.uuids(rng(), 5, (tiny_config.end_date, tiny_config.days + 1))
    assert isinstance(ids.uuids(rng(), 5, window), pa.StringArray)
