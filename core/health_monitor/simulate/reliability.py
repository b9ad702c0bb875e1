"""Job runs: schedules, durations, outcomes and retries, and their Gold tables.

Causes of failure are explicit: a per-job base rate (a few jobs are flaky), memory pressure on
the run's cluster, the first days after a runtime upgrade for sensitive jobs, an upstream job
that finished late or failed, a breaking schema change in a table the job reads, and a bad
deploy (job_failure_burst). Jobs are processed by dependency level so upstream delays are known
before downstream runs are decided.

Memory pressure builds up: a memory-hungry job's input grows, so its runs' peak memory climbs
day after day (the node timeline shows it) until its runs start failing out of memory and its
owner edits the job to give it more memory (a new ``dim_job`` version); then it climbs again
(:class:`MemoryGrowth`).
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
from health_monitor.simulate.timegrid import DAY, HOUR, MINUTE, NAT, SECOND, Calendar, hour_slices

STATES = ("SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED", "TIMED_OUT", "ERROR")
SUCCEEDED, FAILED, CANCELLED, SKIPPED, TIMED_OUT, ERROR = range(6)
TERMINATION = (
    "SUCCESS",
    "RUN_EXECUTION_ERROR",
    "CANCELLED",
    "SKIPPED",
    "DRIVER_ERROR",
    "CLUSTER_ERROR",
    "CLOUD_FAILURE",
    "LIBRARY_INSTALLATION_ERROR",
    "STORAGE_ACCESS_ERROR",
    "UNAUTHORIZED_ERROR",
    "RESOURCE_NOT_FOUND",
    "MAX_CONCURRENT_RUNS_EXCEEDED",
)
TRIGGERS = ("CRON", "FILE_ARRIVAL", "ONETIME", "ONETIME_RETRY")
RUN_TYPES = ("JOB_RUN", "SUBMIT_RUN", "WORKFLOW_RUN")
# Compute of a run.
JOB_CLUSTER, SERVERLESS, ALL_PURPOSE_API = range(3)


@dataclass(frozen=True)
class Runs:
    """Every job run (attempts and retries), sorted by start time."""

    job: np.ndarray
    ws: np.ndarray
    day: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray
    term: np.ndarray
    trigger: np.ndarray
    compute: np.ndarray
    workers: np.ndarray
    node_type: np.ndarray
    photon: np.ndarray
    dbr: np.ndarray
    peak_mem: np.ndarray
    cpu: np.ndarray
    run_id: pa.StringArray
    cluster_id: pa.StringArray  # null for serverless runs

    @property
    def nodes(self) -> np.ndarray:
        return 1 + self.workers


@dataclass(frozen=True)
class MemoryGrowth:
    """Per job, the level its runs' peak memory (% of the cluster's) starts from on a day:
    ``low + rate * ((day + phase) % period)``, climbing ``rate`` points a day from ``low``; on
    the days where ``(day + phase) % period == 0`` after the first, its owner has just given it
    more memory (an edit). A steady job has ``rate`` 0 and ``low`` its base level."""

    low: np.ndarray
    rate: np.ndarray  # points a day
    period: np.ndarray  # days of one climb, >= 1
    phase: np.ndarray  # days, in [0, period)
    edit_hours: np.ndarray  # hours before midnight the owner's edit lands

    def level(self, job: np.ndarray, day: np.ndarray) -> np.ndarray:
        return self.low[job] + self.rate[job] * ((day + self.phase[job]) % self.period[job])

    def edits(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        """(job, day) of every edit that gave a job more memory, days 1 to ``days - 1``."""
        grows = np.flatnonzero(self.rate > 0)
        job = np.repeat(grows, days - 1)
        day = np.tile(np.arange(1, days), len(grows))
        reset = (day + self.phase[job]) % self.period[job] == 0
        return job[reset], day[reset]


def memory_growth(rng: np.random.Generator, jobs: E.Jobs) -> MemoryGrowth:
    """The memory-hungry jobs (a base level of 80% or more; see ``entities``) climb from 18 points
    below it to 8 above, 0.4-1.2 points a day (22 to 65 days a climb), each at its own point of
    its climb on the first day; every other job stays at its base level."""
    n = len(jobs.base_mem)
    grows = (jobs.base_mem >= 80) & ~jobs.serverless
    rate = np.where(grows, rng.uniform(0.4, 1.2, n), 0.0)
    period = np.where(grows, np.maximum(1, np.round(26 / np.maximum(rate, 1e-9))), 1).astype(np.int64)
    phase = (rng.random(n) * period).astype(np.int64)
    low = np.where(grows, jobs.base_mem - 18, jobs.base_mem)
    return MemoryGrowth(low, rate, period, phase, rng.integers(1, 10, n))


@dataclass(frozen=True)
class Sla:
    duration_s: np.ndarray
    end_hour: np.ndarray  # -1 = none


def job_sla(jobs: E.Jobs) -> Sla:
    p95 = jobs.median_s * np.exp(1.8 * jobs.sigma)
    duration = np.maximum(600, np.round(p95 * 1.6 / 60) * 60).astype(np.int64)
    daily = np.isin(jobs.sched, [E.DAILY, E.WEEKDAY])
    end_hour = (jobs.hour + np.ceil((p95 * 1.3 + 1800 + jobs.minute * 60) / 3600) + 1) % 24
    return Sla(duration_s=duration, end_hour=np.where(daily, end_hour, -1).astype(np.int64))


def _schedule(rng: np.random.Generator, cal: Calendar, jobs: E.Jobs) -> tuple[np.ndarray, ...]:
    """Planned runs: (job, day, start_us, trigger)."""
    n, days = len(jobs.name), cal.days
    d = np.arange(days)
    active = (d[None, :] >= jobs.active_from[:, None]) & (d[None, :] < jobs.active_to[:, None])
    per = np.zeros((n, days), dtype=np.int64)
    per += (jobs.sched[:, None] == E.DAILY) | (jobs.sched[:, None] == E.FILE_ARRIVAL)
    per += (jobs.sched[:, None] == E.WEEKDAY) & (cal.weekday[None, :] < 5)
    per += (jobs.sched[:, None] == E.EVERY4H) * 6
    per += (jobs.sched[:, None] == E.HOURLY) * 24
    per += (jobs.sched[:, None] == E.WEEKLY) & (cal.weekday[None, :] == jobs.weekly_day[:, None])
    adhoc = rng.poisson(0.5 * cal.activity[None, :] * np.ones((n, 1))) * (jobs.sched[:, None] == E.ADHOC)
    per = np.where(active, per + adhoc, 0)
    flat = per.ravel()
    cell = np.repeat(np.arange(n * days), flat)
    k = np.arange(len(cell)) - np.repeat(np.cumsum(flat) - flat, flat)
    job, day = cell // days, cell % days
    sched = jobs.sched[job]
    period = np.where(sched == E.HOURLY, HOUR, np.where(sched == E.EVERY4H, 4 * HOUR, 0))
    hour = np.where(np.isin(sched, [E.HOURLY, E.EVERY4H]), 0, jobs.hour[job])
    start = cal.day_start_us[day] + hour * HOUR + jobs.minute[job] * MINUTE + k * period
    start = start + rng.exponential(20.0, len(job)).astype(np.int64) * SECOND  # scheduler latency
    fa = sched == E.FILE_ARRIVAL
    start = np.where(fa, start + (rng.normal(0, 1.5, len(job)) * HOUR).astype(np.int64), start)
    ad = sched == E.ADHOC
    start = np.where(ad, cal.day_start_us[day] + rng.integers(7 * HOUR, 21 * HOUR, len(job)), start)
    # A SUBMIT_RUN job has no trigger of its own: its runs are one-time, even on a file-arrival schedule.
    trigger = np.where(jobs.run_type[job] == 1, 2, np.where(fa, 1, np.where(ad, 2, 0)))
    start = np.clip(start, cal.day_start_us[day], cal.day_start_us[day] + DAY - MINUTE)
    return job, day, start, trigger


def _outcomes(
    rng: np.random.Generator,
    jobs: E.Jobs,
    job: np.ndarray,
    day: np.ndarray,
    planned: np.ndarray,
    p_fail: np.ndarray,
    mem: np.ndarray,
    hard: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(state, termination code, duration_us) of each run."""
    n = len(job)
    failed = rng.random(n) < p_fail
    v = rng.random(n)
    state = np.where(
        failed,
        FAILED,
        np.where(v < 0.004, SKIPPED, np.where(v < 0.007, ERROR, np.where(v < 0.015, CANCELLED, SUCCEEDED))),
    )
    generic = rng.choice([1, 7, 8, 9, 10], n, p=[0.8, 0.05, 0.05, 0.05, 0.05])
    term = np.select(
        [
            state == SUCCEEDED,
            (state == FAILED) & (mem > 90) & ~hard,
            state == FAILED,
            state == CANCELLED,
            state == SKIPPED,
            state == ERROR,
        ],
        [0, 4, generic, 2, np.where(rng.random(n) < 0.5, 3, 11), rng.choice([4, 5, 6], n)],
    )
    frac = np.select(
        [state == FAILED, state == CANCELLED, state == ERROR],
        [rng.uniform(0.05, 0.9, n), rng.uniform(0.1, 0.9, n), rng.uniform(0.02, 0.3, n)],
        1.0,
    )
    duration = (planned * frac).astype(np.int64)
    duration = np.where(state == SKIPPED, rng.integers(1, 6, n) * SECOND, duration)
    timeout = jobs.timeout_s[job] * SECOND
    timed_out = (timeout > 0) & (duration > timeout) & (state != SKIPPED)
    state = np.where(timed_out, TIMED_OUT, state)
    term = np.where(timed_out, 2, term)
    duration = np.where(timed_out, timeout, np.maximum(duration, SECOND))
    return state, term, duration


def simulate_runs(
    rng: np.random.Generator,
    cal: Calendar,
    acct: E.Account,
    plan: Plan,
    n_ap_clusters: int,
    growth: MemoryGrowth,
) -> Runs:
    jobs, days = acct.jobs, cal.days
    n_jobs = len(jobs.name)
    sla = job_sla(jobs)
    job, day, start, trigger = _schedule(rng, cal, jobs)
    n = len(job)

    def mask(name: str) -> np.ndarray:
        return plan.day_mask(name, n_jobs, days)[job, day]

    runaway, wrong_sku = mask("cost_spike_runaway_job"), mask("cost_spike_wrong_sku")
    burst, regression, breach = mask("job_failure_burst"), mask("job_duration_regression"), mask("sla_breach")
    late_writer = np.zeros((n_jobs, days), dtype=bool)
    for inc in plan.of("late_data"):
        late_writer[acct.tables.writer[inc.entity], inc.start_day : inc.end_day + 1] = True
    broken = np.zeros((n_jobs, days), dtype=bool)
    for inc in plan.of("breaking_schema_change"):
        for j in range(n_jobs):
            if inc.entity in jobs.reads_idx[jobs.reads_ptr[j] : jobs.reads_ptr[j + 1]]:
                broken[j, inc.start_day : inc.end_day + 1] = True

    # Delays: queued runs (sla_breach) start past the deadline; late upstream files (late_data) delay the writer.
    deadline = cal.day_start_us[day] + sla.end_hour[job] * HOUR
    deadline = np.where(sla.end_hour[job] < jobs.hour[job], deadline + DAY, deadline)
    breach_start = deadline - (jobs.median_s[job] * SECOND * 0.5).astype(np.int64) + rng.integers(0, HOUR, n)
    start = np.where(breach, np.maximum(start, breach_start), start)
    start = np.where(late_writer[job, day], start + rng.integers(6 * HOUR, 10 * HOUR, n), start)

    vol = cal.volume[day]
    planned = jobs.median_s[job] * np.exp(rng.normal(0, jobs.sigma[job])) * vol**0.8
    planned = planned * np.where(regression, 2.5, 1.0) * np.where(runaway, rng.uniform(8, 12, n), 1.0)
    planned = (planned * SECOND).astype(np.int64)
    span = jobs.max_workers[job] - jobs.min_workers[job]
    workers = jobs.min_workers[job] + np.round(rng.beta(2, 3, n) * span * np.minimum(vol, 1.3)).astype(
        np.int64
    )
    workers = np.where(
        runaway,
        jobs.max_workers[job] + jobs.max_workers[job] // 2 + 2,
        np.minimum(workers, jobs.max_workers[job]),
    )
    compute = np.where(jobs.serverless[job], SERVERLESS, np.where(wrong_sku, ALL_PURPOSE_API, JOB_CLUSTER))
    upgraded = day >= jobs.upgrade_day[job]
    dbr = np.where(upgraded, jobs.dbr_after[job], jobs.dbr_before[job])
    recent_upgrade = (
        jobs.upgrade_sensitive[job] & (day - jobs.upgrade_day[job] >= 0) & (day - jobs.upgrade_day[job] < 6)
    )
    mem = growth.level(job, day) + rng.normal(0, 5, n) + 10 * (vol - 1) + np.where(runaway, 12, 0)
    mem = np.clip(mem, 5, 99.5)
    cpu = np.clip(jobs.base_cpu[job] * rng.uniform(0.85, 1.1, n) + np.where(runaway, 20, 0), 2, 98)
    classic = compute != SERVERLESS
    base_p = (
        jobs.base_fail[job]
        + np.where(classic & (mem > 90), 0.5, 0.0)
        + np.where(recent_upgrade, 0.3, 0.0)
        + np.where(broken[job, day], 0.85, 0.0)
        + np.where(burst, 0.97, 0.0)
    )
    hard = broken[job, day] | burst

    # Decide runs level by level so a downstream job sees its upstream's outcome that day.
    state = np.full(n, -1)
    term = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    ready = np.full((n_jobs, days), -1, dtype=np.int64)  # data ready time per job-day; max = never
    retry_parts: list[tuple[np.ndarray, ...]] = []
    job_level = np.maximum(jobs.level, 0)
    n_up = np.diff(jobs.upstream_ptr)
    for level in range(int(job_level.max()) + 1):
        sel = np.flatnonzero(job_level[job] == level)
        p = base_p[sel].copy()
        rj = job[sel]
        has_up = n_up[rj] > 0
        if has_up.any():
            pair_run = np.repeat(sel[has_up], n_up[rj[has_up]])
            offs = np.arange(len(pair_run)) - np.repeat(
                np.cumsum(n_up[rj[has_up]]) - n_up[rj[has_up]], n_up[rj[has_up]]
            )
            ups = jobs.upstream_idx[jobs.upstream_ptr[job[pair_run]] + offs]
            late_pair = ready[ups, day[pair_run]] > start[pair_run]
            upstream_late = np.zeros(n, dtype=bool)
            np.logical_or.at(upstream_late, pair_run, late_pair)
            p += np.where(upstream_late[sel], 0.35, 0.0)
        st, tm, dur = _outcomes(
            rng, jobs, rj, day[sel], planned[sel], np.clip(p, 0, 0.97), mem[sel], hard[sel]
        )
        state[sel], term[sel], end[sel] = st, tm, start[sel] + dur
        # One retry for failed attempts of jobs that allow retries; persistent causes stay.
        retry = sel[np.isin(st, [FAILED, ERROR, TIMED_OUT]) & (jobs.max_retries[rj] > 0)]
        r_start = end[retry] + rng.integers(60, 300, len(retry)) * SECOND
        r_p = np.clip(np.where(hard[retry], base_p[retry], base_p[retry] * 0.5), 0, 0.97)
        r_planned = (planned[retry] * rng.uniform(0.9, 1.1, len(retry))).astype(np.int64)
        r_st, r_tm, r_dur = _outcomes(
            rng, jobs, job[retry], day[retry], r_planned, r_p, mem[retry], hard[retry]
        )
        retry_parts.append((retry, r_start, r_st, r_tm, r_start + r_dur))
        ok_end = np.where(st == SUCCEEDED, end[sel], np.iinfo(np.int64).max)
        r_ok = np.where(r_st == SUCCEEDED, r_start + r_dur, np.iinfo(np.int64).max)
        # A job-day's data is ready at its first success (attempt or retry); never if all failed.
        np.maximum.at(ready, (rj, day[sel]), np.zeros(len(sel), dtype=np.int64))
        cand = np.full((n_jobs, days), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(cand, (rj, day[sel]), ok_end)
        np.minimum.at(cand, (job[retry], day[retry]), r_ok)
        touched = np.zeros((n_jobs, days), dtype=bool)
        touched[rj, day[sel]] = True
        ready = np.where(touched, cand, ready)

    retry_src = np.concatenate([r[0] for r in retry_parts])
    all_job = np.concatenate([job, job[retry_src]])
    all_start = np.concatenate([start, np.concatenate([r[1] for r in retry_parts])])
    all_end = np.concatenate([end, np.concatenate([r[4] for r in retry_parts])])
    all_state = np.concatenate([state, np.concatenate([r[2] for r in retry_parts])])
    all_term = np.concatenate([term, np.concatenate([r[3] for r in retry_parts])])
    all_trigger = np.concatenate([trigger, np.full(len(retry_src), 3)])
    src = np.concatenate([np.arange(n), retry_src])
    keep = all_end <= cal.end_us  # runs still going at the end of the window are not in the tables yet
    order = np.flatnonzero(keep)[np.argsort(all_start[keep], kind="stable")]
    src, r_job = src[order], all_job[order]
    m = len(order)
    comp = compute[src]
    run_ids = ids.increasing_numeric(rng, m, 10**15 + int(cal.start_us // 10**6), 5000)
    needs_cluster = comp != SERVERLESS
    cl_idx = np.cumsum(needs_cluster) - 1
    cl_ids = ids.cluster_ids(all_start[order][needs_cluster], counter_start=n_ap_clusters)
    return Runs(
        job=r_job,
        ws=jobs.ws[r_job],
        day=day[src],
        start=all_start[order],
        end=all_end[order],
        state=all_state[order],
        term=all_term[order],
        trigger=all_trigger[order],
        compute=comp,
        workers=workers[src],
        node_type=jobs.node_type[r_job],
        photon=jobs.photon[r_job],
        dbr=dbr[src],
        peak_mem=mem[src],
        cpu=cpu[src],
        run_id=pa.array(run_ids).cast(pa.string()),
        cluster_id=take(cl_ids, np.where(needs_cluster, cl_idx, -1)),
    )


def job_tables(
    rng: np.random.Generator, cal: Calendar, acct: E.Account, plan: Plan, runs: Runs, growth: MemoryGrowth
) -> dict[str, pa.Table]:
    jobs, ws_ids, emails = acct.jobs, acct.workspaces.id, acct.users.email
    n_jobs = len(jobs.name)
    # dim_job: a first version per job, a new version when a bad deploy starts a failure burst or
    # when the compute moves to all-purpose (wrong SKU) and back, when a job is given more memory,
    # and a deletion row for backfills.
    v_job = [np.arange(n_jobs)]
    v_time = [jobs.create_us]
    v_kind = [np.zeros(n_jobs, dtype=np.int64)]
    for inc in plan.of("job_failure_burst"):
        v_job.append(np.array([inc.entity]))
        v_time.append(np.array([cal.day_start_us[inc.start_day] - rng.integers(1, 6) * HOUR]))
        v_kind.append(np.array([1]))
    for inc in plan.of("cost_spike_wrong_sku"):
        v_job.append(np.array([inc.entity, inc.entity]))
        v_time.append(
            np.array([cal.day_start_us[inc.start_day] - 2 * HOUR, cal.day_start_us[inc.end_day] + DAY - HOUR])
        )
        v_kind.append(np.array([2, 1]))
    edited, edit_day = growth.edits(cal.days)
    v_job.append(edited)
    v_time.append(cal.day_start_us[edit_day] - growth.edit_hours[edited] * HOUR)
    v_kind.append(np.ones(len(edited), dtype=np.int64))
    bf = np.flatnonzero(jobs.is_backfill)
    v_job.append(bf)
    v_time.append(
        cal.day_start_us[np.minimum(jobs.active_to[bf], cal.days - 1)]
        + np.where(jobs.active_to[bf] >= cal.days, DAY - MINUTE, 2 * HOUR)
    )
    v_kind.append(np.full(len(bf), 3))
    vj, vt, vk = np.concatenate(v_job), np.concatenate(v_time), np.concatenate(v_kind)
    order = np.lexsort((vt, vj))
    vj, vt, vk = vj[order], vt[order], vk[order]
    is_current = np.append(vj[1:] != vj[:-1], True)
    trig = np.select(
        [
            np.isin(jobs.sched, [E.DAILY, E.WEEKDAY, E.EVERY4H, E.HOURLY, E.WEEKLY]),
            jobs.sched == E.FILE_ARRIVAL,
        ],
        [0, 1],
        -1,
    )
    trig = np.where(jobs.run_type == 1, -1, trig)
    cron_vocab = [_cron(jobs, j) for j in range(n_jobs)]
    tags = maps_from_dicts(
        [
            {"team": C.TEAMS[jobs.team[j]], "cost_center": C.COST_CENTERS[jobs.cost_center[j]], "env": "prod"}
            if jobs.tagged[j]
            else {}
            for j in range(n_jobs)
        ]
    )
    dim_job = build(
        "dim_job",
        {
            "account_id": acct.account_id,
            "workspace_id": take(ws_ids, jobs.ws[vj]),
            "job_id": take(jobs.id, vj),
            "name": take(jobs.name, vj),
            "description": take([f"Owned by {C.TEAMS[t]}" for t in jobs.team], vj),
            "creator_user_name": take(emails, jobs.owner[vj]),
            "run_as": take(emails, jobs.run_as[vj]),
            "tags": tags.take(pa.array(vj)),
            "task_count": jobs.task_count[vj],
            "max_retries": jobs.max_retries[vj],
            "timeout_seconds": jobs.timeout_s[vj],
            "trigger_type": take(["CRON", "FILE_ARRIVAL"], trig[vj]),
            "quartz_cron_expression": take(cron_vocab, np.where(trig[vj] == 0, vj, -1)),
            "compute_kind": take(
                ["JOB_CLUSTER", "SERVERLESS", "ALL_PURPOSE"],
                np.where(vk == 2, 2, jobs.serverless[vj].astype(np.int64)),
            ),
            "paused": np.zeros(len(vj), dtype=bool),
            "create_time": jobs.create_us[vj],
            "change_time": vt,
            "delete_time": np.where(vk == 3, vt, NAT),
            "is_current": is_current,
        },
    )

    # Run timeline: clock-hour slices, outcome on the final slice only.
    sl = hour_slices(runs.start, runs.end)
    p = sl.parent
    run_tl = build(
        "fact_job_run_timeline",
        {
            "account_id": acct.account_id,
            "workspace_id": take(ws_ids, runs.ws[p]),
            "job_id": take(jobs.id, runs.job[p]),
            "run_id": runs.run_id.take(pa.array(p)),
            "run_name": take(jobs.name, runs.job[p]),
            "period_start_time": sl.start,
            "period_end_time": sl.end,
            "trigger_type": take(TRIGGERS, runs.trigger[p]),
            "run_type": take(RUN_TYPES, jobs.run_type[runs.job[p]]),
            "result_state": take(STATES, np.where(sl.is_final, runs.state[p], -1)),
            "termination_code": take(TERMINATION, np.where(sl.is_final, runs.term[p], -1)),
            "cluster_id": runs.cluster_id.take(pa.array(p)),
        },
    )
    task_tl = _task_timeline(rng, acct, runs)
    sla = job_sla(jobs)
    sla_tbl = build(
        "dim_job_sla",
        {
            "workspace_id": take(ws_ids, jobs.ws),
            "job_id": jobs.id,
            "sla_duration_seconds": sla.duration_s,
            "sla_end_hour_utc": pa.array(sla.end_hour.astype(np.int32), mask=sla.end_hour < 0),
            "sla_owner": take(emails, jobs.owner),
        },
    )
    return {
        "dim_job": dim_job,
        "fact_job_run_timeline": run_tl,
        "fact_job_task_run_timeline": task_tl,
        "dim_job_sla": sla_tbl,
    }


def _cron(jobs: E.Jobs, j: int) -> str:
    s = jobs.sched[j]
    m, h = int(jobs.minute[j]), int(jobs.hour[j])
    if s == E.HOURLY:
        return f"0 {m} * * * ?"
    if s == E.EVERY4H:
        return f"0 {m} 0/4 * * ?"
    if s == E.WEEKDAY:
        return f"0 {m} {h} ? * MON-FRI"
    if s == E.WEEKLY:
        return f"0 {m} {h} ? * {('MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN')[jobs.weekly_day[j]]}"
    return f"0 {m} {h} * * ?"


def _task_timeline(rng: np.random.Generator, acct: E.Account, runs: Runs) -> pa.Table:
    """Tasks run one after another; a failing task ends the run and later tasks never start."""
    jobs = acct.jobs
    executed = runs.state != SKIPPED
    r = np.flatnonzero(executed)
    k = jobs.task_count[runs.job[r]]
    tr = np.repeat(r, k)
    ti = np.arange(len(tr)) - np.repeat(np.cumsum(k) - k, k)
    w = rng.gamma(2.0, 1.0, len(tr))
    tot = np.zeros(len(runs.start))
    np.add.at(tot, tr, w)
    cs = np.cumsum(w)
    first = np.cumsum(k) - k
    cum = cs - np.repeat((cs - w)[first], k)  # running total of weights within each run
    # Tasks split the *planned* run length; with a failed run the plan is unknown, so the
    # observed length stands in and the failing task is the one holding the end.
    length = (runs.end - runs.start)[tr]
    t_start = runs.start[tr] + ((cum - w) / tot[tr] * length).astype(np.int64)
    t_end = runs.start[tr] + (cum / tot[tr] * length).astype(np.int64)
    last = np.append(tr[1:] != tr[:-1], True)
    t_end = np.where(last, runs.end[tr], t_end)
    failed_run = runs.state[tr] != SUCCEEDED
    # A failed run fails in a random task; tasks after it are dropped.
    fail_at = rng.integers(0, np.maximum(k, 1))
    fail_task = np.repeat(fail_at, k)
    keep = ~failed_run | (ti <= fail_task)
    is_fail_task = failed_run & (ti == fail_task)
    # The failing task ends the run: stretch it to the run end, later tasks are gone.
    t_end = np.where(is_fail_task, runs.end[tr], t_end)
    tr, ti, t_start, t_end, is_fail_task = tr[keep], ti[keep], t_start[keep], t_end[keep], is_fail_task[keep]
    ok = t_end > t_start
    tr, ti, t_start, t_end, is_fail_task = tr[ok], ti[ok], t_start[ok], t_end[ok], is_fail_task[ok]
    state = np.where(is_fail_task, runs.state[tr], SUCCEEDED)
    term = np.where(is_fail_task, runs.term[tr], 0)
    task_ids = ids.increasing_numeric(rng, len(tr), 2 * 10**15, 50).astype(np.int64)
    sl = hour_slices(t_start, t_end)
    p = sl.parent
    return build(
        "fact_job_task_run_timeline",
        {
            "account_id": acct.account_id,
            "workspace_id": take(acct.workspaces.id, runs.ws[tr[p]]),
            "job_id": take(jobs.id, runs.job[tr[p]]),
            "run_id": pa.array(task_ids[p]).cast(pa.string()),
            "job_run_id": runs.run_id.take(pa.array(tr[p])),
            "task_key": take(C.TASK_KEYS, ti[p] % len(C.TASK_KEYS)),
            "period_start_time": sl.start,
            "period_end_time": sl.end,
            "result_state": take(STATES, np.where(sl.is_final, state[p], -1)),
            "termination_code": take(TERMINATION, np.where(sl.is_final, term[p], -1)),
            "cluster_id": runs.cluster_id.take(pa.array(tr[p])),
        },
    )
