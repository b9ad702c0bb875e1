"""Incident planning and the ground-truth table.

Incidents are placed deterministically from the seed: every type appears at every scale, each on
its own entity, inside the second part of the window (so models have a normal history first).
The generators read the plan and make the incident's effects appear in the Gold tables; the plan
itself only reaches the user as `ground_truth["incidents"]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import entities as E
from health_monitor.simulate.arrowkit import timestamps
from health_monitor.simulate.config import ScaleSpec
from health_monitor.simulate.timegrid import DAY, Calendar

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class IncidentType:
    name: str
    domain: str
    entity_type: str
    base_count: int
    min_days: int
    max_days: int
    severities: tuple[str, str]
    description: str


INCIDENT_TYPES: dict[str, IncidentType] = {
    t.name: t
    for t in (
        IncidentType(
            "cost_spike_runaway_job",
            "cost",
            "job",
            2,
            1,
            2,
            ("high", "critical"),
            "Runs take ~10x longer on a cluster scaled to its maximum",
        ),
        IncidentType(
            "cost_spike_forgotten_cluster",
            "cost",
            "cluster",
            1,
            2,
            4,
            ("medium", "high"),
            "All-purpose cluster left running around the clock, auto-termination switched off",
        ),
        IncidentType(
            "cost_spike_wrong_sku",
            "cost",
            "job",
            1,
            2,
            4,
            ("medium", "high"),
            "Job moved to all-purpose compute, billed at the all-purpose SKU price",
        ),
        IncidentType(
            "budget_overrun",
            "cost",
            "workspace",
            1,
            0,
            0,
            ("high", "high"),
            "Backfill jobs push the month's spend past the workspace's monthly budget",
        ),
        IncidentType(
            "compromised_user",
            "security",
            "user",
            2,
            1,
            2,
            ("critical", "critical"),
            "Off-hours logins from a new IP, mass table reads, exports and self-granted privileges",
        ),
        IncidentType(
            "job_failure_burst",
            "reliability",
            "job",
            2,
            2,
            3,
            ("medium", "high"),
            "A new job version fails most of its runs",
        ),
        IncidentType(
            "job_duration_regression",
            "reliability",
            "job",
            1,
            5,
            10,
            ("low", "medium"),
            "Runs take ~2.5x their usual duration",
        ),
        IncidentType(
            "sla_breach",
            "reliability",
            "job",
            1,
            2,
            4,
            ("high", "high"),
            "Runs are queued for hours and finish after the SLA deadline",
        ),
        IncidentType(
            "query_performance_regression",
            "performance",
            "warehouse",
            1,
            3,
            7,
            ("medium", "high"),
            "A recurring query loses file pruning and reads ~8x more data",
        ),
        IncidentType(
            "warehouse_undersized",
            "performance",
            "warehouse",
            1,
            3,
            7,
            ("medium", "high"),
            "Warehouse resized down: queries spill, queue and scale to the maximum",
        ),
        IncidentType(
            "warehouse_oversized",
            "performance",
            "warehouse",
            1,
            5,
            10,
            ("low", "medium"),
            "Warehouse resized up with unchanged load: higher cost, idle capacity",
        ),
        IncidentType(
            "breaking_schema_change",
            "quality",
            "table",
            1,
            1,
            2,
            ("high", "critical"),
            "A column is dropped or changes type; jobs reading the table fail until fixed",
        ),
        IncidentType(
            "late_data",
            "quality",
            "table",
            1,
            1,
            3,
            ("medium", "high"),
            "Upstream files arrive hours late: the writing job runs late and the table goes stale",
        ),
        IncidentType(
            "quality_degradation",
            "quality",
            "table",
            1,
            2,
            5,
            ("medium", "high"),
            "The table receives a fraction of its usual daily rows",
        ),
    )
}


@dataclass(frozen=True)
class Incident:
    type: str
    entity: int  # index into the entity family of the type
    start_day: int
    end_day: int  # inclusive
    severity: str
    param: float = 0.0  # type-specific (e.g. the schema change kind)


@dataclass(frozen=True)
class Plan:
    incidents: tuple[Incident, ...]

    def of(self, type_name: str) -> list[Incident]:
        return [i for i in self.incidents if i.type == type_name]

    def day_mask(self, type_name: str, n_entities: int, days: int) -> np.ndarray:
        """(entities, days) boolean matrix: the entity is under an incident of this type that day."""
        m = np.zeros((n_entities, days), dtype=bool)
        for i in self.of(type_name):
            m[i.entity, i.start_day : i.end_day + 1] = True
        return m


def _window(days: int) -> tuple[int, int]:
    return max(7, days // 3), days - 2


def expected_daily_cost(acct: E.Account) -> np.ndarray:
    """A rough list-price USD estimate per workspace-day, used to size budget backfills."""
    n_ws = len(acct.workspaces.name)
    est = np.zeros(n_ws)
    w = acct.warehouses
    price = np.array(
        [C.SKUS[C.SKU_SQL_CLASSIC][5], C.SKUS[C.SKU_SQL_PRO][5], C.SKUS[C.SKU_SQL_SERVERLESS][5]]
    )
    np.add.at(est, w.ws, np.array(C.WAREHOUSE_DBU)[w.size] * 9.0 * price[w.type] * 0.8)
    c = acct.clusters
    node_dbu = np.array([n[1] for n in C.NODE_TYPES])
    np.add.at(est, c.ws, (1 + c.workers) * node_dbu[c.node_type] * c.p_use * c.session_h * 0.55 * 0.7)
    j = acct.jobs
    runs = E.RUNS_PER_DAY[j.sched] + (j.sched == E.ADHOC) * 0.3
    nodes = 1 + (j.min_workers + j.max_workers) / 2
    classic = runs * j.median_s / 3600 * nodes * node_dbu[j.node_type] * np.where(j.photon, 2, 1) * 0.15
    serverless = runs * j.median_s / 3600 * j.serverless_dbu * 0.39
    np.add.at(est, j.ws, np.where(j.serverless, serverless, classic))
    return est


def plan_backfills(
    rng: np.random.Generator, spec: ScaleSpec, cal: Calendar, acct: E.Account
) -> tuple[E.Backfill, ...]:
    """Budget overruns: a month in some workspaces where backfill jobs add ~80% to the usual spend."""
    lo, _ = _window(cal.days)
    n = min(spec.incident_multiplier * INCIDENT_TYPES["budget_overrun"].base_count, len(acct.workspaces.name))
    months = np.unique(cal.month_index)
    firsts = np.array([int(np.flatnonzero(cal.month_index == m)[0]) for m in months])
    lasts = np.array([int(np.flatnonzero(cal.month_index == m)[-1]) for m in months])
    full = (firsts >= lo) & (lasts - firsts >= 27)
    choices = np.flatnonzero(full) if full.any() else np.array([len(months) - 1])
    ws = rng.choice(len(acct.workspaces.name), size=n, replace=False)
    est = expected_daily_cost(acct)
    out = []
    for w in ws:
        m = int(rng.choice(choices))
        first, last = max(int(firsts[m]), lo), int(lasts[m])
        # 3 h per day per job on i3.2xlarge job clusters: 2 DBU per node-hour at 0.15 USD.
        per_node_day = 3.0 * 2.0 * 0.15
        nodes_total = int(np.ceil(0.8 * est[w] / per_node_day)) + 2
        n_jobs = int(np.clip(np.ceil(nodes_total / 64), 1, 40))
        out.append(
            E.Backfill(
                ws=int(w),
                first_day=first,
                last_day=last,
                n_jobs=n_jobs,
                nodes=int(max(2, np.ceil(nodes_total / n_jobs))),
            )
        )
    return tuple(out)


def plan(
    rng: np.random.Generator,
    spec: ScaleSpec,
    cal: Calendar,
    acct: E.Account,
    backfills: tuple[E.Backfill, ...],
) -> Plan:
    lo, hi = _window(cal.days)
    j, w, t = acct.jobs, acct.warehouses, acct.tables
    organic = ~j.is_backfill
    # Job incidents go to jobs that run every day, so every incident day has runs to show it.
    daily = organic & (j.sched == E.DAILY) & (j.active_from == 0)
    classic_daily = daily & ~j.serverless
    used_jobs: set[int] = set()
    used_wh: set[int] = set()
    used_tables: set[int] = set()
    # Readers that run every day, so a breaking change shows as failures on its first day.
    reader_job = np.repeat(np.arange(len(j.name)), np.diff(j.reads_ptr))
    readers = np.zeros(len(t.name), dtype=np.int64)
    np.add.at(readers, j.reads_idx, daily[reader_job].astype(np.int64))
    out: list[Incident] = []

    def count(name: str) -> int:
        return INCIDENT_TYPES[name].base_count * spec.incident_multiplier

    def place(name: str, eligible: np.ndarray, used: set[int], param: float = 0.0) -> None:
        it = INCIDENT_TYPES[name]
        pool = [int(x) for x in np.flatnonzero(eligible) if int(x) not in used]
        k = min(count(name), len(pool))
        if k == 0:
            pool = [int(x) for x in np.flatnonzero(eligible)] or [0]
            k = 1
        for entity in rng.choice(pool, size=k, replace=False):
            length = int(rng.integers(it.min_days, it.max_days + 1))
            start = int(rng.integers(lo, max(lo + 1, hi - length + 1)))
            end = min(start + length - 1, cal.days - 1)
            sev = it.severities[int(rng.integers(0, 2))]
            out.append(
                Incident(name, int(entity), start, end, sev, param if param else float(rng.integers(0, 2)))
            )
            used.add(int(entity))

    place("cost_spike_runaway_job", classic_daily & (j.timeout_s == 0), used_jobs)
    place("cost_spike_forgotten_cluster", np.ones(len(acct.clusters.name), dtype=bool), set())
    place("cost_spike_wrong_sku", classic_daily, used_jobs)
    for b in backfills:
        out.append(Incident("budget_overrun", b.ws, b.first_day, b.last_day, "high"))
    humans = acct.users.role != E.SERVICE
    place("compromised_user", humans, set())
    place("job_failure_burst", daily & (j.level < 0), used_jobs)
    place("job_duration_regression", daily & (j.level < 0), used_jobs)
    place("sla_breach", organic & (j.sched == E.DAILY) & (j.level < 0) & (j.active_from == 0), used_jobs)
    place("query_performance_regression", w.workload != 1, used_wh)
    place("warehouse_undersized", (w.size >= 2) & (w.size <= 5), used_wh)
    place("warehouse_oversized", w.size <= 4, used_wh)
    place("breaking_schema_change", readers > 0, used_tables)
    late_ok = np.array([int(t.writer[i]) not in used_jobs for i in range(len(t.name))])
    place("late_data", late_ok, used_tables)
    place("quality_degradation", np.ones(len(t.name), dtype=bool), used_tables)
    return Plan(tuple(out))


def ground_truth(plan_: Plan, acct: E.Account, cal: Calendar) -> pa.Table:
    rows = sorted(plan_.incidents, key=lambda i: (i.start_day, i.type, i.entity))
    entity_ids, ws_ids, descs = [], [], []
    for inc in rows:
        kind = INCIDENT_TYPES[inc.type].entity_type
        if kind == "job":
            eid, ws = acct.jobs.id[inc.entity].as_py(), int(acct.jobs.ws[inc.entity])
        elif kind == "cluster":
            eid, ws = acct.clusters.id[inc.entity].as_py(), int(acct.clusters.ws[inc.entity])
        elif kind == "workspace":
            eid, ws = acct.workspaces.id[inc.entity].as_py(), inc.entity
        elif kind == "user":
            eid, ws = acct.users.email[inc.entity].as_py(), int(acct.users.ws[inc.entity])
        elif kind == "warehouse":
            eid, ws = acct.warehouses.id[inc.entity].as_py(), int(acct.warehouses.ws[inc.entity])
        else:
            eid = acct.tables.full_name[inc.entity].as_py()
            ws = int(acct.jobs.ws[acct.tables.writer[inc.entity]])
        entity_ids.append(eid)
        ws_ids.append(acct.workspaces.id[ws].as_py())
        descs.append(INCIDENT_TYPES[inc.type].description)
    start = np.array([cal.day_start_us[i.start_day] for i in rows], dtype=np.int64)
    end = np.array([cal.day_start_us[i.end_day] + DAY for i in rows], dtype=np.int64)
    return pa.table(
        {
            "incident_id": pa.array([f"INC-{k + 1:05d}" for k in range(len(rows))], pa.string()),
            "incident_type": pa.array([i.type for i in rows], pa.string()),
            "domain": pa.array([INCIDENT_TYPES[i.type].domain for i in rows], pa.string()),
            "entity_type": pa.array([INCIDENT_TYPES[i.type].entity_type for i in rows], pa.string()),
            "entity_id": pa.array(entity_ids, pa.string()),
            "workspace_id": pa.array(ws_ids, pa.string()),
            "start_time": timestamps(start),
            "end_time": timestamps(end),
            "severity": pa.array([i.severity for i in rows], pa.string()),
            "description": pa.array(descs, pa.string()),
        }
    )
