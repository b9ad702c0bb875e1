"""The account's entities: workspaces, users, jobs, all-purpose clusters, warehouses, pipelines,
serving endpoints and the catalog's tables, with the attributes that drive their activity.

Entities are held as numpy arrays of attributes plus small Arrow string vocabularies; facts
refer to them by integer index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import ids
from health_monitor.simulate.config import ScaleSpec
from health_monitor.simulate.timegrid import DAY, HOUR, Calendar

# Job schedule classes.
DAILY, WEEKDAY, EVERY4H, HOURLY, WEEKLY, FILE_ARRIVAL, ADHOC = range(7)
RUNS_PER_DAY = np.array([1, 1, 6, 24, 1, 1, 0])
# Roles.
ANALYST, ENGINEER, ADMIN, SERVICE = range(4)
# Office UTC offsets (hours) and the public /24 each office egresses from.
OFFICE_TZ = np.array([-5.0, -8.0, 1.0, 5.5])
OFFICE_WEIGHT = np.array([0.45, 0.2, 0.25, 0.1])
OFFICE_NETS = ("198.51.100", "203.0.113", "192.0.2", "100.64.12")


@dataclass(frozen=True)
class Workspaces:
    id: pa.StringArray
    name: list[str]
    url: list[str]
    create_us: np.ndarray
    tz: np.ndarray  # office offset of the workspace's main team
    weight: np.ndarray  # share of the account's activity


@dataclass(frozen=True)
class Users:
    email: pa.StringArray  # service principals hold their application id, as in the audit log
    ws: np.ndarray
    role: np.ndarray
    tz: np.ndarray
    office: np.ndarray
    rate: np.ndarray  # mean audit events per active day
    home_ip: pa.StringArray
    agent: np.ndarray  # index into catalog.USER_AGENTS_* by role


@dataclass(frozen=True)
class Jobs:
    id: pa.StringArray
    ws: np.ndarray
    name: list[str]
    owner: np.ndarray  # user index
    run_as: np.ndarray  # user index
    sched: np.ndarray
    hour: np.ndarray
    minute: np.ndarray
    weekly_day: np.ndarray
    median_s: np.ndarray
    sigma: np.ndarray
    serverless: np.ndarray
    serverless_dbu: np.ndarray  # DBU per hour when serverless
    node_type: np.ndarray
    photon: np.ndarray
    min_workers: np.ndarray
    max_workers: np.ndarray  # == min_workers for fixed-size clusters
    autoscale: np.ndarray
    dbr_before: np.ndarray
    dbr_after: np.ndarray
    upgrade_day: np.ndarray  # day the job's clusters move to dbr_after (>= days: never)
    upgrade_sensitive: np.ndarray
    task_count: np.ndarray
    max_retries: np.ndarray
    timeout_s: np.ndarray  # 0 = none
    base_fail: np.ndarray
    base_mem: np.ndarray
    base_cpu: np.ndarray
    run_type: np.ndarray  # 0 JOB_RUN, 1 SUBMIT_RUN, 2 WORKFLOW_RUN
    tagged: np.ndarray
    team: np.ndarray
    cost_center: np.ndarray
    active_from: np.ndarray
    active_to: np.ndarray  # exclusive
    create_us: np.ndarray
    is_backfill: np.ndarray
    level: np.ndarray  # depth in the table dependency graph (-1 = writes nothing)
    upstream_ptr: np.ndarray  # CSR over upstream_idx: jobs whose tables this job reads
    upstream_idx: np.ndarray
    reads_ptr: np.ndarray  # CSR over reads_idx: tables this job reads
    reads_idx: np.ndarray


@dataclass(frozen=True)
class Clusters:
    """All-purpose clusters (interactive, created in the UI)."""

    id: pa.StringArray
    ws: np.ndarray
    name: list[str]
    owner: np.ndarray
    node_type: np.ndarray
    workers: np.ndarray
    autoscale: np.ndarray
    auto_term_min: np.ndarray
    dbr_before: np.ndarray
    dbr_after: np.ndarray
    upgrade_day: np.ndarray
    photon: np.ndarray
    p_use: np.ndarray  # probability of a session on a working day
    start_hour_local: np.ndarray
    session_h: np.ndarray
    base_cpu: np.ndarray
    base_mem: np.ndarray
    team: np.ndarray
    create_us: np.ndarray


@dataclass(frozen=True)
class Warehouses:
    id: pa.StringArray
    ws: np.ndarray
    name: list[str]
    type: np.ndarray
    size: np.ndarray
    min_clusters: np.ndarray
    max_clusters: np.ndarray
    auto_stop: np.ndarray
    owner: np.ndarray
    rate: np.ndarray  # statements per running hour
    workload: np.ndarray  # 0 BI, 1 ETL, 2 ad hoc
    weekend: np.ndarray  # runs on weekends
    team: np.ndarray
    create_us: np.ndarray


@dataclass(frozen=True)
class Pipelines:
    id: pa.StringArray
    ws: np.ndarray
    run_as: np.ndarray
    dbu_per_hour: np.ndarray
    hour: np.ndarray
    duration_h: np.ndarray
    team: np.ndarray


@dataclass(frozen=True)
class Endpoints:
    name: list[str]
    ws: np.ndarray
    dbu_per_hour: np.ndarray


@dataclass(frozen=True)
class Tables:
    catalog: list[str]
    schema: list[str]
    name: list[str]
    full_name: pa.StringArray
    table_type: np.ndarray  # index into TABLE_TYPES
    level: np.ndarray
    writer: np.ndarray  # job index
    source: np.ndarray  # upstream table index or -1
    owner: np.ndarray
    created_us: np.ndarray
    daily_rows: np.ndarray
    weekday_only: np.ndarray  # business tables: fewer rows at weekends
    col_ptr: np.ndarray  # CSR over the columns below
    col_name: list[str]
    col_type: np.ndarray  # index into catalog.COLUMN_TYPES
    col_nullable: np.ndarray


TABLE_TYPES = ("MANAGED", "EXTERNAL", "STREAMING_TABLE", "MATERIALIZED_VIEW")


@dataclass(frozen=True)
class Account:
    account_id: str
    metastore_id: str
    workspaces: Workspaces
    users: Users
    jobs: Jobs
    clusters: Clusters
    warehouses: Warehouses
    pipelines: Pipelines
    endpoints: Endpoints
    tables: Tables


@dataclass(frozen=True)
class Backfill:
    """Extra jobs a team runs for one month in one workspace (the budget_overrun incident)."""

    ws: int
    first_day: int
    last_day: int  # inclusive
    n_jobs: int
    nodes: int


def _pick_by_ws(
    rng: np.random.Generator, ws: np.ndarray, pool_ws: np.ndarray, pool_ok: np.ndarray
) -> np.ndarray:
    """For each item in workspace ws[i], a random member of pool (same workspace, pool_ok)."""
    out = np.empty(len(ws), dtype=np.int64)
    for w in np.unique(ws):
        members = np.flatnonzero((pool_ws == w) & pool_ok)
        if len(members) == 0:
            members = np.flatnonzero(pool_ws == w)
        sel = ws == w
        out[sel] = rng.choice(members, size=int(sel.sum()))
    return out


def _workspaces(rng: np.random.Generator, spec: ScaleSpec, cal: Calendar) -> Workspaces:
    n = spec.workspaces
    wid = ids.unique_numeric(rng, n, 10**14, 10**16)
    adjectives = (
        "prod",
        "dev",
        "analytics",
        "ml",
        "finance",
        "marketing",
        "sandbox",
        "platform",
        "emea",
        "apac",
    )
    names = [f"acme-{adjectives[i % len(adjectives)]}-{i // len(adjectives) + 1:02d}" for i in range(n)]
    urls = [f"https://dbc-{int(w) % 0xFFFFFFFF:08x}-{i:04x}.cloud.databricks.com/" for i, w in enumerate(wid)]
    weight = rng.pareto(1.5, n) + 0.5
    weight = weight / weight.sum()
    create = cal.start_us - rng.integers(200, 1500, n) * DAY - rng.integers(0, DAY, n)
    tz = OFFICE_TZ[rng.choice(len(OFFICE_TZ), size=n, p=OFFICE_WEIGHT)]
    return Workspaces(
        id=pa.array([str(w) for w in wid], pa.string()),
        name=names,
        url=urls,
        create_us=create,
        tz=tz,
        weight=weight,
    )


def _users(rng: np.random.Generator, spec: ScaleSpec, ws: Workspaces) -> Users:
    n = spec.users
    n_ws = len(ws.name)
    # The first users cover every role in every workspace, the rest are drawn by workspace weight.
    fixed_ws = np.repeat(np.arange(n_ws), 4)[:n]
    fixed_role = np.tile([ENGINEER, ANALYST, SERVICE, ADMIN], n_ws)[:n]
    rest = n - len(fixed_ws)
    u_ws = np.concatenate([fixed_ws, rng.choice(n_ws, size=rest, p=ws.weight)])
    role = np.concatenate([fixed_role, rng.choice(4, size=rest, p=[0.5, 0.35, 0.05, 0.10])])
    office = rng.choice(len(OFFICE_TZ), size=n, p=OFFICE_WEIGHT)
    # People mostly sit with their workspace's team.
    same = rng.random(n) < 0.8
    office = np.where(same, _office_of(ws.tz[u_ws]), office)
    first = rng.integers(0, len(C.FIRST_NAMES), n)
    last = rng.integers(0, len(C.LAST_NAMES), n)
    sp_ids = ids.uuids(rng, n).to_pylist()
    emails = [
        sp_ids[i]
        if role[i] == SERVICE
        else f"{C.FIRST_NAMES[first[i]]}.{C.LAST_NAMES[last[i]]}{i}@{C.DOMAIN}"
        for i in range(n)
    ]
    rate = spec.user_events_per_day * rng.lognormal(-0.18, 0.6, n)
    rate = np.where(role == SERVICE, rate * 2.0, rate)
    home = [f"{OFFICE_NETS[office[i]]}.{10 + (i * 37) % 240}" for i in range(n)]
    agent = rng.integers(0, 4, n)
    return Users(
        email=pa.array(emails, pa.string()),
        ws=u_ws,
        role=role,
        tz=OFFICE_TZ[office],
        office=office,
        rate=rate,
        home_ip=pa.array(home, pa.string()),
        agent=agent,
    )


def _office_of(tz: np.ndarray) -> np.ndarray:
    return np.array([int(np.flatnonzero(t == OFFICE_TZ)[0]) for t in tz], dtype=np.int64)


def _tables(rng: np.random.Generator, spec: ScaleSpec, cal: Calendar) -> Tables:
    cats, schemas, names, levels = [], [], [], []
    for c in range(spec.catalogs):
        cat = C.CATALOG_NAMES[c % len(C.CATALOG_NAMES)] + ("" if c < len(C.CATALOG_NAMES) else str(c))
        for s in range(spec.schemas_per_catalog):
            sch = C.SCHEMA_NAMES[s % len(C.SCHEMA_NAMES)] + ("" if s < len(C.SCHEMA_NAMES) else str(s))
            for t in range(spec.tables_per_schema):
                base = C.TABLE_NAMES[(t + 3 * s + c) % len(C.TABLE_NAMES)]
                names.append(base if t < len(C.TABLE_NAMES) else f"{base}_{t}")
                cats.append(cat)
                schemas.append(sch)
                levels.append(min(2, s % 3))
    n = len(names)
    level = np.array(levels)
    source = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        lower = np.flatnonzero(level == level[i] - 1)
        if level[i] > 0 and len(lower):
            source[i] = rng.choice(lower)
    n_cols = rng.integers(5, 16, n)
    col_ptr = np.concatenate([[0], np.cumsum(n_cols)])
    col_name, col_type, col_null = [], [], []
    for i in range(n):
        picked = rng.choice(len(C.COLUMN_NAMES), size=n_cols[i] - 1, replace=False)
        col_name += ["id"] + [C.COLUMN_NAMES[p] for p in picked]
        col_type += [1] + list(rng.integers(0, len(C.COLUMN_TYPES), n_cols[i] - 1))
        col_null += [False] + list(rng.random(n_cols[i] - 1) < 0.7)
    ttype = np.where(
        level == 0, rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2]), rng.choice([0, 3], n, p=[0.8, 0.2])
    )
    return Tables(
        catalog=cats,
        schema=schemas,
        name=names,
        full_name=pa.array(
            [f"{a}.{b}.{c}" for a, b, c in zip(cats, schemas, names, strict=True)], pa.string()
        ),
        table_type=ttype,
        level=level,
        writer=np.full(n, -1, dtype=np.int64),  # filled once jobs exist
        source=source,
        owner=np.zeros(n, dtype=np.int64),
        created_us=cal.start_us - rng.integers(30, 700, n) * DAY - rng.integers(0, DAY, n),
        daily_rows=np.round(rng.lognormal(np.log(80_000), 1.2, n)).astype(np.int64) + 100,
        weekday_only=rng.random(n) < 0.5,
        col_ptr=col_ptr,
        col_name=col_name,
        col_type=np.array(col_type, dtype=np.int64),
        col_nullable=np.array(col_null, dtype=bool),
    )


def _jobs(
    rng: np.random.Generator,
    spec: ScaleSpec,
    cal: Calendar,
    ws: Workspaces,
    users: Users,
    tables: Tables,
) -> tuple[Jobs, Tables]:
    days = cal.days
    n_org = spec.jobs
    n = n_org
    n_ws = len(ws.name)
    j_ws = np.concatenate(
        [np.arange(min(n_ws, n_org)), rng.choice(n_ws, size=max(0, n_org - n_ws), p=ws.weight)]
    )
    sched = rng.choice(7, size=n_org, p=[0.70, 0.12, 0.05, 0.02, 0.03, 0.04, 0.04])
    median = np.exp(rng.normal(np.log(600), 0.9, n_org)).clip(60, 7200)
    median = np.where(sched == HOURLY, median.clip(60, 900), median)
    median = np.where(sched == EVERY4H, median.clip(60, 3000), median)

    # Tables are written by daily jobs of their workspace-independent metastore; a job writes tables
    # of one level, and is scheduled after the jobs writing the tables it reads.
    n_tab = len(tables.name)
    writer = np.empty(n_tab, dtype=np.int64)
    writers = rng.choice(n_org, size=min(n_org, max(1, int(np.ceil(n_tab / 1.3)))), replace=False)
    writer[: len(writers)] = writers
    if n_tab > len(writers):
        writer[len(writers) :] = rng.choice(writers, size=n_tab - len(writers))
    job_level = np.full(n, -1, dtype=np.int64)
    for t in np.argsort(tables.level, kind="stable"):
        job_level[writer[t]] = max(job_level[writer[t]], tables.level[t])
    # Keep one level per writer job: its tables take the job's level (sources re-drawn if needed).
    level = job_level[writer]
    source = tables.source.copy()
    for t in range(n_tab):
        if level[t] == 0:
            source[t] = -1
        elif source[t] < 0 or level[source[t]] != level[t] - 1 or writer[source[t]] == writer[t]:
            cands = np.flatnonzero((level == level[t] - 1) & (writer != writer[t]))
            source[t] = rng.choice(cands) if len(cands) else -1
    is_writer = job_level[:n_org] >= 0
    sched = np.where(is_writer, DAILY, sched)
    median = np.where(is_writer, median.clip(120, 3600), median)

    hour = np.where(rng.random(n_org) < 0.6, rng.integers(0, 7, n_org), rng.integers(7, 23, n_org))
    hour = np.where(is_writer, 1 + 3 * job_level[:n_org] + rng.integers(0, 2, n_org), hour)
    minute = np.where(rng.random(n_org) < 0.8, rng.choice([0, 30], n_org), rng.integers(0, 12, n_org) * 5)
    weekly_day = rng.integers(0, 7, n_org)

    serverless = rng.random(n_org) < 0.22
    autoscale = rng.random(n_org) < 0.4
    min_w = np.where(
        autoscale, rng.integers(1, 3, n_org), rng.choice([1, 2, 4, 8], n_org, p=[0.3, 0.35, 0.25, 0.1])
    )
    max_w = np.where(autoscale, min_w + rng.integers(2, 10, n_org), min_w)
    node_type = rng.integers(0, len(C.NODE_TYPES), n_org)
    photon = rng.random(n_org) < 0.3

    # Runtime upgrades roll out per workspace: jobs on 14.3 move to 15.4 within a few days.
    ws_upgrade = rng.integers(days // 4, max(days // 4 + 1, days - 5), n_ws)
    dbr_before = rng.choice([0, 1, 1, 2, 3], n_org)
    moves = (dbr_before == 1) & (rng.random(n_org) < 0.7)
    dbr_after = np.where(moves, 2, dbr_before)
    upgrade_day = np.where(moves, ws_upgrade[j_ws] + rng.integers(0, 5, n_org), days + 1)
    sensitive = moves & (rng.random(n_org) < 0.25)

    # Fixed shares (at least two jobs each) so that even the smallest scale has flaky jobs and
    # memory-hungry jobs among the daily job-cluster jobs that are not table writers.
    plain = np.flatnonzero(~is_writer & (sched == DAILY) & ~serverless)
    picked = rng.permutation(plain)
    n_flaky = min(len(picked) // 2, max(2, round(0.06 * n_org)))
    flaky = np.zeros(n_org, dtype=bool)
    flaky[picked[:n_flaky]] = True
    heavy = np.zeros(n_org, dtype=bool)
    heavy[picked[n_flaky : n_flaky + max(2, round(0.1 * n_org))]] = True
    # Table writers are production pipelines and never flaky: a stale table should mean something.
    base_fail = np.where(flaky, rng.uniform(0.15, 0.4, n_org), rng.uniform(0.002, 0.015, n_org))
    base_mem = np.where(heavy, rng.uniform(80, 88, n_org), rng.uniform(30, 72, n_org))

    owner = _pick_by_ws(rng, j_ws, users.ws, users.role == ENGINEER)
    sp = _pick_by_ws(rng, j_ws, users.ws, users.role == SERVICE)
    run_as = np.where(rng.random(n_org) < 0.45, sp, owner)
    team = rng.integers(0, len(C.TEAMS), n_org)
    new_job = (rng.random(n_org) < 0.08) & ~is_writer  # tables exist from the start, so do their writers
    active_from = np.where(new_job, rng.integers(1, max(2, days - 7), n_org), 0)
    run_type = rng.choice(3, n_org, p=[0.9, 0.08, 0.02])
    run_type = np.where(is_writer, 0, run_type)

    names = [
        f"{C.TEAMS[team[i]]}_{C.JOB_VERBS[rng.integers(len(C.JOB_VERBS))]}_{C.JOB_OBJECTS[rng.integers(len(C.JOB_OBJECTS))]}_{i}"
        for i in range(n_org)
    ]
    job_id = ids.unique_numeric(rng, n, 10**13, 10**15)

    jobs = Jobs(
        id=pa.array([str(v) for v in job_id], pa.string()),
        ws=j_ws,
        name=names,
        owner=owner,
        run_as=run_as,
        sched=sched,
        hour=hour,
        minute=minute,
        weekly_day=weekly_day,
        median_s=median,
        sigma=rng.uniform(0.15, 0.45, n_org),
        serverless=serverless,
        serverless_dbu=np.exp(rng.normal(np.log(6), 0.7, n_org)),
        node_type=node_type,
        photon=photon,
        min_workers=min_w,
        max_workers=max_w,
        autoscale=autoscale,
        dbr_before=dbr_before,
        dbr_after=dbr_after,
        upgrade_day=upgrade_day,
        upgrade_sensitive=sensitive,
        task_count=(1 + rng.poisson(1.5, n_org)).clip(1, 8),
        max_retries=rng.choice([0, 1, 2, 3], n_org, p=[0.55, 0.3, 0.1, 0.05]),
        timeout_s=np.where(
            rng.random(n_org) < 0.4, np.round(median * rng.uniform(4, 8, n_org) / 60) * 60, 0
        ).astype(np.int64),
        base_fail=base_fail,
        base_mem=base_mem,
        base_cpu=rng.uniform(25, 80, n_org),
        run_type=run_type,
        tagged=rng.random(n_org) < 0.75,
        team=team,
        cost_center=rng.integers(0, len(C.COST_CENTERS), n_org),
        active_from=active_from,
        active_to=np.full(n_org, days),
        create_us=np.where(
            new_job,
            cal.start_us + active_from * DAY - rng.integers(HOUR, DAY, n_org),
            cal.start_us - rng.integers(10, 600, n_org) * DAY,
        ).astype(np.int64),
        is_backfill=np.zeros(n_org, dtype=bool),
        level=job_level,
        **_job_graph(rng, n, n_org, writer, source, n_tab),
    )
    tables = Tables(
        **{**tables.__dict__, "writer": writer, "source": source, "level": level, "owner": owner[writer]}
    )
    return jobs, tables


def _job_graph(
    rng: np.random.Generator, n: int, n_org: int, writer: np.ndarray, source: np.ndarray, n_tab: int
) -> dict[str, np.ndarray]:
    reads: list[list[int]] = [[] for _ in range(n)]
    for t in range(n_tab):
        if source[t] >= 0 and source[t] not in reads[writer[t]]:
            reads[writer[t]].append(int(source[t]))
    is_writer = np.zeros(n, dtype=bool)
    is_writer[writer] = True
    for j in range(n_org):
        if not is_writer[j]:
            reads[j] = sorted({int(x) for x in rng.integers(0, n_tab, rng.integers(1, 3))})
    ups = [
        sorted({int(writer[t]) for t in r if writer[t] != j}) if is_writer[j] else []
        for j, r in enumerate(reads)
    ]
    return {
        "reads_ptr": np.concatenate([[0], np.cumsum([len(r) for r in reads])]).astype(np.int64),
        "reads_idx": np.array([t for r in reads for t in r], dtype=np.int64),
        "upstream_ptr": np.concatenate([[0], np.cumsum([len(u) for u in ups])]).astype(np.int64),
        "upstream_idx": np.array([x for u in ups for x in u], dtype=np.int64),
    }


def _clusters(
    rng: np.random.Generator, spec: ScaleSpec, cal: Calendar, ws: Workspaces, users: Users
) -> Clusters:
    n = spec.all_purpose_clusters
    c_ws = np.concatenate(
        [np.arange(min(n, len(ws.name))), rng.choice(len(ws.name), max(0, n - len(ws.name)), p=ws.weight)]
    )
    owner = _pick_by_ws(rng, c_ws, users.ws, users.role != SERVICE)
    email = users.email.to_pylist()
    team = rng.integers(0, len(C.TEAMS), n)
    shared = rng.random(n) < 0.4
    names = [
        f"shared-{C.TEAMS[team[i]]}-{i}" if shared[i] else f"{email[owner[i]].split('@')[0]}'s Cluster"
        for i in range(n)
    ]
    create = cal.start_us - rng.integers(20, 400, n) * DAY - rng.integers(0, DAY, n)
    dbr_before = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    upgrades = (dbr_before < 3) & (rng.random(n) < 0.5)
    dbr_before[0], upgrades[0] = 1, True  # every scale shows at least one runtime upgrade
    return Clusters(
        id=ids.cluster_ids(create, counter_start=0),
        ws=c_ws,
        name=names,
        owner=owner,
        node_type=rng.integers(0, len(C.NODE_TYPES), n),
        workers=rng.choice([1, 2, 4, 8], n, p=[0.3, 0.35, 0.25, 0.1]),
        autoscale=rng.random(n) < 0.3,
        auto_term_min=rng.choice([30, 60, 120], n, p=[0.3, 0.5, 0.2]),
        dbr_before=dbr_before,
        dbr_after=np.where(upgrades, dbr_before + 1, dbr_before),
        upgrade_day=np.where(upgrades, rng.integers(3, max(4, cal.days - 3), n), cal.days + 1),
        photon=rng.random(n) < 0.2,
        p_use=np.where(shared, 0.95, rng.uniform(0.4, 0.85, n)),
        start_hour_local=rng.normal(9.0, 1.0, n).clip(7, 12),
        session_h=rng.uniform(3, 9, n),
        base_cpu=rng.uniform(8, 40, n),
        base_mem=rng.uniform(25, 60, n),
        team=team,
        create_us=create,
    )


def _warehouses(
    rng: np.random.Generator, spec: ScaleSpec, cal: Calendar, ws: Workspaces, users: Users
) -> Warehouses:
    n = spec.warehouses
    w_ws = np.concatenate(
        [np.arange(min(n, len(ws.name))), rng.choice(len(ws.name), max(0, n - len(ws.name)), p=ws.weight)]
    )
    wtype = rng.choice(3, n, p=[0.15, 0.35, 0.5])
    size = rng.choice(len(C.WAREHOUSE_SIZES), n, p=[0.05, 0.15, 0.3, 0.3, 0.15, 0.05, 0, 0, 0])
    workload = rng.choice(3, n, p=[0.6, 0.25, 0.15])
    # Every scale keeps at least one multi-cluster SMALL-to-LARGE warehouse of each workload.
    size[: min(n, 3)] = 3
    workload[: min(n, 3)] = np.arange(min(n, 3))
    max_c = np.where(rng.random(n) < 0.4, 1, rng.integers(2, 6, n))
    max_c[: min(n, 3)] = 4
    kinds = ("BI", "ETL", "Adhoc")
    team = rng.integers(0, len(C.TEAMS), n)
    names = [f"{kinds[workload[i]]} {C.TEAMS[team[i]]} warehouse {i}" for i in range(n)]
    return Warehouses(
        id=ids.unique_hex(n, 16, salt=11),
        ws=w_ws,
        name=names,
        type=wtype,
        size=size,
        min_clusters=np.ones(n, dtype=np.int64),
        max_clusters=max_c,
        auto_stop=np.where(wtype == 2, rng.choice([5, 10], n), rng.choice([15, 30, 45, 60], n)),
        owner=_pick_by_ws(rng, w_ws, users.ws, (users.role == ADMIN) | (users.role == ENGINEER)),
        rate=spec.queries_per_warehouse_hour * rng.lognormal(-0.2, 0.6, n),
        workload=workload,
        weekend=(workload == 1) | (rng.random(n) < 0.3),
        team=team,
        create_us=cal.start_us - rng.integers(30, 500, n) * DAY,
    )


def _pipelines(rng: np.random.Generator, spec: ScaleSpec, ws: Workspaces, users: Users) -> Pipelines:
    n = spec.pipelines
    p_ws = rng.choice(len(ws.name), n, p=ws.weight)
    return Pipelines(
        id=ids.uuids(rng, n),
        ws=p_ws,
        run_as=_pick_by_ws(rng, p_ws, users.ws, users.role == SERVICE),
        dbu_per_hour=np.exp(rng.normal(np.log(8), 0.6, n)),
        hour=rng.integers(0, 8, n),
        duration_h=rng.uniform(0.5, 3.0, n),
        team=rng.integers(0, len(C.TEAMS), n),
    )


def _endpoints(rng: np.random.Generator, spec: ScaleSpec, ws: Workspaces) -> Endpoints:
    n = spec.endpoints
    models = ("churn", "fraud", "recsys", "forecast", "ranking", "embedding")
    return Endpoints(
        name=[f"{models[i % len(models)]}-endpoint-{i}" for i in range(n)],
        ws=rng.choice(len(ws.name), n, p=ws.weight),
        dbu_per_hour=rng.uniform(0.5, 4.0, n),
    )


def make_account(rng: np.random.Generator, spec: ScaleSpec, cal: Calendar) -> Account:
    ws = _workspaces(rng, spec, cal)
    users = _users(rng, spec, ws)
    tables = _tables(rng, spec, cal)
    jobs, tables = _jobs(rng, spec, cal, ws, users, tables)
    return Account(
        account_id=ids.uuids(rng, 1)[0].as_py(),
        metastore_id=ids.uuids(rng, 1)[0].as_py(),
        workspaces=ws,
        users=users,
        jobs=jobs,
        clusters=_clusters(rng, spec, cal, ws, users),
        warehouses=_warehouses(rng, spec, cal, ws, users),
        pipelines=_pipelines(rng, spec, ws, users),
        endpoints=_endpoints(rng, spec, ws),
        tables=tables,
    )


def with_backfills(
    rng: np.random.Generator, acct: Account, backfills: tuple[Backfill, ...], start_us: int
) -> Account:
    """The account with the backfill jobs of the budget_overrun incidents appended to its jobs."""
    k = sum(b.n_jobs for b in backfills)
    if k == 0:
        return acct
    jobs, users = acct.jobs, acct.users
    n_org = len(jobs.name)
    b_ws = np.concatenate([np.full(b.n_jobs, b.ws) for b in backfills])
    b_from = np.concatenate([np.full(b.n_jobs, b.first_day) for b in backfills])
    b_to = np.concatenate([np.full(b.n_jobs, b.last_day + 1) for b in backfills])
    b_nodes = np.concatenate([np.full(b.n_jobs, b.nodes) for b in backfills])
    owner = _pick_by_ws(rng, b_ws, users.ws, users.role == ENGINEER)
    create_base = start_us - 2 * HOUR
    new_ids = ids.unique_numeric(rng, k + n_org, 10**13, 10**15)
    existing = set(jobs.id.to_pylist())
    fresh = [str(v) for v in new_ids if str(v) not in existing][:k]
    extra = {
        "ws": b_ws,
        "owner": owner,
        "run_as": owner,
        "sched": np.full(k, DAILY),
        "hour": np.full(k, 9),
        "minute": np.zeros(k, dtype=np.int64),
        "weekly_day": np.zeros(k, dtype=np.int64),
        "median_s": np.full(k, 3.0 * 3600),
        "sigma": np.full(k, 0.1),
        "serverless": np.zeros(k, dtype=bool),
        "serverless_dbu": np.zeros(k),
        "node_type": np.full(k, 3),
        "photon": np.zeros(k, dtype=bool),
        "min_workers": b_nodes - 1,
        "max_workers": b_nodes - 1,
        "autoscale": np.zeros(k, dtype=bool),
        "dbr_before": np.full(k, 2),
        "dbr_after": np.full(k, 2),
        "upgrade_day": np.full(k, 10**6),
        "upgrade_sensitive": np.zeros(k, dtype=bool),
        "task_count": np.full(k, 2),
        "max_retries": np.ones(k, dtype=np.int64),
        "timeout_s": np.zeros(k, dtype=np.int64),
        "base_fail": np.full(k, 0.01),
        "base_mem": np.full(k, 60.0),
        "base_cpu": np.full(k, 75.0),
        "run_type": np.zeros(k, dtype=np.int64),
        "tagged": np.ones(k, dtype=bool),
        "team": np.zeros(k, dtype=np.int64),
        "cost_center": np.zeros(k, dtype=np.int64),
        "active_from": b_from,
        "active_to": b_to,
        "create_us": np.zeros(k, dtype=np.int64) + create_base + b_from * DAY,
        "is_backfill": np.ones(k, dtype=bool),
        "level": np.full(k, -1),
    }
    fields: dict[str, Any] = {}
    for name, value in jobs.__dict__.items():
        if name in extra:
            fields[name] = np.concatenate([value, np.asarray(extra[name]).astype(np.asarray(value).dtype)])
    fields["id"] = pa.concat_arrays([jobs.id, pa.array(fresh, pa.string())])
    fields["name"] = jobs.name + [
        f"backfill_{C.JOB_OBJECTS[i % len(C.JOB_OBJECTS)]}_history_{n_org + i}" for i in range(k)
    ]
    # Backfill jobs read one table each and write nothing.
    n_tab = len(acct.tables.name)
    reads = rng.integers(0, n_tab, k)
    fields["reads_ptr"] = np.concatenate([jobs.reads_ptr, jobs.reads_ptr[-1] + np.arange(1, k + 1)])
    fields["reads_idx"] = np.concatenate([jobs.reads_idx, reads])
    fields["upstream_ptr"] = np.concatenate([jobs.upstream_ptr, np.full(k, jobs.upstream_ptr[-1])])
    fields["upstream_idx"] = jobs.upstream_idx
    new_jobs = Jobs(**fields)
    return Account(**{**acct.__dict__, "jobs": new_jobs})
