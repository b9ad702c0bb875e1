"""simulate_account: generate a whole account, step by step, from a SimulationConfig."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from health_monitor.gold.contract import GOLD_TABLES
from health_monitor.simulate import catalog as C
from health_monitor.simulate import (
    compute,
    cost,
    entities,
    incidents,
    performance,
    quality,
    reliability,
    security,
)
from health_monitor.simulate.arrowkit import build, take
from health_monitor.simulate.config import SimulationConfig
from health_monitor.simulate.rand import stream
from health_monitor.simulate.timegrid import HOUR, Calendar, make_calendar


@dataclass(frozen=True)
class SimulatedAccount:
    """Gold tables (keys = GOLD_TABLES names, each meeting the contract) and the hidden truth."""

    config: SimulationConfig
    gold: dict[str, pa.Table]
    ground_truth: dict[str, pa.Table]


def _dim_workspace(rng: np.random.Generator, cal: Calendar, acct: entities.Account) -> pa.Table:
    ws = acct.workspaces
    n = len(ws.name)
    # One workspace is renamed mid-window, so the dimension carries history (is_current).
    renamed = int(rng.integers(0, n))
    rows = np.concatenate([np.arange(n), [renamed]])
    created = ws.create_us // 1_000_000 * 1_000_000  # workspaces_latest.create_time has whole seconds
    change = np.concatenate([created, [cal.day_start_us[cal.days // 2] + 10 * HOUR]])
    names = ws.name + [ws.name[renamed] + "-v2"]
    name_idx = np.concatenate([np.arange(n), [n]])
    order = np.lexsort((change, rows))
    rows, change, name_idx = rows[order], change[order], name_idx[order]
    return build(
        "dim_workspace",
        {
            "account_id": acct.account_id,
            "workspace_id": take(ws.id, rows),
            "workspace_name": take(names, name_idx),
            "workspace_url": take(ws.url, rows),
            "region": None,  # no system table records a workspace's region
            "cloud": C.CLOUD,
            "status": "RUNNING",
            "create_time": created[rows],
            "change_time": change,
            "is_current": np.append(rows[1:] != rows[:-1], True),
        },
    )


def simulate_account(
    config: SimulationConfig, progress: Callable[[str], None] | None = None
) -> SimulatedAccount:
    """Generate the Gold layer of a simulated account and the incidents hidden in it.

    Deterministic: the same config gives byte-identical tables. `progress` is called with the
    name of each step before it runs.
    """
    if not isinstance(config, SimulationConfig):
        raise ValueError(f"config: expected a SimulationConfig, got {type(config).__name__}")
    say = progress or (lambda _step: None)
    spec, seed = config.spec, config.seed
    cal = make_calendar(config.start_date, config.n_days)

    say("entities")
    acct = entities.make_account(stream(seed, "entities"), spec, cal)
    say("incidents")
    rng_inc = stream(seed, "incidents")
    backfills = incidents.plan_backfills(rng_inc, spec, cal, acct)
    acct = entities.with_backfills(rng_inc, acct, backfills, cal.start_us)
    plan = incidents.plan(rng_inc, spec, cal, acct, backfills)

    say("reliability")
    rng_rel = stream(seed, "reliability")
    growth = reliability.memory_growth(stream(seed, "memory"), acct.jobs)
    runs = reliability.simulate_runs(rng_rel, cal, acct, plan, len(acct.clusters.name), growth)
    gold = reliability.job_tables(rng_rel, cal, acct, plan, runs, growth)
    say("compute")
    sessions = compute.ap_sessions(rng_rel, cal, acct, plan)
    gold["dim_cluster"] = compute.cluster_dim(cal, acct, plan, runs)
    gold["fact_node_timeline"] = compute.node_timeline(rng_rel, acct, runs, sessions)

    say("performance")
    perf, wh_usage = performance.simulate(stream(seed, "performance"), cal, acct, plan)
    gold.update(perf)

    say("cost")
    rng_cost = stream(seed, "cost")
    discount = float(rng_cost.choice([8.0, 10.0, 12.0, 15.0]))
    billing = cost.usage(rng_cost, cal, acct, runs, sessions, wh_usage, discount)
    gold["fact_usage"] = billing.fact_usage
    gold.update(cost.price_tables(cal, acct))
    gold["commit_configurations"] = cost.commitments(rng_cost, cal, acct, billing, discount)
    gold["dim_workspace"] = _dim_workspace(rng_cost, cal, acct)

    say("security")
    gold.update(security.audit_and_lineage(stream(seed, "security"), cal, acct, plan, runs))

    say("quality")
    rng_q = stream(seed, "quality")
    gold.update(quality.snapshots(rng_q, cal, acct, plan))
    gold["fact_data_quality_monitoring_table_results"] = quality.monitoring(rng_q, cal, acct, plan, runs)

    say("ground truth")
    truth = {"incidents": incidents.ground_truth(plan, acct, cal)}
    missing = set(GOLD_TABLES) - set(gold)
    if missing:
        raise RuntimeError(f"simulator bug: tables not generated: {sorted(missing)}")
    return SimulatedAccount(
        config=config, gold={name: gold[name] for name in GOLD_TABLES}, ground_truth=truth
    )
