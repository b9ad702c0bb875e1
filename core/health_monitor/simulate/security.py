"""Audit events and table lineage.

People work in their office's hours from their usual IPs and browsers; service principals run
around the clock from the workspace's egress IP with SDK user agents; System-User emits
background metadata calls. Jobs leave lineage for the tables they read and write, people for the
tables they query. A compromised account logs in off-hours from a new IP with a scripting client,
reads and exports data in bulk and grants itself privileges.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import entities as E
from health_monitor.simulate import ids
from health_monitor.simulate.arrowkit import build, maps, take
from health_monitor.simulate.incidents import Plan
from health_monitor.simulate.reliability import SKIPPED, Runs
from health_monitor.simulate.timegrid import DAY, HOUR, MINUTE, SECOND, Calendar

# service, action, weight for people, weight for service principals, parameter kind
ACTIONS: tuple[tuple[str, str, float, float, str], ...] = (
    ("unityCatalog", "getTable", 30, 30, "table"),
    ("unityCatalog", "listTables", 8, 5, "catalog"),
    ("unityCatalog", "generateTemporaryTableCredential", 10, 20, "table"),
    ("unityCatalog", "getCatalog", 4, 2, "catalog"),
    ("notebook", "runCommand", 8, 0, "path"),
    ("notebook", "attachNotebook", 4, 0, "path"),
    ("clusters", "start", 2, 1, "cluster"),
    ("clusters", "edit", 1, 0, "cluster"),
    ("jobs", "runNow", 3, 10, "job"),
    ("jobs", "update", 1, 2, "job"),
    ("databrickssql", "commandSubmit", 12, 8, "warehouse"),
    ("secrets", "getSecret", 2, 8, "scope"),
    ("workspace", "fileCreate", 2, 0, "path"),
    ("dbfs", "read", 2, 4, "path"),
    # Not drawn for normal activity (weight 0): logins, background and incident actions.
    ("accounts", "login", 0, 0, "user"),
    ("accounts", "tokenLogin", 0, 0, "user"),
    ("unityCatalog", "metadataSnapshot", 0, 0, "catalog"),
    ("workspace", "workspaceExport", 0, 0, "path"),
    ("notebook", "downloadLargeResults", 0, 0, "path"),
    ("unityCatalog", "updatePermissions", 0, 0, "grant"),
    ("accounts", "addPrincipalToGroup", 0, 0, "group"),
    ("accountsAccessControl", "getRuleSet", 0, 0, "user"),
)
A = {(s, a): i for i, (s, a, *_rest) in enumerate(ACTIONS)}
PARAM_KEYS = {
    "table": "full_name_arg",
    "catalog": "name",
    "path": "path",
    "cluster": "cluster_id",
    "job": "job_id",
    "warehouse": "warehouse_id",
    "scope": "scope",
    "user": "user",
    "grant": "changes",
    "group": "targetGroupName",
}
KEY_VOCAB = list(PARAM_KEYS.values())
SCOPES = ("prod-kv", "etl-creds", "ml-secrets", "api-keys", "dbt")
ERRORS = {
    401: "Invalid credentials",
    403: "PERMISSION_DENIED: User does not have USE CATALOG on catalog",
    404: "RESOURCE_DOES_NOT_EXIST",
    400: "INVALID_PARAMETER_VALUE",
}


class _Values:
    """One string vocabulary for request parameter values, addressed by kind and position."""

    def __init__(self, acct: E.Account, extra: list[str]):
        emails = acct.users.email.to_pylist()
        n_u = len(emails)
        cats = sorted(set(acct.tables.catalog))
        parts = {
            "table": acct.tables.full_name.to_pylist(),
            "catalog": cats,
            "path": [
                f"/Users/{emails[u]}/{name}"
                for u in range(n_u)
                for name in ("analysis", "etl_dev", "scratch")
            ],
            "cluster": acct.clusters.id.to_pylist(),
            "job": acct.jobs.id.to_pylist(),
            "warehouse": acct.warehouses.id.to_pylist(),
            "scope": list(SCOPES),
            "user": emails,
            "extra": extra,
        }
        self.offset: dict[str, int] = {}
        values: list[Any] = []
        for k, v in parts.items():
            self.offset[k] = len(values)
            values += v
        self.size = {k: len(v) for k, v in parts.items()}
        self.array = pa.array(values, pa.string())


def _pick_param(
    rng: np.random.Generator,
    acct: E.Account,
    vals: _Values,
    kind: np.ndarray,
    user: np.ndarray,
    ws: np.ndarray,
) -> np.ndarray:
    """Value index per event: each user sticks to a handful of tables and notebooks."""
    n = len(kind)
    out = np.zeros(n, dtype=np.int64)
    r = rng.integers(0, 10, n)
    u = np.maximum(user, 0)
    n_tab = vals.size["table"]
    for k, name in enumerate(("table", "catalog", "path", "cluster", "job", "warehouse", "scope", "user")):
        sel = kind == k
        if not sel.any():
            continue
        if name == "table":
            v = (u[sel] * 13 + r[sel]) % n_tab
        elif name == "path":
            v = u[sel] * 3 + r[sel] % 3
        elif name == "user":
            v = u[sel]
        elif name in ("cluster", "job", "warehouse"):
            pool_ws = {"cluster": acct.clusters.ws, "job": acct.jobs.ws, "warehouse": acct.warehouses.ws}[
                name
            ]
            v = np.zeros(int(sel.sum()), dtype=np.int64)
            wsel = ws[sel]
            for w in np.unique(wsel):
                members = np.flatnonzero(pool_ws == w)
                if len(members) == 0:
                    members = np.arange(len(pool_ws))
                m = wsel == w
                v[m] = members[(u[sel][m] * 7 + r[sel][m]) % len(members)]
        else:
            v = (u[sel] + r[sel]) % vals.size[name]
        out[sel] = vals.offset[name] + v
    return out


KINDS = ("table", "catalog", "path", "cluster", "job", "warehouse", "scope", "user", "grant", "group")


def audit_and_lineage(
    rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan, runs: Runs
) -> dict[str, pa.Table]:
    users, days = acct.users, cal.days
    n_u = len(users.ws)
    human = users.role != E.SERVICE
    p_day = np.where(cal.is_weekend | cal.is_holiday, 0.3, 0.95)
    active = np.where(
        human[:, None], rng.random((n_u, days)) < p_day[None, :], rng.random((n_u, days)) < 0.98
    )
    uu, dd = np.nonzero(active)
    n_ud = len(uu)
    weekday_f = np.where(cal.is_weekend | cal.is_holiday, 0.5, 1.0) * cal.activity / cal.activity.max()
    n_ev = 1 + rng.poisson(users.rate[uu] * np.where(human[uu], weekday_f[dd], 1.0))
    ev_ud = np.repeat(np.arange(n_ud), n_ev)
    first = np.concatenate([[True], ev_ud[1:] != ev_ud[:-1]])
    eu, ed = uu[ev_ud], dd[ev_ud]
    n = len(ev_ud)
    local = np.where(human[eu], rng.normal(13, 2.5, n).clip(6.5, 22), rng.uniform(0, 24, n))
    t = cal.day_start_us[ed] + ((local - users.tz[eu]) * HOUR).astype(np.int64)
    t = t - t % 1000  # audit times are millisecond precision
    # Order events in each user-day; the first becomes the login.
    order = np.lexsort((t, ev_ud))
    t = t[order]
    w_h = np.array([a[2] for a in ACTIONS])
    w_s = np.array([a[3] for a in ACTIONS])
    act = np.where(
        human[eu],
        rng.choice(len(ACTIONS), n, p=w_h / w_h.sum()),
        rng.choice(len(ACTIONS), n, p=w_s / w_s.sum()),
    )
    act = np.where(first, np.where(human[eu], A[("accounts", "login")], A[("accounts", "tokenLogin")]), act)
    # IP vocabulary: office IP per user, home/VPN IP per user, egress IP per workspace.
    n_ws = len(acct.workspaces.name)
    home_ip = users.home_ip.to_pylist()
    remote_ip = [f"73.{(u * 7) % 250 + 1}.{(u * 13) % 250 + 1}.{(u * 29) % 250 + 1}" for u in range(n_u)]
    nat_ip = [f"34.{200 + w % 50}.{(w * 17) % 250}.10" for w in range(n_ws)]
    ip = np.where(human[eu], np.where(rng.random(n) < 0.7, eu, n_u + eu), 2 * n_u + users.ws[eu])
    ua = np.where(human[eu], users.agent[eu], len(C.USER_AGENTS_HUMAN) + users.agent[eu])
    session = ev_ud
    status = np.where(rng.random(n) < 0.985, 200, rng.choice([403, 404, 400], n, p=[0.7, 0.2, 0.1]))
    parts = [
        dict(
            user=eu,
            ws=users.ws[eu],
            t=t,
            act=act,
            ip=ip,
            ua=ua,
            status=status,
            session=session,
            level=np.zeros(n, dtype=np.int64),
            xval=np.full(n, -1),
        )
    ]

    # Background System-User calls and a few account-level admin calls.
    bw, bh = np.meshgrid(np.arange(n_ws), np.arange(days * 24), indexing="ij")
    nb = rng.poisson(3, bw.size)
    bws, bhour = np.repeat(bw.ravel(), nb), np.repeat(bh.ravel(), nb)
    m = len(bws)
    parts.append(
        dict(
            user=np.full(m, -1),
            ws=bws,
            t=cal.start_us + bhour * HOUR + rng.integers(0, HOUR, m) // 1000 * 1000,
            act=np.where(
                rng.random(m) < 0.6, A[("unityCatalog", "metadataSnapshot")], A[("unityCatalog", "getTable")]
            ),
            ip=np.full(m, -1),
            ua=np.full(m, -1),
            status=np.full(m, 200),
            session=np.full(m, -1),
            level=np.zeros(m, dtype=np.int64),
            xval=np.full(m, -1),
        )
    )
    admins = np.flatnonzero(users.role == E.ADMIN)
    ad_u, ad_d = np.nonzero(rng.random((len(admins), days)) < 0.3)
    m = len(ad_u)
    au = admins[ad_u]
    parts.append(
        dict(
            user=au,
            ws=np.full(m, -2),
            t=cal.day_start_us[ad_d]
            + ((rng.uniform(9, 17, m) - users.tz[au]) * HOUR).astype(np.int64) // 1000 * 1000,
            act=np.full(m, A[("accountsAccessControl", "getRuleSet")]),
            ip=au,
            ua=users.agent[au],
            status=np.full(m, 200),
            session=np.full(m, -1),
            level=np.ones(m, dtype=np.int64),
            xval=np.full(m, -1),
        )
    )

    # Compromised accounts.
    extra_vals: list[str] = ["admins"]
    attacker_ips: list[str] = []
    lineage_extra = []
    for inc in plan.of("compromised_user"):
        u = inc.entity
        for d in range(inc.start_day, inc.end_day + 1):
            ip_code = 2 * n_u + n_ws + len(attacker_ips)
            attacker_ips.append(f"185.220.{101 + len(attacker_ips) % 50}.{(u * 31 + d) % 250 + 1}")
            # Between 1:30 and 4:00 local time, kept inside the incident's UTC day with its 2 h of activity.
            utc_h = min((rng.uniform(1.5, 4.0) - users.tz[u]) % 24, 21.5 - rng.uniform(0, 1))
            login = cal.day_start_us[d] + int(utc_h * HOUR) // 1000 * 1000
            reads = int(rng.integers(300, 700))
            exports = int(rng.integers(20, 50))
            acts = (
                [A[("accounts", "login")]] * 3
                + [A[("unityCatalog", "getTable")]] * (reads // 2)
                + [A[("unityCatalog", "generateTemporaryTableCredential")]] * (reads - reads // 2)
                + [A[("workspace", "workspaceExport")]] * exports
                + [A[("notebook", "downloadLargeResults")]] * (exports // 2)
                + [A[("dbfs", "read")]] * exports
                + [A[("unityCatalog", "updatePermissions")]] * 2
                + [A[("accounts", "addPrincipalToGroup")]]
            )
            k = len(acts)
            times = login + np.sort(rng.integers(0, 2 * HOUR, k)) // 1000 * 1000
            times[:3] = login + np.arange(3) * 20 * SECOND
            st = np.full(k, 200)
            st[:2] = 401  # failed password attempts before the successful login
            st[3 : 3 + reads // 6] = 403  # denied before the self-grant
            act_arr = np.array(acts)
            # Request parameters: the self-grant names the user; the group is admins (extra_vals[0]).
            xval = np.select(
                [
                    act_arr == A[("unityCatalog", "updatePermissions")],
                    act_arr == A[("accounts", "addPrincipalToGroup")],
                ],
                [len(extra_vals), 0],
                -1,
            )
            extra_vals.append(
                json.dumps([{"principal": users.email[u].as_py(), "add": ["ALL_PRIVILEGES", "MANAGE"]}])
            )
            parts.append(
                dict(
                    user=np.full(k, u),
                    ws=np.full(k, users.ws[u]),
                    t=times,
                    act=act_arr,
                    ip=np.full(k, ip_code),
                    ua=np.full(k, len(C.USER_AGENTS_HUMAN) + len(C.USER_AGENTS_SERVICE) + d % 2),
                    status=st,
                    session=np.full(k, -1),
                    level=np.zeros(k, dtype=np.int64),
                    xval=xval,
                )
            )
            n_tab = len(acct.tables.name)
            lineage_extra.append(
                (
                    u,
                    users.ws[u],
                    login + np.sort(rng.integers(0, 2 * HOUR, reads)),
                    rng.permutation(np.resize(np.arange(n_tab), reads)),
                )
            )

    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = len(cat["t"])
    vals = _Values(acct, extra_vals)
    kind_of = np.array([KINDS.index(a[4]) for a in ACTIONS])
    kind = kind_of[cat["act"]]
    val = _pick_param(rng, acct, vals, kind, cat["user"], cat["ws"])
    val = np.where(cat["xval"] >= 0, vals.offset["extra"] + cat["xval"], val)
    key = np.array([KEY_VOCAB.index(PARAM_KEYS[a[4]]) for a in ACTIONS])[cat["act"]]
    order = np.lexsort((cat["t"], cat["ws"]))
    ip_vocab = pa.array(home_ip + remote_ip + nat_ip + attacker_ips, pa.string())
    ua_vocab = list(C.USER_AGENTS_HUMAN) + list(C.USER_AGENTS_SERVICE) + list(C.USER_AGENTS_ATTACKER)
    emails = pa.concat_arrays([users.email, pa.array(["System-User"], pa.string())])
    o = order
    ws_vocab = pa.concat_arrays([acct.workspaces.id, pa.array(["0"], pa.string())])
    sessions = ids.random_hex(rng, n_ud, 32, cal.window)
    status = cat["status"][o]
    audit = build(
        "fact_audit_logs",
        {
            "event_id": ids.random_hex(rng, n, 32, cal.window),
            "account_id": acct.account_id,
            "workspace_id": take(ws_vocab, np.where(cat["ws"][o] == -2, n_ws, cat["ws"][o])),
            "version": "2.0",
            "event_time": cat["t"][o],
            "event_date": cat["t"][o] // DAY,
            "service_name": take([a[0] for a in ACTIONS], cat["act"][o]),
            "action_name": take([a[1] for a in ACTIONS], cat["act"][o]),
            "user_identity_email": take(emails, np.where(cat["user"][o] < 0, n_u, cat["user"][o])),
            "source_ip_address": take(ip_vocab, cat["ip"][o]),
            "user_agent": take(ua_vocab, cat["ua"][o]),
            "session_id": take(sessions, cat["session"][o]),
            "request_id": None,
            "request_params": maps(
                np.arange(n + 1), take(KEY_VOCAB, key[o]), vals.array.take(pa.array(val[o]))
            ),
            "response_status_code": status.astype(np.int32),
            "response_error_message": take(
                [ERRORS[400], ERRORS[401], ERRORS[403], ERRORS[404]],
                np.select([status == 400, status == 401, status == 403, status == 404], [0, 1, 2, 3], -1),
            ),
            "audit_level": take(["WORKSPACE_LEVEL", "ACCOUNT_LEVEL"], cat["level"][o]),
        },
    )
    lineage = _lineage(rng, cal, acct, runs, uu, dd, lineage_extra)
    return {"fact_audit_logs": audit, "fact_table_lineage": lineage}


def _lineage(
    rng: np.random.Generator,
    cal: Calendar,
    acct: E.Account,
    runs: Runs,
    uu: np.ndarray,
    dd: np.ndarray,
    extra: list,
) -> pa.Table:
    jobs, t, users = acct.jobs, acct.tables, acct.users
    n_tab = len(t.name)
    # Jobs: a run that executed reads its tables and writes the tables it owns.
    executed = np.flatnonzero(runs.state != SKIPPED)
    rj = runs.job[executed]
    n_reads = np.diff(jobs.reads_ptr)[rj]
    rd_run = np.repeat(executed, n_reads)
    rd_off = np.arange(len(rd_run)) - np.repeat(np.cumsum(n_reads) - n_reads, n_reads)
    rd_src = jobs.reads_idx[jobs.reads_ptr[runs.job[rd_run]] + rd_off]
    writes_of = [np.flatnonzero(t.writer == j) for j in range(len(jobs.name))]
    n_w = np.array([len(x) for x in writes_of])[rj]
    ok = runs.state[executed] == 0
    wr_run = np.repeat(executed[ok], n_w[ok])
    wr_off = np.arange(len(wr_run)) - np.repeat(np.cumsum(n_w[ok]) - n_w[ok], n_w[ok])
    w_ptr = np.concatenate([[0], np.cumsum([len(x) for x in writes_of])])
    w_flat = np.concatenate(writes_of + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    wr_tgt = w_flat[w_ptr[runs.job[wr_run]] + wr_off]
    wr_src = t.source[wr_tgt]
    # People: notebook and SQL reads during their active days.
    human = users.role[uu] != E.SERVICE
    k = rng.poisson(users.rate[uu] * 0.25) * human
    pu, pd = np.repeat(uu, k), np.repeat(dd, k)
    m = len(pu)
    p_time = cal.day_start_us[pd] + ((rng.normal(13, 2.5, m).clip(6.5, 22) - users.tz[pu]) * HOUR).astype(
        np.int64
    )
    p_src = (pu * 13 + rng.integers(0, 10, m)) % n_tab
    x_u = np.concatenate([np.full(len(e[2]), e[0]) for e in extra]) if extra else np.zeros(0, dtype=np.int64)
    x_t = np.concatenate([e[2] for e in extra]) if extra else np.zeros(0, dtype=np.int64)
    x_src = np.concatenate([e[3] for e in extra]) if extra else np.zeros(0, dtype=np.int64)

    n_r, n_wr, n_x = len(rd_run), len(wr_run), len(x_u)
    run_row = np.concatenate([rd_run, wr_run, np.full(m + n_x, -1)])
    src = np.concatenate([rd_src, wr_src, p_src, x_src])
    tgt = np.concatenate([np.full(n_r, -1), wr_tgt, np.full(m + n_x, -1)])
    user = np.concatenate([jobs.run_as[runs.job[rd_run]], jobs.run_as[runs.job[wr_run]], pu, x_u])
    ws = np.concatenate([runs.ws[rd_run], runs.ws[wr_run], users.ws[pu], users.ws[x_u]])
    time = np.concatenate([runs.start[rd_run] + MINUTE, runs.end[wr_run] - SECOND, p_time, x_t])
    entity = np.concatenate(
        [
            np.zeros(n_r + n_wr, dtype=np.int64),
            np.where(rng.random(m) < 0.6, 1, 2),
            np.ones(n_x, dtype=np.int64),
        ]
    )
    order = np.lexsort((time, ws))
    run_row, src, tgt, user, ws, time, entity = (
        a[order] for a in (run_row, src, tgt, user, ws, time, entity)
    )
    n = len(order)
    is_job = run_row >= 0
    # Notebook ids: one per user and slot; SQL query ids: one per user.
    nb_vocab = pa.array(
        [str(10**12 + u * 3 + s) for u in range(len(users.ws)) for s in range(3)], pa.string()
    )
    entity_id = pa.concat_arrays(
        [
            jobs.id,
            nb_vocab,
            ids.uuids(rng, len(users.ws)),
        ]
    )
    nj = len(jobs.name)
    ent_idx = np.select(
        [is_job, entity == 1],
        [runs.job[np.maximum(run_row, 0)], nj + user * 3 + (time // HOUR) % 3],
        nj + len(nb_vocab) + user,
    )
    ttype = np.array(["TABLE", "TABLE", "STREAMING_TABLE", "MATERIALIZED_VIEW"])
    cats, schs, names = t.catalog, t.schema, t.name
    event_ids = ids.uuids(rng, n, cal.window)
    return build(
        "fact_table_lineage",
        {
            "record_id": ids.uuids(rng, n, cal.window),
            "event_id": event_ids,
            "account_id": acct.account_id,
            "metastore_id": acct.metastore_id,
            "workspace_id": take(acct.workspaces.id, ws),
            "event_time": time,
            "event_date": time // DAY,
            "created_by": take(users.email, user),
            "entity_type": take(["JOB", "NOTEBOOK", "DBSQL_QUERY"], entity),
            "entity_id": entity_id.take(pa.array(ent_idx)),
            "entity_run_id": take(runs.run_id, run_row),
            "source_table_full_name": take(t.full_name, src),
            "source_table_catalog": take(cats, src),
            "source_table_schema": take(schs, src),
            "source_table_name": take(names, src),
            "source_type": take(list(ttype), np.where(src >= 0, t.table_type[np.maximum(src, 0)], -1)),
            "target_table_full_name": take(t.full_name, tgt),
            "target_table_catalog": take(cats, tgt),
            "target_table_schema": take(schs, tgt),
            "target_table_name": take(names, tgt),
            "target_type": take(list(ttype), np.where(tgt >= 0, t.table_type[np.maximum(tgt, 0)], -1)),
            "statement_id": None,
        },
    )
