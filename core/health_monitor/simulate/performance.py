"""SQL warehouses: configuration history, running sessions, scaling events and the queries they serve.

Query time follows from the warehouse: execution time is bytes read over the size's throughput,
spill adds to it when a query's working set exceeds the size's memory, result-cache hits skip
execution, and concurrency above 10 queries per running cluster queues statements. Scaling
events follow the hourly load; billing follows the RUNNING intervals and their cluster counts.
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
from health_monitor.simulate.timegrid import HOUR, MINUTE, NAT, SECOND, Calendar, hour_slices

MB = 1 << 20
GB = 1 << 30
THROUGHPUT_PER_POWER = 40 * MB  # bytes per second per unit of warehouse power
MEMORY_PER_POWER = 2 * GB


@dataclass(frozen=True)
class WarehouseUsage:
    """RUNNING intervals cut at clock hours, with the clusters running and the size that day."""

    warehouse: np.ndarray
    start: np.ndarray
    end: np.ndarray
    clusters: np.ndarray
    size: np.ndarray


def daily_config(cal: Calendar, w: E.Warehouses, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """(size, max_clusters) per warehouse-day after incident resizes."""
    n = len(w.name)
    size = np.repeat(w.size[:, None], cal.days, axis=1)
    max_c = np.repeat(w.max_clusters[:, None], cal.days, axis=1)
    under = plan.day_mask("warehouse_undersized", n, cal.days)
    over = plan.day_mask("warehouse_oversized", n, cal.days)
    size = np.where(under, np.maximum(size - 3, 0), size)
    size = np.where(over, np.minimum(size + 3, len(C.WAREHOUSE_SIZES) - 1), size)
    max_c = np.where(over, max_c + 2, max_c)
    return size, max_c


def _sessions(rng: np.random.Generator, cal: Calendar, acct: E.Account) -> tuple[np.ndarray, ...]:
    w = acct.warehouses
    n, days = len(w.name), cal.days
    weekend_ok = np.where(cal.is_weekend[None, :], w.weekend[:, None] & (rng.random((n, days)) < 0.7), True)
    on = weekend_ok & ~(cal.is_holiday[None, :] & (rng.random((n, days)) < 0.7))
    wi, di = np.nonzero(on)
    two = (w.workload[wi] == 0) & (rng.random(len(wi)) < 0.6)
    # Local-time session bounds (hours): BI mornings and afternoons, ETL at night, ad hoc in office hours.
    s1 = np.select(
        [w.workload[wi] == 1, two],
        [rng.uniform(0, 3, len(wi)), rng.uniform(7, 8.5, len(wi))],
        rng.uniform(8, 9.5, len(wi)),
    )
    e1 = np.select(
        [w.workload[wi] == 1, two],
        [s1 + rng.uniform(3, 6, len(wi)), rng.uniform(11.5, 12.5, len(wi))],
        rng.uniform(16, 19, len(wi)),
    )
    s2 = rng.uniform(13.5, 14.5, len(wi))
    e2 = rng.uniform(17.5, 19.5, len(wi))
    sw = np.concatenate([wi, wi[two]])
    sd = np.concatenate([di, di[two]])
    sl = np.concatenate([s1, s2[two]])
    el = np.concatenate([e1, e2[two]])
    tz = acct.workspaces.tz[w.ws[sw]]
    start = cal.day_start_us[sd] + ((sl - tz) * HOUR).astype(np.int64)
    end = cal.day_start_us[sd] + ((el - tz) * HOUR).astype(np.int64) + w.auto_stop[sw] * MINUTE
    order = np.lexsort((start, sw))
    return sw[order], sd[order], start[order], end[order]


def simulate(
    rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan
) -> tuple[dict[str, pa.Table], WarehouseUsage]:
    w = acct.warehouses
    n_w = len(w.name)
    size_day, maxc_day = daily_config(cal, w, plan)
    sw, sd, s_start, s_end = _sessions(rng, cal, acct)
    n_s = len(sw)
    size = size_day[sw, sd]
    power = np.array(C.WAREHOUSE_POWER)[size]
    spinup = np.where(
        w.type[sw] == 2, rng.integers(4, 11, n_s) * SECOND, rng.integers(120, 240, n_s) * SECOND
    )
    running = s_start + spinup
    busy_end = s_end - w.auto_stop[sw] * MINUTE

    # Templates: recurring statements per warehouse, picked with Zipf-like weights.
    n_tpl = 12
    tpl_bytes = np.exp(
        rng.normal(
            np.select(
                [w.workload == 0, w.workload == 1], [np.log(150 * MB), np.log(4 * GB)], np.log(800 * MB)
            )[:, None],
            1.0,
            (n_w, n_tpl),
        )
    )
    tpl_weight = 1.0 / np.arange(1, n_tpl + 1) ** 0.9
    tpl_weight /= tpl_weight.sum()

    # Statements arrive in bursts (a dashboard refresh fires several at once): Poisson arrivals
    # in the busy span, scaled by the day's human activity (ETL is steady), each with a group.
    hours = np.maximum(busy_end - s_start, 0) / HOUR
    day_factor = np.where(w.workload[sw] == 1, cal.volume[sd], cal.activity[sd])
    group_mean = np.where(w.workload[sw] == 0, 5.0, 2.0)
    n_arr = np.maximum(rng.poisson(w.rate[sw] * hours * day_factor / group_mean), 1)
    arr_s = np.repeat(np.arange(n_s), n_arr)
    arr_t = s_start[arr_s] + (rng.random(len(arr_s)) * np.maximum(busy_end - s_start, MINUTE)[arr_s]).astype(
        np.int64
    )
    arr_first = np.concatenate([[True], arr_s[1:] != arr_s[:-1]])
    arr_t = np.where(arr_first, s_start[arr_s], arr_t)
    g = 1 + rng.poisson(group_mean[arr_s] - 1)
    qs = np.repeat(arr_s, g)
    q_start = np.repeat(arr_t, g) + rng.integers(0, 20, len(qs)) * SECOND
    q_start = np.where(
        np.repeat(arr_first, g) & (np.arange(len(qs)) == np.repeat(np.cumsum(g) - g, g)),
        np.repeat(arr_t, g),
        q_start,
    )
    order = np.lexsort((q_start, qs))
    qs, q_start = qs[order], q_start[order]
    first = np.concatenate([[True], qs[1:] != qs[:-1]])
    nq = len(qs)
    qw = sw[qs]
    tpl = rng.choice(n_tpl, nq, p=tpl_weight)
    bi = w.workload[qw] == 0
    etl = w.workload[qw] == 1
    regressed = plan.day_mask("query_performance_regression", n_w, cal.days)[qw, sd[qs]] & (tpl == 0)
    cache = bi & (rng.random(nq) < 0.25) & ~first & ~regressed
    read_bytes = (
        tpl_bytes[qw, tpl] * rng.lognormal(0, 0.4, nq) * cal.volume[sd[qs]] * np.where(regressed, 8.0, 1.0)
    )
    read_bytes = np.where(cache, 0, read_bytes).astype(np.int64)
    q_power = power[qs]
    spill = np.maximum(0, read_bytes * 0.5 - MEMORY_PER_POWER * q_power).astype(np.int64)
    exec_ms = 40 + read_bytes / (THROUGHPUT_PER_POWER * q_power) * 1000 * (
        1 + 3 * spill / np.maximum(read_bytes, 1)
    )
    exec_ms = np.where(cache, rng.integers(5, 40, nq), exec_ms * rng.lognormal(0, 0.2, nq)).astype(np.int64)
    compile_ms = np.where(cache, 0, rng.lognormal(np.log(150), 0.6, nq)).astype(np.int64)

    # Load: statement-seconds per minute of a session, and clusters per clock hour.
    bucket = (q_start - s_start[qs]) // MINUTE
    n_b = int(bucket.max()) + 1 if nq else 1
    key = qs * n_b + bucket
    load = np.bincount(key, weights=exec_ms / 1000.0, minlength=n_s * n_b) / 60.0
    conc = load[key]
    hour_of = q_start // HOUR
    h0 = s_start // HOUR
    n_h = int((s_end // HOUR - h0).max()) + 2
    hkey = qs * n_h + (hour_of - h0[qs])
    peak = np.zeros(n_s * n_h)
    np.maximum.at(peak, hkey, conc)
    clusters_h = np.clip(np.ceil(peak.reshape(n_s, n_h) / C.CONCURRENT_QUERIES_PER_CLUSTER), 1, None)
    clusters_h = np.minimum(
        np.maximum(clusters_h, w.min_clusters[sw][:, None]), maxc_day[sw, sd][:, None]
    ).astype(np.int64)
    cap = C.CONCURRENT_QUERIES_PER_CLUSTER * clusters_h.ravel()[hkey]
    # Concurrency above capacity queues, with a long tail when a small warehouse is saturated.
    queue_ms = (np.maximum(conc - cap, 0) / cap * 60_000 * rng.uniform(0.3, 1.0, nq)).astype(np.int64)
    queue_ms = np.minimum(queue_ms, 30 * 60 * 1000)
    wait_compute = np.where(first, spinup[qs] // 1000, 0).astype(np.int64)
    v = rng.random(nq)
    status = np.where(v < 0.015, 1, np.where(v < 0.023, 2, 0))
    # A cancelled statement stops part-way through execution.
    exec_ms = np.where(status == 2, (exec_ms * rng.uniform(0.1, 0.9, nq)).astype(np.int64), exec_ms)
    total = wait_compute + queue_ms + compile_ms + exec_ms
    q_end = q_start + total * 1000

    # Statement metadata from templates.
    stype_vocab = ("SELECT", "INSERT", "MERGE", "CREATE", "DESCRIBE", "SHOW", "UPDATE")
    stype = np.select(
        [etl & (tpl % 4 == 0), etl & (tpl % 4 == 1), etl & (tpl % 4 == 2), ~bi & ~etl & (tpl == 11)],
        [1, 2, 3, 4],
        0,
    )
    n_tab = len(acct.tables.name)
    tpl_table = (np.arange(n_w)[:, None] * 7 + np.arange(n_tpl)[None, :] * 3) % n_tab
    fulls = acct.tables.full_name.to_pylist()
    text_vocab = []
    for wi in range(n_w):
        for t in range(n_tpl):
            tab = fulls[tpl_table[wi, t]]
            text_vocab += [
                f"SELECT region, date_trunc('day', created_at) AS day, sum(amount) FROM {tab} WHERE created_at >= :start GROUP BY 1, 2",
                f"INSERT INTO {tab} SELECT * FROM {tab}_staging WHERE batch_id = :batch",
                f"MERGE INTO {tab} t USING {tab}_updates s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                f"CREATE OR REPLACE TABLE {tab}_snapshot AS SELECT * FROM {tab}",
                f"DESCRIBE TABLE {tab}",
                "SHOW TABLES",
                f"UPDATE {tab} SET status = 'closed' WHERE id = :id",
            ]
    text_idx = (qw * n_tpl + tpl) * len(stype_vocab) + stype
    tpl_ids = ids.uuids(rng, n_w * n_tpl)
    dash_ids = ids.random_hex(rng, n_w * 4, 32)
    ws_jobs = [np.flatnonzero(acct.jobs.ws == acct.warehouses.ws[i]) for i in range(n_w)]
    tpl_job = np.array(
        [
            [ws_jobs[i][(t * 5 + i) % len(ws_jobs[i])] if len(ws_jobs[i]) else -1 for t in range(n_tpl)]
            for i in range(n_w)
        ]
    )
    humans = [
        np.flatnonzero((acct.users.ws == acct.warehouses.ws[i]) & (acct.users.role != E.SERVICE))
        for i in range(n_w)
    ]
    pick = rng.random(nq)
    executed_by = np.empty(nq, dtype=np.int64)
    for i in range(n_w):
        sel = qw == i
        pool = humans[i] if len(humans[i]) else np.flatnonzero(acct.users.ws == acct.warehouses.ws[i])
        executed_by[sel] = pool[(pick[sel] * len(pool)).astype(np.int64)]
    executed_by = np.where(etl, acct.jobs.run_as[np.maximum(tpl_job[qw, tpl], 0)], executed_by)
    read_files = np.where(cache, 0, read_bytes // (64 * MB) + 1)
    pruned = np.where(regressed | cache | etl, 0, (read_files * rng.uniform(2, 10, nq)).astype(np.int64))
    errors = (
        "[INSUFFICIENT_PERMISSIONS] Insufficient privileges",
        "[TABLE_OR_VIEW_NOT_FOUND] The table cannot be found",
        "[DIVIDE_BY_ZERO] Division by zero",
    )
    queries = build(
        "fact_query_history",
        {
            "statement_id": ids.uuids(rng, nq, cal.window),
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, w.ws[qw]),
            "session_id": take(ids.uuids(rng, n_s, cal.window), qs),
            "executed_by": take(acct.users.email, executed_by),
            "compute_type": "WAREHOUSE",
            "warehouse_id": take(w.id, qw),
            "statement_type": take(stype_vocab, stype),
            "statement_text": take(text_vocab, text_idx),
            "client_application": take(
                ["Databricks SQL Dashboard", "dbt", "Databricks SQL Editor", "Tableau", "Power BI"],
                np.where(bi, np.where(tpl % 3 == 0, 3, 0), np.where(etl, 1, 2 + 2 * (tpl % 5 == 4))),
            ),
            "execution_status": take(["FINISHED", "FAILED", "CANCELED"], status),
            "error_message": take(errors, np.where(status == 1, tpl % 3, -1)),
            "start_time": q_start,
            "end_time": q_end,
            "total_duration_ms": total,
            "waiting_for_compute_duration_ms": wait_compute,
            "waiting_at_capacity_duration_ms": queue_ms,
            "compilation_duration_ms": compile_ms,
            "execution_duration_ms": exec_ms,
            "read_bytes": read_bytes,
            "read_rows": read_bytes // 120,
            "read_files": read_files,
            "pruned_files": pruned,
            "produced_rows": np.where(np.isin(stype, [1, 2, 3, 6]), 0, rng.integers(1, 5000, nq)),
            "spilled_local_bytes": spill,
            "written_bytes": np.where(np.isin(stype, [1, 2, 3]), read_bytes // 3, 0),
            "read_io_cache_percent": np.where(
                cache, 0, np.where(rng.random(nq) < 0.6, rng.integers(80, 101, nq), rng.integers(0, 11, nq))
            ).astype(np.int32),
            "from_result_cache": cache,
            "query_source_job_id": take(acct.jobs.id, np.where(etl, tpl_job[qw, tpl], -1)),
            "query_source_dashboard_id": take(dash_ids, np.where(bi, qw * 4 + tpl % 4, -1)),
            "query_source_sql_query_id": take(tpl_ids, qw * n_tpl + tpl),
        },
    )

    events, usage = _events_and_usage(rng, cal, acct, sw, s_start, running, s_end, clusters_h, h0, size)
    return {
        "fact_query_history": queries,
        "fact_warehouse_events": events,
        "dim_warehouse": _dim(cal, acct, plan, size_day, maxc_day),
    }, usage


def _events_and_usage(
    rng: np.random.Generator,
    cal: Calendar,
    acct: E.Account,
    sw: np.ndarray,
    s_start: np.ndarray,
    running: np.ndarray,
    s_end: np.ndarray,
    clusters_h: np.ndarray,
    h0: np.ndarray,
    size: np.ndarray,
) -> tuple[pa.Table, WarehouseUsage]:
    w = acct.warehouses
    n_s, n_h = clusters_h.shape
    stopping = s_end
    # Hour boundaries inside (running, stopping) where the cluster count changes.
    hh = np.arange(1, n_h)
    bound = (h0[:, None] + hh[None, :]) * HOUR
    inside = (bound > running[:, None]) & (bound < stopping[:, None])
    change = inside & (clusters_h[:, 1:] != clusters_h[:, :-1])
    ci, cj = np.nonzero(change)
    run_hour = running // HOUR - h0
    first_count = clusters_h[np.arange(n_s), np.clip(run_hour, 0, n_h - 1)]
    ev_w = np.concatenate([sw, sw, sw[ci], sw, sw])
    ev_t = np.concatenate(
        [s_start, running, bound[ci, cj], stopping, stopping + rng.integers(30, 90, n_s) * SECOND]
    )
    up = clusters_h[ci, cj + 1] > clusters_h[ci, cj]
    ev_type = np.concatenate(
        [np.zeros(n_s), np.ones(n_s), np.where(up, 2, 3), np.full(n_s, 4), np.full(n_s, 5)]
    ).astype(np.int64)
    ev_count = np.concatenate(
        [np.zeros(n_s), first_count, clusters_h[ci, cj + 1], np.zeros(n_s), np.zeros(n_s)]
    ).astype(np.int64)
    order = np.lexsort((ev_t, ev_w))
    events = build(
        "fact_warehouse_events",
        {
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, w.ws[ev_w[order]]),
            "warehouse_id": take(w.id, ev_w[order]),
            "event_type": take(
                ["STARTING", "RUNNING", "SCALED_UP", "SCALED_DOWN", "STOPPING", "STOPPED"], ev_type[order]
            ),
            "cluster_count": ev_count[order].astype(np.int32),
            "event_time": ev_t[order],
        },
    )
    sl = hour_slices(running, stopping)
    hour_idx = sl.start // HOUR - h0[sl.parent]
    usage = WarehouseUsage(
        warehouse=sw[sl.parent],
        start=sl.start,
        end=sl.end,
        clusters=clusters_h[sl.parent, hour_idx],
        size=size[sl.parent],
    )
    return events, usage


def _dim(cal: Calendar, acct: E.Account, plan: Plan, size_day: np.ndarray, maxc_day: np.ndarray) -> pa.Table:
    w = acct.warehouses
    n = len(w.name)
    rows_w, rows_t, rows_d = [np.arange(n)], [w.create_us], [np.full(n, -1)]
    # A configuration row each time the incident resizes a warehouse and when it is put back.
    for name in ("warehouse_undersized", "warehouse_oversized"):
        for inc in plan.of(name):
            tz = acct.workspaces.tz[w.ws[inc.entity]]
            for d in (inc.start_day, inc.end_day + 1):
                if d < cal.days:
                    rows_w.append(np.array([inc.entity]))
                    rows_t.append(np.array([cal.day_start_us[d] + int((5 - tz) * HOUR)]))
                    rows_d.append(np.array([d]))
    rw, rt, rd = np.concatenate(rows_w), np.concatenate(rows_t), np.concatenate(rows_d)
    order = np.lexsort((rt, rw))
    rw, rt, rd = rw[order], rt[order], rd[order]
    size = np.where(rd < 0, w.size[rw], size_day[rw, np.maximum(rd, 0)])
    maxc = np.where(rd < 0, w.max_clusters[rw], maxc_day[rw, np.maximum(rd, 0)])
    tags = maps_from_dicts([{"team": C.TEAMS[t]} for t in w.team])
    return build(
        "dim_warehouse",
        {
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, w.ws[rw]),
            "warehouse_id": take(w.id, rw),
            "warehouse_name": take(w.name, rw),
            "warehouse_type": take(C.WAREHOUSE_TYPES, w.type[rw]),
            "warehouse_channel": "CURRENT",
            "warehouse_size": take(C.WAREHOUSE_SIZES, size),
            "min_clusters": w.min_clusters[rw].astype(np.int32),
            "max_clusters": maxc.astype(np.int32),
            "auto_stop_minutes": w.auto_stop[rw].astype(np.int32),
            "tags": tags.take(pa.array(rw)),
            "created_by": take(acct.users.email, w.owner[rw]),
            "change_time": rt,
            "delete_time": np.full(len(rw), NAT),
            "is_current": np.append(rw[1:] != rw[:-1], True),
        },
    )
