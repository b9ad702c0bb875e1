"""Catalog metadata snapshots and data-quality monitoring results.

A table is committed when its writer job succeeds, so freshness follows the job: a failed,
late or queued writer leaves the table stale at the daily scan. Daily row counts follow the
data volume (trend, month-end, weekends for business tables). Schema history comes from daily
snapshots: breaking changes drop a column or change its type; benign ones add a column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from health_monitor.simulate import catalog as C
from health_monitor.simulate import entities as E
from health_monitor.simulate.arrowkit import build, take
from health_monitor.simulate.incidents import Plan
from health_monitor.simulate.reliability import SUCCEEDED, Runs
from health_monitor.simulate.timegrid import DAY, HOUR, MINUTE, NAT, Calendar


def _schema_versions(rng: np.random.Generator, cal: Calendar, t: E.Tables, plan: Plan):
    """Per table: list of (from_day, change_time_us, column names, type codes, nullable) versions."""
    versions = []
    breaking = {i.entity: i for i in plan.of("breaking_schema_change")}
    adds = rng.random(len(t.name)) < 0.1
    add_day = rng.integers(1, cal.days, len(t.name))
    for k in range(len(t.name)):
        lo, hi = t.col_ptr[k], t.col_ptr[k + 1]
        names = list(t.col_name[lo:hi])
        types = list(t.col_type[lo:hi])
        nulls = list(t.col_nullable[lo:hi])
        v = [(0, int(t.created_us[k]), names, types, nulls)]
        changes = []
        if adds[k] and k not in breaking:
            changes.append((int(add_day[k]), "add"))
        if k in breaking:
            changes.append((breaking[k].start_day, "drop" if breaking[k].param < 0.5 else "retype"))
        for day, kind in sorted(changes):
            names, types, nulls = list(names), list(types), list(nulls)
            col = 1 + (k % (len(names) - 1))
            if kind == "add":
                names.append(f"ingest_source_{k}")
                types.append(0)
                nulls.append(True)
            elif kind == "drop":
                del names[col], types[col], nulls[col]
            else:
                types[col] = 0 if types[col] != 0 else 1  # e.g. amount DOUBLE -> STRING
            when = int(cal.day_start_us[day] + rng.integers(8 * HOUR, 11 * HOUR))
            v.append((day, when, names, types, nulls))
        versions.append(v)
    return versions


def snapshots(rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan) -> dict[str, pa.Table]:
    t = acct.tables
    versions = _schema_versions(rng, cal, t, plan)
    days = np.arange(cal.days)
    snap_date = cal.day_start_us // DAY
    tbl_rows: dict[str, list[Any]] = {"day": [], "table": [], "altered": [], "altered_by": []}
    col_rows: dict[str, list[Any]] = {"day": [], "table": [], "name": [], "pos": [], "type": [], "null": []}
    for k, vs in enumerate(versions):
        # Snapshots are taken at the end of each day: a change shows from its own day on.
        starts = [v[0] for v in vs] + [cal.days]
        for i, (from_day, when, names, types, nulls) in enumerate(vs):
            d = days[(days >= from_day) & (days < starts[i + 1])]
            if len(d) == 0:
                continue
            tbl_rows["day"].append(d)
            tbl_rows["table"].append(np.full(len(d), k))
            tbl_rows["altered"].append(np.full(len(d), when))
            tbl_rows["altered_by"].append(np.full(len(d), t.owner[k]))
            nc = len(names)
            col_rows["day"].append(np.repeat(d, nc))
            col_rows["table"].append(np.full(len(d) * nc, k))
            col_rows["name"].append(np.tile(np.array(names, dtype=object), len(d)))
            col_rows["pos"].append(np.tile(np.arange(1, nc + 1), len(d)))
            col_rows["type"].append(np.tile(np.array(types), len(d)))
            col_rows["null"].append(np.tile(np.array(nulls), len(d)))
    td = np.concatenate(tbl_rows["day"])
    tt = np.concatenate(tbl_rows["table"])
    tables = build(
        "information_schema_tables_snapshot",
        {
            "snapshot_date": snap_date[td],
            "table_catalog": take(t.catalog, tt),
            "table_schema": take(t.schema, tt),
            "table_name": take(t.name, tt),
            "table_type": take(list(E.TABLE_TYPES), t.table_type[tt]),
            "table_owner": take(acct.users.email, t.owner[tt]),
            "created": t.created_us[tt],
            "created_by": take(acct.users.email, t.owner[tt]),
            "last_altered": np.concatenate(tbl_rows["altered"]),
            "last_altered_by": take(acct.users.email, np.concatenate(tbl_rows["altered_by"])),
            "data_source_format": take(["DELTA", "PARQUET"], (t.table_type[tt] == 1) & (tt % 3 == 0)),
            "comment": None,
        },
    )
    cd = np.concatenate(col_rows["day"])
    ct = np.concatenate(col_rows["table"])
    ctype = np.concatenate(col_rows["type"])
    columns = build(
        "information_schema_columns_snapshot",
        {
            "snapshot_date": snap_date[cd],
            "table_catalog": take(t.catalog, ct),
            "table_schema": take(t.schema, ct),
            "table_name": take(t.name, ct),
            "column_name": pa.array(np.concatenate(col_rows["name"]), pa.string()),
            "ordinal_position": np.concatenate(col_rows["pos"]).astype(np.int32),
            "data_type": take([c[1] for c in C.COLUMN_TYPES], ctype),
            "full_data_type": take([c[2] for c in C.COLUMN_TYPES], ctype),
            "is_nullable": take(["NO", "YES"], np.concatenate(col_rows["null"]).astype(np.int64)),
        },
    )
    return {"information_schema_tables_snapshot": tables, "information_schema_columns_snapshot": columns}


def monitoring(rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan, runs: Runs) -> pa.Table:
    t, jobs = acct.tables, acct.jobs
    n_t, days = len(t.name), cal.days
    writer = t.writer
    # The daily scan runs 3 h after the writer usually finishes.
    usual_end_h = jobs.hour[writer] + jobs.minute[writer] / 60 + jobs.median_s[writer] / 3600
    scan_h = np.ceil(usual_end_h + 3) % 24
    tt, dd = (g.ravel() for g in np.meshgrid(np.arange(n_t), np.arange(days), indexing="ij"))
    scan = cal.day_start_us[dd] + (scan_h[tt] * HOUR).astype(np.int64) + 15 * MINUTE
    # Commits: successful writer runs, searched per (job, time).
    ok = runs.state == SUCCEEDED
    rel = runs.end[ok] - cal.start_us + 2 * DAY
    key = runs.job[ok].astype(np.int64) * (1 << 44) + rel
    key.sort()
    base = writer[tt].astype(np.int64) * (1 << 44)
    n_before = np.searchsorted(key, base + (scan - cal.start_us + 2 * DAY), side="right")
    n_day_before = np.searchsorted(key, base + (scan - DAY - cal.start_us + 2 * DAY), side="right")
    seg_start = np.searchsorted(key, base, side="left")
    has_last = n_before > seg_start
    last = np.where(has_last, key[np.maximum(n_before - 1, 0)] - base - 2 * DAY + cal.start_us, NAT)
    hours_since = np.where(has_last, (scan - last) / HOUR, np.nan)
    commits = n_before - n_day_before
    fresh_bad = ~has_last | (hours_since > 25)

    degraded = plan.day_mask("quality_degradation", n_t, days)[tt, dd]
    weekday = np.where(t.weekday_only[tt] & cal.is_weekend[dd], 0.3, 1.0)
    expected = t.daily_rows[tt] * cal.volume[dd] * weekday
    rows = (
        expected * rng.lognormal(0, 0.08, len(tt)) * np.where(degraded, rng.uniform(0.2, 0.45, len(tt)), 1.0)
    )
    rows = np.round(rows * np.minimum(commits, 1)).astype(np.int64)
    lo_p = np.round(expected * 0.7).astype(np.int64)
    hi_p = np.round(expected * 1.35).astype(np.int64)
    comp_bad = (rows < lo_p) | (rows > hi_p)
    total = (t.daily_rows[tt] * 200 + np.cumsum(rows.reshape(n_t, days), axis=1).ravel()).astype(np.int64)
    warmup = dd < 2  # the monitor needs history before it predicts
    fresh = np.where(warmup, "Unknown", np.where(fresh_bad, "Unhealthy", "Healthy"))
    compl = np.where(warmup, "Unknown", np.where(comp_bad, "Unhealthy", "Healthy"))
    status = np.where(warmup, "Unknown", np.where(fresh_bad | comp_bad, "Unhealthy", "Healthy"))
    downstream = np.bincount(t.source[t.source >= 0], minlength=n_t)
    order = np.lexsort((scan, tt))
    tt, scan = tt[order], scan[order]
    return build(
        "fact_data_quality_monitoring_table_results",
        {
            "event_time": scan,
            "catalog_name": take(t.catalog, tt),
            "schema_name": take(t.schema, tt),
            "table_name": take(t.name, tt),
            "table_full_name": t.full_name.take(pa.array(tt)),
            "status": pa.array(status[order]),
            "freshness_status": pa.array(fresh[order]),
            "commit_freshness_last_value": last[order],
            "commit_freshness_predicted_value": np.where(has_last, last + DAY, NAT)[order],
            "hours_since_last_commit": np.round(hours_since[order], 3),
            "completeness_status": pa.array(compl[order]),
            "daily_row_count": rows[order],
            "daily_row_count_min_predicted": lo_p[order],
            "daily_row_count_max_predicted": hi_p[order],
            "total_row_count": total[order],
            "upstream_job_id": take(jobs.id, writer[tt]),
            "num_downstream_tables": downstream[tt],
        },
    )
