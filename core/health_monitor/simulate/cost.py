"""Billing: usage records derived from what ran, priced with the list price open at the time.

Usage is never drawn on its own: job-cluster DBUs are slice hours x nodes x the node type's DBU
rate (x2 with Photon), serverless jobs bill their DBU rate over the run, all-purpose clusters bill
their uptime, warehouses bill RUNNING cluster-hours x the size's DBU rate. A small share of
records is corrected (RETRACTION/RESTATEMENT) so that the sum over record types stays true.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import entities as E
from health_monitor.simulate import ids
from health_monitor.simulate.arrowkit import build, empty_maps, maps_from_dicts, take
from health_monitor.simulate.compute import Sessions
from health_monitor.simulate.performance import WarehouseUsage
from health_monitor.simulate.reliability import ALL_PURPOSE_API, JOB_CLUSTER, SERVERLESS, Runs
from health_monitor.simulate.timegrid import DAY, HOUR, NAT, Calendar, hour_slices

NODE_DBU = np.array([n[1] for n in C.NODE_TYPES])


@dataclass(frozen=True)
class _Part:
    ws: np.ndarray
    sku: np.ndarray
    start: np.ndarray
    end: np.ndarray
    qty: np.ndarray
    cluster: pa.Array
    job: np.ndarray
    run: np.ndarray  # run row index or -1
    warehouse: np.ndarray
    pipeline: np.ndarray
    endpoint: np.ndarray
    node_type: np.ndarray
    run_as: np.ndarray  # user index or -1
    owned_by: np.ndarray
    tag: np.ndarray  # index into the combined tag vocabulary, -1 = untagged
    unit: int  # 0 DBU, 1 DSU
    serverless: int  # -1 null, 0 false, 1 true
    photon: np.ndarray


def _none(n: int) -> np.ndarray:
    return np.full(n, -1, dtype=np.int64)


def price_change_us(cal: Calendar) -> int:
    return int(cal.day_start_us[cal.days // 2])


def _parts(
    rng: np.random.Generator,
    cal: Calendar,
    acct: E.Account,
    runs: Runs,
    sessions: Sessions,
    wh: WarehouseUsage,
) -> list[_Part]:
    jobs, c, w = acct.jobs, acct.clusters, acct.warehouses
    n_j, n_c, n_w = len(jobs.name), len(c.name), len(w.name)
    parts = []
    sl = hour_slices(runs.start, runs.end)
    r = sl.parent
    hrs = (sl.end - sl.start) / HOUR
    comp = runs.compute[r]
    classic_q = (
        hrs
        * runs.nodes[r]
        * NODE_DBU[runs.node_type[r]]
        * np.where(runs.photon[r], C.PHOTON_DBU_MULTIPLIER, 1)
    )
    serverless_q = hrs * jobs.serverless_dbu[runs.job[r]]
    for kind in (JOB_CLUSTER, SERVERLESS, ALL_PURPOSE_API):
        k = comp == kind
        rr = r[k]
        photon = runs.photon[rr]
        n = int(k.sum())
        if kind == JOB_CLUSTER:
            sku = np.where(photon, C.SKU_JOBS_PHOTON, C.SKU_JOBS)
        elif kind == SERVERLESS:
            sku = np.full(n, C.SKU_JOBS_SERVERLESS)
        else:
            sku = np.where(photon, C.SKU_AP_PHOTON, C.SKU_AP)
        # Jobs on all-purpose compute carry no job_id/job_run_id in billing (as in Databricks).
        on_job = kind != ALL_PURPOSE_API
        parts.append(
            _Part(
                ws=runs.ws[rr],
                sku=sku,
                start=sl.start[k],
                end=sl.end[k],
                qty=np.where(kind == SERVERLESS, serverless_q[k], classic_q[k]),
                cluster=runs.cluster_id.take(pa.array(rr))
                if kind != SERVERLESS
                else pa.nulls(n, pa.string()),
                job=runs.job[rr] if on_job else _none(n),
                run=rr if on_job else _none(n),
                warehouse=_none(n),
                pipeline=_none(n),
                endpoint=_none(n),
                node_type=runs.node_type[rr] if kind != SERVERLESS else _none(n),
                run_as=jobs.run_as[runs.job[rr]] if on_job else _none(n),
                owned_by=_none(n),
                tag=np.where(jobs.tagged[runs.job[rr]], runs.job[rr], -1),
                unit=0,
                serverless=1 if kind == SERVERLESS else 0,
                photon=photon,
            )
        )
    ss = hour_slices(sessions.start, sessions.end)
    s = ss.parent
    cl = sessions.cluster[s]
    n = len(s)
    parts.append(
        _Part(
            ws=c.ws[cl],
            sku=np.where(c.photon[cl], C.SKU_AP_PHOTON, C.SKU_AP),
            start=ss.start,
            end=ss.end,
            qty=(ss.end - ss.start)
            / HOUR
            * (1 + sessions.workers[s])
            * NODE_DBU[c.node_type[cl]]
            * np.where(c.photon[cl], C.PHOTON_DBU_MULTIPLIER, 1),
            cluster=c.id.take(pa.array(cl)),
            job=_none(n),
            run=_none(n),
            warehouse=_none(n),
            pipeline=_none(n),
            endpoint=_none(n),
            node_type=c.node_type[cl],
            run_as=_none(n),
            owned_by=_none(n),
            tag=n_j + cl,
            unit=0,
            serverless=0,
            photon=c.photon[cl],
        )
    )
    n = len(wh.warehouse)
    sku_by_type = np.array([C.SKU_SQL_CLASSIC, C.SKU_SQL_PRO, C.SKU_SQL_SERVERLESS])
    parts.append(
        _Part(
            ws=w.ws[wh.warehouse],
            sku=sku_by_type[w.type[wh.warehouse]],
            start=wh.start,
            end=wh.end,
            qty=(wh.end - wh.start) / HOUR * wh.clusters * np.array(C.WAREHOUSE_DBU)[wh.size],
            cluster=pa.nulls(n, pa.string()),
            job=_none(n),
            run=_none(n),
            warehouse=wh.warehouse,
            pipeline=_none(n),
            endpoint=_none(n),
            node_type=_none(n),
            run_as=_none(n),
            owned_by=w.owner[wh.warehouse],
            tag=n_j + n_c + wh.warehouse,
            unit=0,
            serverless=-1,
            photon=np.ones(n, dtype=bool),
        )
    )
    p = acct.pipelines
    if len(p.ws):
        pp, dd = (g.ravel() for g in np.meshgrid(np.arange(len(p.ws)), np.arange(cal.days), indexing="ij"))
        st = cal.day_start_us[dd] + p.hour[pp] * HOUR + rng.integers(0, HOUR, len(pp))
        en = st + (p.duration_h[pp] * cal.volume[dd] * rng.lognormal(0, 0.15, len(pp)) * HOUR).astype(
            np.int64
        )
        ps = hour_slices(st, en)
        q = ps.parent
        n = len(q)
        parts.append(
            _Part(
                ws=p.ws[pp[q]],
                sku=np.full(n, C.SKU_DLT_SERVERLESS),
                start=ps.start,
                end=ps.end,
                qty=(ps.end - ps.start) / HOUR * p.dbu_per_hour[pp[q]],
                cluster=pa.nulls(n, pa.string()),
                job=_none(n),
                run=_none(n),
                warehouse=_none(n),
                pipeline=pp[q],
                endpoint=_none(n),
                node_type=_none(n),
                run_as=p.run_as[pp[q]],
                owned_by=_none(n),
                tag=n_j + n_c + n_w + pp[q],
                unit=0,
                serverless=1,
                photon=np.ones(n, dtype=bool),
            )
        )
    ep = acct.endpoints
    if len(ep.ws):
        hours = np.arange(cal.days * 24)
        ee, hh = (g.ravel() for g in np.meshgrid(np.arange(len(ep.ws)), hours, indexing="ij"))
        st = cal.start_us + hh * HOUR
        load = 0.4 + 0.6 * cal.activity[hh // 24] / cal.activity.max()
        n = len(ee)
        parts.append(
            _Part(
                ws=ep.ws[ee],
                sku=np.full(n, C.SKU_SERVING),
                start=st,
                end=st + HOUR,
                qty=ep.dbu_per_hour[ee] * load * rng.uniform(0.8, 1.2, n),
                cluster=pa.nulls(n, pa.string()),
                job=_none(n),
                run=_none(n),
                warehouse=_none(n),
                pipeline=_none(n),
                endpoint=ee,
                node_type=_none(n),
                run_as=_none(n),
                owned_by=_none(n),
                tag=_none(n),
                unit=0,
                serverless=1,
                photon=np.zeros(n, dtype=bool),
            )
        )
    n_ws = len(acct.workspaces.name)
    wsi, dd = (g.ravel() for g in np.meshgrid(np.arange(n_ws), np.arange(cal.days), indexing="ij"))
    n = len(wsi)
    parts.append(
        _Part(
            ws=wsi,
            sku=np.full(n, C.SKU_STORAGE),
            start=cal.day_start_us[dd],
            end=cal.day_start_us[dd] + DAY,
            qty=acct.workspaces.weight[wsi] * 2_000 * (1 + 0.002 * dd),
            cluster=pa.nulls(n, pa.string()),
            job=_none(n),
            run=_none(n),
            warehouse=_none(n),
            pipeline=_none(n),
            endpoint=_none(n),
            node_type=_none(n),
            run_as=_none(n),
            owned_by=_none(n),
            tag=_none(n),
            unit=1,
            serverless=-1,
            photon=np.zeros(n, dtype=bool),
        )
    )
    return parts


def _tag_vocab(acct: E.Account) -> pa.MapArray:
    jobs, c, w, p = acct.jobs, acct.clusters, acct.warehouses, acct.pipelines
    dicts = [
        {"team": C.TEAMS[jobs.team[j]], "cost_center": C.COST_CENTERS[jobs.cost_center[j]], "env": "prod"}
        for j in range(len(jobs.name))
    ]
    dicts += [{"team": C.TEAMS[t], "ResourceClass": "Standard"} for t in c.team]
    dicts += [{"team": C.TEAMS[t]} for t in w.team]
    dicts += [{"team": C.TEAMS[t], "pipeline": "true"} for t in p.team]
    return maps_from_dicts(dicts)


@dataclass(frozen=True)
class Billing:
    fact_usage: pa.Table
    organic_cost: np.ndarray  # (workspaces, days) list cost excluding backfill jobs
    total_cost: np.ndarray


def usage(
    rng: np.random.Generator,
    cal: Calendar,
    acct: E.Account,
    runs: Runs,
    sessions: Sessions,
    wh: WarehouseUsage,
    discount_pct: float,
) -> Billing:
    parts = _parts(rng, cal, acct, runs, sessions, wh)
    cat = lambda f: np.concatenate([getattr(p, f) for p in parts])  # noqa: E731
    ws, sku, start, end, qty = cat("ws"), cat("sku"), cat("start"), cat("end"), cat("qty")
    job, run, whi, pipe, endp = cat("job"), cat("run"), cat("warehouse"), cat("pipeline"), cat("endpoint")
    node, run_as, owned, tag, photon = (
        cat("node_type"),
        cat("run_as"),
        cat("owned_by"),
        cat("tag"),
        cat("photon"),
    )
    unit = np.concatenate([np.full(len(p.ws), p.unit) for p in parts])
    serverless = np.concatenate([np.full(len(p.ws), p.serverless) for p in parts])
    cluster = pa.concat_arrays([p.cluster for p in parts])
    n = len(ws)
    qty = np.round(qty, 6)

    # Corrections (~0.4% of records): a mis-metered original retracted and restated, or a
    # duplicated original retracted. Each keeps the sum over record types equal to the truth.
    pick = rng.random(n)
    restated = pick < 0.002
    duplicated = (pick >= 0.002) & (pick < 0.004)
    orig_qty = np.where(restated, np.round(qty * 1.15, 6), qty)
    extra_src = np.concatenate(
        [
            np.flatnonzero(restated),
            np.flatnonzero(restated),
            np.flatnonzero(duplicated),
            np.flatnonzero(duplicated),
        ]
    )
    extra_type = np.concatenate(
        [
            np.full(restated.sum(), 1),
            np.full(restated.sum(), 2),
            np.zeros(duplicated.sum()),
            np.ones(duplicated.sum()),
        ]
    ).astype(np.int64)
    extra_qty = np.concatenate([-orig_qty[restated], qty[restated], qty[duplicated], -qty[duplicated]])
    src = np.concatenate([np.arange(n), extra_src])
    rtype = np.concatenate([np.zeros(n, dtype=np.int64), extra_type])
    q = np.concatenate([orig_qty, extra_qty])
    late = np.concatenate([np.zeros(n, dtype=np.int64), rng.integers(1, 6, len(extra_src))])

    list_price = np.array([s[5] for s in C.SKUS])[sku[src]]
    changed = (sku[src] == C.PRICE_CHANGE_SKU) & (end[src] < price_change_us(cal))
    list_price = np.where(changed, C.PRICE_BEFORE_CHANGE, list_price)
    eff_price = np.round(list_price * (1 - discount_pct / 100), 6)
    usage_day = start[src] // DAY
    tags = _tag_vocab(acct)
    tag_idx = tag[src]
    tag_arr = tags.take(pa.array(np.where(tag_idx < 0, 0, tag_idx)))
    # Untagged resources bill with an empty map.
    tag_arr = pa.concat_arrays([tag_arr, empty_maps(1)]).take(
        pa.array(np.where(tag_idx < 0, len(src), np.arange(len(src))))
    )
    ingest = usage_day + (rng.random(len(src)) < 0.3) + late
    table = build(
        "fact_usage",
        {
            "record_id": ids.uuids(rng, len(src), cal.window),
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, ws[src]),
            "sku_name": take([s[0] for s in C.SKUS], sku[src]),
            "cloud": C.CLOUD,
            "usage_start_time": start[src],
            "usage_end_time": end[src],
            "usage_date": usage_day,
            "usage_quantity": q,
            "usage_unit": take(["DBU", "DSU"], unit[src]),
            "usage_type": take(["COMPUTE_TIME", "STORAGE_SPACE"], unit[src]),
            "record_type": take(["ORIGINAL", "RETRACTION", "RESTATEMENT"], rtype),
            "ingestion_date": ingest,
            "billing_origin_product": take([s[2] for s in C.SKUS], sku[src]),
            "product_features_is_serverless": pa.array(serverless[src] == 1, mask=serverless[src] < 0),
            "product_features_is_photon": pa.array(photon[src], mask=unit[src] == 1),
            "list_price": list_price,
            "effective_price": eff_price,
            "list_cost": q * list_price,
            "effective_cost": q * eff_price,
            "cluster_id": cluster.take(pa.array(src)),
            "job_id": take(acct.jobs.id, job[src]),
            "job_run_id": runs.run_id.take(pa.array(np.where(run[src] < 0, 0, run[src]), mask=run[src] < 0)),
            "warehouse_id": take(acct.warehouses.id, whi[src]),
            "dlt_pipeline_id": take(acct.pipelines.id, pipe[src]),
            "endpoint_name": take(acct.endpoints.name, endp[src]),
            "node_type": take([t[0] for t in C.NODE_TYPES], np.where(whi[src] >= 0, -1, node[src])),
            "run_as": take(acct.users.email, run_as[src]),
            "owned_by": take(acct.users.email, owned[src]),
            "custom_tags": tag_arr,
            "is_tagged": tag_idx >= 0,
        },
    )
    order = np.lexsort((rtype, start[src], ws[src]))
    table = table.take(pa.array(order))
    cost = q * list_price
    n_ws = len(acct.workspaces.name)
    day = np.clip(usage_day - cal.start_us // DAY, 0, cal.days - 1)
    total = np.zeros((n_ws, cal.days))
    np.add.at(total, (ws[src], day), cost)
    bf = (job[src] >= 0) & acct.jobs.is_backfill[np.maximum(job[src], 0)]
    organic = np.zeros((n_ws, cal.days))
    np.add.at(organic, (ws[src][~bf], day[~bf]), cost[~bf])
    return Billing(fact_usage=table, organic_cost=organic, total_cost=total)


def price_tables(cal: Calendar, acct: E.Account) -> dict[str, pa.Table]:
    names = [s[0] for s in C.SKUS]
    change = price_change_us(cal)
    long_ago = int(np.datetime64("2023-01-01", "us").astype(np.int64))
    n = len(names)
    sku = np.concatenate([np.arange(n), [C.PRICE_CHANGE_SKU]])
    start = np.concatenate([np.full(n, long_ago), [change]])
    start[C.PRICE_CHANGE_SKU] = long_ago
    end = np.full(n + 1, NAT)
    end[C.PRICE_CHANGE_SKU] = change
    price = np.array([s[5] for s in C.SKUS] + [C.SKUS[C.PRICE_CHANGE_SKU][5]])
    price[C.PRICE_CHANGE_SKU] = C.PRICE_BEFORE_CHANGE
    units = [s[1] for s in C.SKUS]
    prices = build(
        "fact_list_prices",
        {
            "account_id": acct.account_id,
            "sku_name": take(names, sku),
            "cloud": C.CLOUD,
            "currency_code": C.CURRENCY,
            "usage_unit": take(units, sku),
            "price_start_time": start,
            "price_end_time": end,
            "pricing_default": price,
            "pricing_promotional_default": np.full(n + 1, np.nan),
            "pricing_effective_list_default": price,
        },
    )
    dim = build(
        "dim_sku",
        {
            "sku_name": pa.array(names),
            "cloud": C.CLOUD,
            "usage_unit": pa.array(units),
            "billing_origin_product": pa.array([s[2] for s in C.SKUS]),
            "product_family": pa.array([s[3] for s in C.SKUS]),
            "is_serverless": np.array([s[4] for s in C.SKUS]),
            "current_list_price": np.array([s[5] for s in C.SKUS]),
        },
    )
    return {"fact_list_prices": prices, "dim_sku": dim}


def commitments(
    rng: np.random.Generator, cal: Calendar, acct: E.Account, billing: Billing, discount_pct: float
) -> pa.Table:
    """The account commit (annualised spend, rounded up) and monthly budgets per workspace.

    Budgets are 120% of the month's organic spend, projected to the full month, as a planner who
    knew the organic trend would set them; backfill jobs (budget_overrun) are not in the plan.
    """
    months = np.unique(cal.month_index)
    n_ws = len(acct.workspaces.name)
    ws_rows, m_rows, amounts = [], [], []
    for m in months:
        days = np.flatnonzero(cal.month_index == m)
        first = np.datetime64(int(m), "M").astype("datetime64[D]")
        n_month = int(((np.datetime64(int(m) + 1, "M").astype("datetime64[D]")) - first).astype(np.int64))
        projected = billing.organic_cost[:, days].sum(axis=1) * n_month / len(days)
        for w in range(n_ws):
            ws_rows.append(w)
            m_rows.append(int(m))
            amounts.append(float(np.ceil(projected[w] * 1.2 / 100) * 100))
    n_b = len(ws_rows)
    month = np.array(m_rows)
    first_day = np.array([np.datetime64(int(x), "M").astype("datetime64[D]").astype(np.int64) for x in month])
    last_day = np.array(
        [(np.datetime64(int(x) + 1, "M").astype("datetime64[D]") - 1).astype(np.int64) for x in month]
    )
    annual = float(
        np.ceil(billing.total_cost.sum() / cal.days * 365 * (1 - discount_pct / 100) / 10_000) * 10_000
    )
    start = np.datetime64(cal.start, "M").astype("datetime64[D]").astype(np.int64)
    end = (np.datetime64(cal.start, "M").astype("datetime64[D]") + np.timedelta64(364, "D")).astype(np.int64)
    commit_ids = ids.uuids(rng, n_b + 1)
    return build(
        "commit_configurations",
        {
            "commit_id": commit_ids,
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, np.concatenate([[-1], ws_rows])),
            "commit_type": take(
                ["ACCOUNT_COMMIT", "WORKSPACE_MONTHLY_BUDGET"], np.concatenate([[0], np.ones(n_b, int)])
            ),
            "period_start": np.concatenate([[start], first_day]),
            "period_end": np.concatenate([[end], last_day]),
            "commit_amount_usd": np.concatenate([[annual], amounts]),
            "discount_pct": np.full(n_b + 1, discount_pct),
            "currency_code": C.CURRENCY,
        },
    )
