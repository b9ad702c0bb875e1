"""Classic compute: all-purpose cluster sessions, the cluster dimension and the node timeline.

Job clusters live exactly as long as their run; all-purpose clusters run in working-hours
sessions plus their auto-termination idle tail, except when forgotten (auto-termination off).
Node metrics come from the run or session: a run's peak memory is the peak of its workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import entities as E
from health_monitor.simulate import ids
from health_monitor.simulate.arrowkit import build, maps_from_dicts, take
from health_monitor.simulate.incidents import Plan
from health_monitor.simulate.reliability import ALL_PURPOSE_API, SERVERLESS, Runs
from health_monitor.simulate.timegrid import DAY, HOUR, MINUTE, NAT, Calendar, hour_slices


@dataclass(frozen=True)
class Sessions:
    """Uptime intervals of all-purpose clusters."""

    cluster: np.ndarray
    start: np.ndarray
    end: np.ndarray
    workers: np.ndarray
    idle: np.ndarray  # forgotten: nobody working on it


def ap_sessions(rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan) -> Sessions:
    c = acct.clusters
    n, days = len(c.name), cal.days
    forgotten = plan.day_mask("cost_spike_forgotten_cluster", n, days)
    working = np.where(cal.is_weekend | cal.is_holiday, 0.12, 1.0) * np.minimum(
        cal.activity / cal.activity.max() * 1.3, 1
    )
    used = (rng.random((n, days)) < c.p_use[:, None] * working[None, :]) & ~forgotten
    cc, dd = np.nonzero(used)
    tz = acct.workspaces.tz[c.ws[cc]]
    start = cal.day_start_us[dd] + (
        (c.start_hour_local[cc] - tz + rng.normal(0, 0.5, len(cc))) * HOUR
    ).astype(np.int64)
    length = c.session_h[cc] * rng.uniform(0.6, 1.2, len(cc)) * HOUR + c.auto_term_min[cc] * MINUTE
    end = start + length.astype(np.int64)
    starts, ends, clusters, idle = [start], [end], [cc], [np.zeros(len(cc), dtype=bool)]
    for inc in plan.of("cost_spike_forgotten_cluster"):
        k = inc.entity
        s = cal.day_start_us[inc.start_day] + int(
            (c.start_hour_local[k] - acct.workspaces.tz[c.ws[k]]) * HOUR
        )
        starts.append(np.array([s]))
        ends.append(np.array([cal.day_start_us[inc.end_day] + DAY - 30 * MINUTE]))
        clusters.append(np.array([k]))
        idle.append(np.array([True]))
    start, end = np.concatenate(starts), np.concatenate(ends)
    cl, idl = np.concatenate(clusters), np.concatenate(idle)
    # Sessions of one cluster never overlap: a new one starts after the previous one ended.
    order = np.lexsort((start, cl))
    start, end, cl, idl = start[order], end[order], cl[order], idl[order]
    prev_end = np.concatenate([[np.iinfo(np.int64).min], end[:-1]])
    same = np.concatenate([[False], cl[1:] == cl[:-1]])
    start = np.where(same & (start <= prev_end), prev_end + MINUTE, start)
    start, end = np.maximum(start, cal.start_us), np.minimum(end, cal.end_us)
    ok = end - start > 5 * MINUTE
    start, end, cl, idl = start[ok], end[ok], cl[ok], idl[ok]
    workers = np.where(c.autoscale[cl], c.workers[cl] + rng.integers(0, 3, len(cl)), c.workers[cl])
    return Sessions(cluster=cl, start=start, end=end, workers=workers, idle=idl)


def cluster_dim(cal: Calendar, acct: E.Account, plan: Plan, runs: Runs) -> pa.Table:
    c, jobs = acct.clusters, acct.jobs
    n = len(c.name)
    # All-purpose clusters: creation, runtime upgrade, auto-termination switched off and back on.
    row_c = [np.arange(n), np.flatnonzero(c.upgrade_day < cal.days)]
    row_t = [c.create_us, cal.day_start_us[c.upgrade_day[row_c[1]]] + 3 * HOUR]
    row_kind = [np.zeros(n, dtype=np.int64), np.ones(len(row_c[1]), dtype=np.int64)]
    for inc in plan.of("cost_spike_forgotten_cluster"):
        row_c.append(np.array([inc.entity, inc.entity]))
        row_t.append(
            np.array(
                [
                    cal.day_start_us[inc.start_day] + 6 * HOUR,
                    cal.day_start_us[inc.end_day] + DAY - 20 * MINUTE,
                ]
            )
        )
        row_kind.append(np.array([2, 3]))
    rc, rt, rk = np.concatenate(row_c), np.concatenate(row_t), np.concatenate(row_kind)
    order = np.lexsort((rt, rc))
    rc, rt, rk = rc[order], rt[order], rk[order]
    is_current = np.append(rc[1:] != rc[:-1], True)
    upgraded = (rt >= cal.day_start_us[np.minimum(c.upgrade_day[rc], cal.days - 1)]) & (
        c.upgrade_day[rc] < cal.days
    )
    dbr = np.where(upgraded, c.dbr_after[rc], c.dbr_before[rc])
    # The auto-termination edit holds until the restore row.
    auto_term = np.where(rk == 2, 0, c.auto_term_min[rc])
    ap_tags = maps_from_dicts([{"team": C.TEAMS[t], "ResourceClass": "Standard"} for t in c.team])

    cl = np.flatnonzero(runs.compute != SERVERLESS)
    api = runs.compute[cl] == ALL_PURPOSE_API
    job_tags = maps_from_dicts(
        [
            {"team": C.TEAMS[jobs.team[j]], "cost_center": C.COST_CENTERS[jobs.cost_center[j]], "env": "prod"}
            if jobs.tagged[j]
            else {}
            for j in range(len(jobs.name))
        ]
    )
    names = pa.array(
        [
            f"job-{jid}-run-{rid}"
            for jid, rid in zip(
                take(jobs.id, runs.job[cl]).to_pylist(),
                runs.run_id.take(pa.array(cl)).to_pylist(),
                strict=True,
            )
        ],
        pa.string(),
    )
    node = [n_[0] for n_ in C.NODE_TYPES]
    m = len(cl)
    ap = pa.table(
        {
            "cluster_id": c.id.take(pa.array(rc)),
            "workspace_id": take(acct.workspaces.id, c.ws[rc]),
            "cluster_name": take(c.name, rc),
            "owned_by": take(acct.users.email, c.owner[rc]),
            "create_time": pa.array(c.create_us[rc]),
            "delete_time": pa.array(np.full(len(rc), NAT)),
            "node": pa.array(c.node_type[rc]),
            "worker_count": pa.array(np.where(c.autoscale[rc], -1, c.workers[rc])),
            "min_auto": pa.array(np.where(c.autoscale[rc], c.workers[rc], -1)),
            "max_auto": pa.array(np.where(c.autoscale[rc], c.workers[rc] + 2, -1)),
            "auto_term": pa.array(auto_term),
            "source": pa.array(np.zeros(len(rc), dtype=np.int64)),
            "dbr": pa.array(dbr + np.where(c.photon[rc], 10, 0)),
            "mode": pa.array(np.where(np.char.startswith(np.array(c.name)[rc].astype(str), "shared"), 0, 1)),
            "tags": ap_tags.take(pa.array(rc)),
            "change_time": pa.array(rt),
            "is_current": pa.array(is_current),
        }
    )
    jc = pa.table(
        {
            "cluster_id": runs.cluster_id.take(pa.array(cl)),
            "workspace_id": take(acct.workspaces.id, runs.ws[cl]),
            "cluster_name": names,
            "owned_by": take(acct.users.email, jobs.run_as[runs.job[cl]]),
            "create_time": pa.array(runs.start[cl]),
            "delete_time": pa.array(np.full(m, NAT)),
            "node": pa.array(runs.node_type[cl]),
            "worker_count": pa.array(np.where(jobs.autoscale[runs.job[cl]], -1, runs.workers[cl])),
            "min_auto": pa.array(np.where(jobs.autoscale[runs.job[cl]], jobs.min_workers[runs.job[cl]], -1)),
            "max_auto": pa.array(np.where(jobs.autoscale[runs.job[cl]], jobs.max_workers[runs.job[cl]], -1)),
            "auto_term": pa.array(np.where(api, 60, 0)),
            "source": pa.array(np.where(api, 1, 2)),
            "dbr": pa.array(runs.dbr[cl] + np.where(runs.photon[cl], 10, 0)),
            "mode": pa.array(np.ones(m, dtype=np.int64)),
            "tags": job_tags.take(pa.array(runs.job[cl])),
            "change_time": pa.array(runs.start[cl]),
            "is_current": pa.array(np.ones(m, dtype=bool)),
        }
    )
    t = pa.concat_tables([ap, jc])
    dbr_i = t.column("dbr").to_numpy()
    dbr_vocab = list(C.DBR_VERSIONS) + [v.replace("-scala", "-photon-scala") for v in C.DBR_VERSIONS]
    dbr_code = np.where(dbr_i >= 10, len(C.DBR_VERSIONS) + dbr_i - 10, dbr_i)
    change = t.column("change_time").to_numpy()

    def nullable_int(name: str) -> pa.Array:
        v = t.column(name).to_numpy()
        return pa.array(v, type=pa.int64(), mask=v < 0)

    return build(
        "dim_cluster",
        {
            "account_id": acct.account_id,
            "workspace_id": t.column("workspace_id"),
            "cluster_id": t.column("cluster_id"),
            "cluster_name": t.column("cluster_name"),
            "owned_by": t.column("owned_by"),
            "create_time": t.column("create_time").to_numpy(),
            "delete_time": t.column("delete_time").to_numpy(),
            "driver_node_type": take(node, t.column("node").to_numpy()),
            "worker_node_type": take(node, t.column("node").to_numpy()),
            "worker_count": nullable_int("worker_count"),
            "min_autoscale_workers": nullable_int("min_auto"),
            "max_autoscale_workers": nullable_int("max_auto"),
            "auto_termination_minutes": t.column("auto_term").to_numpy(),
            "cluster_source": take(["UI", "API", "JOB"], t.column("source").to_numpy()),
            "dbr_version": take(dbr_vocab, dbr_code),
            "data_security_mode": take(
                ["DATA_SECURITY_MODE_STANDARD", "DATA_SECURITY_MODE_DEDICATED"], t.column("mode").to_numpy()
            ),
            "tags": t.column("tags"),
            "change_time": change,
            "change_date": change // DAY,
            "is_current": t.column("is_current").to_numpy(),
        },
    )


def node_timeline(rng: np.random.Generator, acct: E.Account, runs: Runs, sessions: Sessions) -> pa.Table:
    """Hourly node rows for job-run clusters and all-purpose sessions."""
    c = acct.clusters
    cl = np.flatnonzero(runs.compute != SERVERLESS)
    # One interval per instance: (source interval, is_driver, worker rank).
    src_start = np.concatenate([runs.start[cl], sessions.start])
    src_end = np.concatenate([runs.end[cl], sessions.end])
    nodes = np.concatenate([runs.nodes[cl], 1 + sessions.workers])
    inst_src = np.repeat(np.arange(len(nodes)), nodes)
    rank = np.arange(len(inst_src)) - np.repeat(np.cumsum(nodes) - nodes, nodes)
    is_run = inst_src < len(cl)
    sl = hour_slices(src_start[inst_src], src_end[inst_src])
    i = sl.parent  # instance index
    s = inst_src[i]
    run_row = np.where(is_run[i], cl[np.minimum(s, len(cl) - 1)], -1)
    ses_row = np.where(is_run[i], -1, s - len(cl))
    driver = rank[i] == 0
    n = len(i)
    cpu_base = np.where(
        is_run[i],
        runs.cpu[np.maximum(run_row, 0)],
        np.where(
            sessions.idle[np.maximum(ses_row, 0)], 2.0, c.base_cpu[sessions.cluster[np.maximum(ses_row, 0)]]
        ),
    )
    mem_peak = np.where(
        is_run[i],
        runs.peak_mem[np.maximum(run_row, 0)],
        c.base_mem[sessions.cluster[np.maximum(ses_row, 0)]] + rng.normal(0, 5, n),
    )
    cpu_user = np.where(driver, rng.uniform(4, 15, n), cpu_base * rng.uniform(0.8, 1.1, n))
    mem = np.where(driver, rng.uniform(20, 45, n), mem_peak - np.abs(rng.normal(0, 4, n)))
    # The run's peak is reached on its first worker's last hour.
    run_peak_row = is_run[i] & (rank[i] == 1) & sl.is_final
    mem = np.where(run_peak_row, mem_peak, mem)
    secs = (sl.end - sl.start) / 1e6
    node_type = np.where(
        is_run[i],
        runs.node_type[np.maximum(run_row, 0)],
        c.node_type[sessions.cluster[np.maximum(ses_row, 0)]],
    )
    cluster_id = pa.concat_arrays([runs.cluster_id.take(pa.array(cl)), c.id.take(pa.array(sessions.cluster))])
    ws = np.where(is_run[i], runs.ws[np.maximum(run_row, 0)], c.ws[sessions.cluster[np.maximum(ses_row, 0)]])
    net = (secs * (cpu_user + 5) * rng.uniform(2e4, 8e4, n)).astype(np.int64)
    return build(
        "fact_node_timeline",
        {
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, ws),
            "cluster_id": cluster_id.take(pa.array(s)),
            "instance_id": ids.instance_ids(len(inst_src), salt=5).take(pa.array(i)),
            "start_time": sl.start,
            "end_time": sl.end,
            "driver": driver,
            "node_type": take([t[0] for t in C.NODE_TYPES], node_type),
            "cpu_user_percent": np.round(np.clip(cpu_user, 0, 100), 2),
            "cpu_system_percent": np.round(np.where(driver, rng.uniform(1, 4, n), rng.uniform(2, 8, n)), 2),
            "cpu_wait_percent": np.round(rng.gamma(1.5, 1.5, n).clip(0, 40), 2),
            "mem_used_percent": np.round(np.clip(mem, 1, 100), 2),
            "mem_swap_percent": np.round(np.where(mem > 92, rng.uniform(1, 10, n), 0.0), 2),
            "network_sent_bytes": net,
            "network_received_bytes": (net * rng.uniform(0.8, 1.6, n)).astype(np.int64),
        },
    )
