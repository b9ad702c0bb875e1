"""The best any model could score on the simulated account: each short model's ceiling.

Issue 14, item 7. The simulator draws every outcome from explicit random processes (a run fails
with a probability made of its job's base rate, memory pressure, a recent runtime upgrade, a
broken input table, a late upstream...; a duration is the job's median times log-normal noise
times the day's data volume). The ceiling of a model is the metric of an *oracle* that knows the
simulator's hidden parameters for the unit the model predicts, scored on the very labels the model
was tested on (same scale, seed and test days as the model cards).

How the oracle is built, without changing the simulator's behaviour:

* **Replicates** (the main ceiling, ``ceiling``): the step that draws the outcomes is run again R
  times on the *same* entities and incident plan (same seed for those streams), each time with a
  fresh random stream for the outcomes. For each test unit (a job-day, a run, a user-day...) the
  R replicate labels give the unit's true label distribution given everything fixed before the
  draw: each job's base failure rate, memory level, duration median and sigma, SLA, schedule, the
  runtime-upgrade days and the incident plan (which job breaks on which day). The oracle predicts
  the Bayes-optimal value from that distribution (the label frequency for a classifier,
  thresholded where the expected F1 is highest; the MAPE-optimal point, a 1/y-weighted median,
  for a regression) and is scored on the seed's own labels (``ceiling_ci95``: over resampled test
  days). It is an upper bound: no model sees the incident plan or the hidden parameters, only
  their traces in the tables.
* **After the first day** (``ceiling_after_first_day``): replicates with each incident known only
  from its second day on, as a watcher that saw its first day would; **no plan**
  (``ceiling_no_plan``): replicates with an empty incident plan, scored on the seed's labels
  (which have incidents): what the hidden parameters alone give.
* **Knows the draws** (failure predictors; a looser bound, ``ceiling_with_draws``): the failure
  probability the simulator used for each run of the seed's own realization, read by wrapping
  `reliability._outcomes`: it includes that run's own memory draw and whether its upstream was
  late that day, which no pre-run model can know.
* Statements, spend and tags have oracles of their own: see each group's docstring.

    .venv/bin/python benchmarks/bench_ceilings.py --scale medium --seed 7 \\
        --json benchmarks/results/ceilings.json

Groups (``--only``): reliability (job and run failure, SLA breach, pipeline health, DBR migration
risk, job and run duration), schema, performance (query duration), cost (commitment, job cost),
security (user-days), tag. Replicates: 200, 100 for cost, 40 for user-days. numpy and pandas
only, no Spark: the labels are rebuilt from the simulator's arrays with the plugins' label
definitions (docs/model-cards). Medium: 489 s on the project's 2-core machine with other work
beside it (2026-12-02). Results and the verdicts: docs/models.md, "Against the design documents'
criteria (issue 14, item 7)".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from health_monitor.simulate import (
    SimulationConfig,
    compute,
    cost,
    entities,
    incidents,
    performance,
    quality,
    reliability,
    security,
)
from health_monitor.simulate import catalog as SC
from health_monitor.simulate import entities as E
from health_monitor.simulate.incidents import Plan
from health_monitor.simulate.rand import stream
from health_monitor.simulate.timegrid import DAY, HOUR, SECOND, Calendar, make_calendar

TEST_FRACTION = 0.25  # the core's time split: the latest 25% of distinct times are the test set
FAILURE_STATES = (reliability.FAILED, reliability.ERROR, reliability.TIMED_OUT)
HEALTH_HORIZON_DAYS = 7  # pipeline_health_scorer: an incident day within the next 7 days
REPLICATE_KEY = 10_000  # spawn keys of the replicate streams: far from the simulator's own (1-13)


# --------------------------------------------------------------------------------------------
# Ceiling arithmetic (pure; tested in tests/test_ceilings.py)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class F1Ceiling:
    expected_f1: float  # the expected F1 at the best threshold, the probabilities taken as truth
    threshold: float  # flag units with probability >= threshold
    flagged: int
    realized_f1: float | None  # that threshold scored on realized labels, when given


def best_expected_f1(p: np.ndarray, y: np.ndarray | None = None) -> F1Ceiling:
    """The oracle's F1: flag the units whose true positive probability ``p`` is at least a
    threshold, the threshold chosen where the expected F1 is highest.

    With the top-k units flagged, expected TP = sum of their p, FP = k - TP and FN = sum(p) - TP,
    so F1 = 2 TP / (k + sum(p)) (the F1 of the expected counts, which is the expected F1 up to
    O(1/n)). Units with equal p are flagged together (a threshold cannot split them). ``y``, the
    realized labels of the same units, is scored at the chosen threshold.
    """
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or len(p) == 0 or np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("p: expected a non-empty 1-d array of probabilities in [0, 1]")
    total = float(p.sum())
    if total == 0.0:
        return F1Ceiling(0.0, 1.0, 0, None if y is None else _f1(np.asarray(y), np.zeros(len(p), bool)))
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    tp = np.cumsum(ps)
    k = np.arange(1, len(ps) + 1)
    last_of_tie = np.append(ps[1:] != ps[:-1], True)  # cut only between distinct values
    f1 = np.where(last_of_tie, 2 * tp / (k + total), -1.0)
    best = int(np.argmax(f1))
    threshold = float(ps[best])
    realized = None
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(p):
            raise ValueError("y: must have one label per probability")
        realized = _f1(y, p >= threshold)
    return F1Ceiling(float(f1[best]), threshold, best + 1, realized)


def _f1(y: np.ndarray, flag: np.ndarray) -> float:
    y = y.astype(bool)
    tp = float(np.sum(flag & y))
    denom = float(flag.sum() + y.sum())
    return 2 * tp / denom if denom else 0.0


def mape_optimal_point(samples: np.ndarray) -> np.ndarray:
    """Per row of ``samples`` (units x draws of a positive label; NaN = no draw), the point f that
    minimises the mean of |y - f| / y over the draws: the median of the draws weighted by 1/y."""
    s = np.asarray(samples, dtype=float)
    out = np.full(s.shape[0], np.nan)
    order = np.argsort(np.where(np.isnan(s), np.inf, s), axis=1)
    ss = np.take_along_axis(s, order, axis=1)
    w = np.where(np.isnan(ss), 0.0, 1.0 / np.where(np.isnan(ss) | (ss <= 0), 1.0, ss))
    cw = np.cumsum(w, axis=1)
    tot = cw[:, -1]
    ok = tot > 0
    idx = np.argmax(cw >= (tot / 2)[:, None], axis=1)
    out[ok] = ss[ok, idx[ok]]
    return out


def lognormal_mape_floor(sigma: float) -> float:
    """The MAPE of the best point forecast of y = m * exp(N(0, sigma)) (f = m * exp(-sigma^2)):
    the floor of any forecaster that knows m and sigma exactly (numerical integration)."""
    z = np.linspace(-8, 8, 20_001)
    dens = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    ratio = np.exp(-(sigma**2) - sigma * z)  # f / y
    return float(np.trapezoid(np.abs(1 - ratio) * dens, z))


def mape(y: np.ndarray, f: np.ndarray) -> float:
    y, f = np.asarray(y, float), np.asarray(f, float)
    ok = (y != 0) & np.isfinite(f)
    return float(np.mean(np.abs((y[ok] - f[ok]) / y[ok])))


def test_cutoff(times: np.ndarray) -> int:
    """The core's time split (models/evaluation.time_split) on integer day numbers."""
    distinct = np.unique(times)
    return int(distinct[min(len(distinct) - 1, int(np.floor(len(distinct) * (1 - TEST_FRACTION))))])


# --------------------------------------------------------------------------------------------
# The simulated account, its replicates and the reliability labels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    config: SimulationConfig
    cal: Calendar
    acct: E.Account
    plan: Plan
    growth: reliability.MemoryGrowth


def context(scale: str, seed: int) -> Context:
    """Entities and incident plan exactly as simulate_account draws them."""
    cfg = SimulationConfig(scale=scale, seed=seed)
    spec = cfg.spec
    cal = make_calendar(cfg.start_date, cfg.n_days)
    acct = entities.make_account(stream(seed, "entities"), spec, cal)
    rng_inc = stream(seed, "incidents")
    backfills = incidents.plan_backfills(rng_inc, spec, cal, acct)
    acct = entities.with_backfills(rng_inc, acct, backfills, cal.start_us)
    plan = incidents.plan(rng_inc, spec, cal, acct, backfills)
    return Context(cfg, cal, acct, plan, reliability.memory_growth(stream(seed, "memory"), acct.jobs))


def replicate_rng(seed: int, r: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(REPLICATE_KEY + r,)))


def simulate_runs(ctx: Context, rng: np.random.Generator, plan: Plan | None = None) -> reliability.Runs:
    n_ap_clusters = len(ctx.acct.clusters.name)
    return reliability.simulate_runs(
        rng, ctx.cal, ctx.acct, ctx.plan if plan is None else plan, n_ap_clusters, ctx.growth
    )


@contextlib.contextmanager
def recording_outcomes() -> Iterator[list[dict[str, np.ndarray]]]:
    """Wrap reliability._outcomes to record each call's inputs and draws (not changing them)."""
    calls: list[dict[str, np.ndarray]] = []
    original = reliability._outcomes

    def wrapped(rng, jobs, job, day, planned, p_fail, mem, hard):  # type: ignore[no-untyped-def]
        state, term, duration = original(rng, jobs, job, day, planned, p_fail, mem, hard)
        calls.append(
            {
                "job": job.copy(),
                "day": day.copy(),
                "p": np.asarray(p_fail, float).copy(),
                "planned": planned.copy(),
                "duration": duration.copy(),
            }
        )
        return state, term, duration

    reliability._outcomes = wrapped  # type: ignore[assignment]
    try:
        yield calls
    finally:
        reliability._outcomes = original  # type: ignore[assignment]


def run_frame(ctx: Context, runs: reliability.Runs) -> pd.DataFrame:
    """One row per run in the tables, with the plugins' label columns (reliability/runs.py)."""
    jobs = ctx.acct.jobs
    start_s, end_s = runs.start // SECOND, runs.end // SECOND
    f = pd.DataFrame(
        {
            "job": runs.job,
            "sched_day": runs.day,
            "run_date": (runs.start - ctx.cal.start_us) // DAY,
            "end_date": (runs.end - ctx.cal.start_us) // DAY,
            "classic": runs.compute != reliability.SERVERLESS,
            "start": runs.start,
            "end": runs.end,
            "retry": runs.trigger == 3,
            "state": runs.state,
            "failed": np.isin(runs.state, FAILURE_STATES),
            "succeeded": runs.state == reliability.SUCCEEDED,
            "duration_sec": (end_s - start_s).astype(float),
        }
    )
    # SLA (runs.sla_runs): longer than sla_duration_seconds, or ended after the first deadline
    # hour after (start - 12 h), for jobs with a deadline hour.
    sla = reliability.job_sla(jobs)
    end_hour = sla.end_hour[f["job"]]
    anchor = f["start"].to_numpy() - 12 * HOUR
    same_day = (anchor // DAY) * DAY + end_hour * HOUR
    deadline = np.where(same_day > anchor, same_day, same_day + DAY)
    late = (end_hour >= 0) & (f["end"].to_numpy() > deadline)
    f["sla_breach"] = (f["duration_sec"].to_numpy() > sla.duration_s[f["job"]]) | late
    # A unit key that is the same in every replicate: the job, the scheduled day, attempt or
    # retry, and its rank among the job-day's attempts (or retries) by start time.
    f = f.sort_values(["job", "sched_day", "retry", "start"], kind="stable")
    f["k"] = f.groupby(["job", "sched_day", "retry"]).cumcount()
    f["run_key"] = ((f["job"] * 1_000 + f["sched_day"]) * 256 + f["k"]) * 2 + f["retry"].astype(int)
    f["day_key"] = f["job"] * 1_000 + f["run_date"]
    return f.sort_values("start", kind="stable").reset_index(drop=True)


def job_day_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Job-day labels: failure (any failed run), SLA breach (any), mean successful duration, and
    pipeline health's incident day (the day's last-started run failed, or a breach)."""
    g = runs.groupby("day_key", sort=True)
    last_failed = runs.sort_values("start", kind="stable").groupby("day_key")["failed"].last()
    d = pd.DataFrame(
        {
            "job": g["job"].first(),
            "run_date": g["run_date"].first(),
            "failure": g["failed"].max().astype(int),
            "sla_breach": g["sla_breach"].max().astype(int),
            "incident": (last_failed | g["sla_breach"].max()).astype(int),
        }
    )
    ok = runs[runs["succeeded"]]
    d["duration"] = ok.groupby("day_key")["duration_sec"].mean()
    # pipeline_health_scorer: an incident day within [d, d + 6] among the job's run days; rows
    # whose horizon passes the last day of the data are unlabelled.
    d = d.sort_values(["job", "run_date"])
    inc_days = d.loc[d["incident"] == 1, ["job", "run_date"]].to_numpy()
    label = np.zeros(len(d), dtype=int)
    if len(inc_days):
        inc_key = inc_days[:, 0] * 1_000 + inc_days[:, 1]
        key = d["job"].to_numpy() * 1_000 + d["run_date"].to_numpy()
        nxt = np.searchsorted(inc_key, key)  # first incident day at or after the row's day
        found = nxt < len(inc_key)
        nk = inc_key[np.minimum(nxt, len(inc_key) - 1)]
        label = (found & (nk // 1_000 == key // 1_000) & (nk - key < HEALTH_HORIZON_DAYS)).astype(int)
    d["health"] = label
    horizon = int(d["run_date"].max())
    d["health_labelled"] = d["run_date"] <= horizon - (HEALTH_HORIZON_DAYS - 1)
    return d


MIGRATION_PRIOR_DAYS = 30  # dbr_migration_risk_scorer's label (performance/labels.py)
FAILURE_RATE_INCREASE = 0.10
DURATION_REGRESSION_FACTOR = 1.5
ROLLOUT_DAYS_BEFORE, ROLLOUT_DAYS_AFTER = 7, 14  # its base: days of a workspace's rollout window


def migration_frame(ctx: Context, runs: pd.DataFrame) -> pd.DataFrame:
    """dbr_migration_risk_scorer's job-days (by the day runs ended, classic jobs): 1 when the day's
    failure rate is at least 10 points above the job's 30 days before (with a failure), or its
    median duration 1.5x or more the average of the prior days' medians."""
    n_jobs, days = len(ctx.acct.jobs.name), ctx.cal.days
    r = runs[(runs["end_date"] >= 0) & (runs["end_date"] < days)]
    j, d = r["job"].to_numpy(), r["end_date"].to_numpy()
    n = np.zeros((n_jobs, days))
    fail = np.zeros((n_jobs, days))
    np.add.at(n, (j, d), 1.0)
    np.add.at(fail, (j, d), r["failed"].to_numpy().astype(float))
    med = np.full((n_jobs, days), np.nan)
    m = r.groupby(["job", "end_date"])["duration_sec"].quantile(0.5, interpolation="lower")
    med[m.index.get_level_values(0), m.index.get_level_values(1)] = m.to_numpy()

    def prior(a: np.ndarray) -> np.ndarray:  # sum over [d - 30, d - 1]
        c = np.concatenate([np.zeros((n_jobs, 1)), np.cumsum(a, axis=1)], axis=1)
        lo = np.maximum(np.arange(days) - MIGRATION_PRIOR_DAYS, 0)
        return c[:, np.arange(days)] - c[:, lo]

    p_runs, p_fail = prior(n), prior(fail)
    p_med_sum, p_med_n = prior(np.nan_to_num(med)), prior(np.isfinite(med).astype(float))
    rate = np.where(p_runs > 0, p_fail / np.maximum(p_runs, 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        failed_more = (fail > 0) & (fail / np.maximum(n, 1) >= rate + FAILURE_RATE_INCREASE)
        slower = (p_med_n > 0) & (med >= DURATION_REGRESSION_FACTOR * p_med_sum / np.maximum(p_med_n, 1))
    jj, dd = np.nonzero((n > 0) & ~ctx.acct.jobs.serverless[:, None])
    return pd.DataFrame(
        {"job": jj, "date": dd, "label": (failed_more | slower)[jj, dd].astype(int)},
        index=pd.Index(jj * 1_000 + dd, name="mig_key"),
    )


def rollout_rows(ctx: Context, mig: pd.DataFrame) -> pd.DataFrame:
    """The rows of its base: a classic job's days inside its workspace's rollout window (from 7
    days before the workspace's first runtime change to 14 days after its last)."""
    jobs = ctx.acct.jobs
    moved = (jobs.dbr_after != jobs.dbr_before) & ~jobs.serverless & (jobs.upgrade_day < ctx.cal.days)
    # A job's change shows on the first day it ran on the new runtime.
    first_new = mig[mig["date"] >= jobs.upgrade_day[mig["job"]]].groupby("job")["date"].min()
    first_new = first_new[moved[first_new.index.to_numpy()]]
    ws = pd.Series(jobs.ws[first_new.index.to_numpy()], index=first_new.index)
    win = pd.DataFrame({"ws": ws, "day": first_new}).groupby("ws")["day"].agg(["min", "max"])
    w = jobs.ws[mig["job"].to_numpy()]
    lo = win["min"].reindex(w).to_numpy() - ROLLOUT_DAYS_BEFORE
    hi = win["max"].reindex(w).to_numpy() + ROLLOUT_DAYS_AFTER
    keep = (mig["date"].to_numpy() >= lo) & (mig["date"].to_numpy() <= hi)
    return mig[keep]


def plan_known_after_first_day(plan: Plan) -> Plan:
    """The plan as a watcher knows it the day before: an incident is known from its second day."""
    return Plan(
        tuple(replace(i, start_day=i.start_day + 1) for i in plan.incidents if i.end_day > i.start_day)
    )


def day_bootstrap(days: np.ndarray, stat: Callable[[np.ndarray], float], n: int = 200) -> list[float]:
    """A 95% interval of stat(rows) over resampled test days (the verdicts' paired bootstrap)."""
    rng = np.random.default_rng(0)
    uniq, inv = np.unique(days, return_inverse=True)
    rows_of = [np.flatnonzero(inv == i) for i in range(len(uniq))]
    vals = []
    for _ in range(n):
        pick = rng.integers(0, len(uniq), len(uniq))
        vals.append(stat(np.concatenate([rows_of[i] for i in pick])))
    return [float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))]


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------


class Replicates:
    """Label draws of a fixed set of units (keys) over R replicates: sums for classifiers, the
    draws themselves for regressions."""

    def __init__(self, keys: np.ndarray, n: int, store: bool) -> None:
        self.keys = np.asarray(keys)
        self.order = np.argsort(self.keys, kind="stable")
        self.sorted = self.keys[self.order]
        self.seen = np.zeros(len(keys))
        self.pos = np.zeros(len(keys))
        self.draws = np.full((len(keys), n), np.nan) if store else None
        self.r = 0

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        i = np.searchsorted(self.sorted, keys)
        i = np.minimum(i, len(self.sorted) - 1)
        hit = self.sorted[i] == keys
        idx = self.order[i[hit]]
        v = np.asarray(values, float)[hit]
        ok = np.isfinite(v)
        np.add.at(self.seen, idx[ok], 1.0)
        np.add.at(self.pos, idx[ok], v[ok])
        if self.draws is not None:
            self.draws[idx[ok], self.r] = v[ok]
        self.r += 1

    @property
    def probability(self) -> np.ndarray:
        return np.where(self.seen > 0, self.pos / np.maximum(self.seen, 1), 0.0)


def label_probability_from_draw(
    ctx: Context, calls: list[dict[str, np.ndarray]], runs: pd.DataFrame
) -> np.ndarray:
    """Per run of the seed's realization: the probability its label is 1 given the p the simulator
    drew it with (run's own memory draw, that day's upstream lateness) and its planned duration
    (a run that outlives its timeout ends TIMED_OUT). Matched on (job, scheduled day, duration)."""
    jobs = ctx.acct.jobs
    rec = {k: np.concatenate([c[k] for c in calls]) for k in calls[0]}
    timeout = jobs.timeout_s[rec["job"]] * SECOND
    planned = rec["planned"].astype(float)
    over = (timeout > 0) & (planned > timeout)
    # Not failed: 0.3% ERROR, 0.8% CANCELLED (a uniform(0.1, 0.9) share of the plan), 98.5% run
    # the whole plan, 0.4% SKIPPED; the first two and an over-long run count as failed labels.
    frac_needed = np.where(planned > 0, timeout / np.maximum(planned, 1), np.inf)
    p_cancel_timeout = np.clip((0.9 - np.maximum(frac_needed, 0.1)) / 0.8, 0, 1) * (timeout > 0)
    q = rec["p"] + (1 - rec["p"]) * (0.003 + 0.985 * over + 0.008 * p_cancel_timeout)
    key = (rec["job"] * 1_000 + rec["day"]) * 10**13 + rec["duration"]
    run_key = (runs["job"].to_numpy() * 1_000 + runs["sched_day"].to_numpy()) * 10**13 + (
        runs["end"].to_numpy() - runs["start"].to_numpy()
    )
    s = pd.Series(q, index=key)
    s = s[~s.index.duplicated()]
    return s.reindex(run_key).to_numpy()


def classifier_row(name: str, y: np.ndarray, p: np.ndarray, days: np.ndarray, **extra: np.ndarray) -> dict:
    c = best_expected_f1(p, y)
    flag = p >= c.threshold
    row = {
        "model": name,
        "metric": "f1",
        "test_units": int(len(y)),
        "positive_rate": float(np.mean(y)),
        "ceiling": c.realized_f1,
        "ceiling_ci95": day_bootstrap(days, lambda i: _f1(y[i], flag[i])),
        "ceiling_expected": c.expected_f1,
        "ceiling_threshold": c.threshold,
    }
    for label, q in extra.items():
        cq = best_expected_f1(q, y)
        row[f"ceiling_{label}"] = cq.realized_f1
        row[f"ceiling_{label}_expected"] = cq.expected_f1
    return row


def regression_row(name: str, y: np.ndarray, draws: np.ndarray, days: np.ndarray) -> dict:
    f = mape_optimal_point(draws)
    ok = np.isfinite(f)
    yo, fo = y[ok], f[ok]
    # The expected floor: the oracle's point against its own replicate draws (in-sample).
    ape = np.abs(draws - f[:, None]) / draws
    return {
        "model": name,
        "metric": "mape",
        "test_units": int(len(y)),
        "units_without_draws": int((~ok).sum()),
        "ceiling": mape(yo, fo),
        "ceiling_ci95": day_bootstrap(days[ok], lambda i: mape(yo[i], fo[i])),
        "ceiling_expected": float(np.nanmean(np.nanmean(ape[ok], axis=1))),
        "ceiling_median_ape": float(np.median(np.abs(y[ok] - f[ok]) / y[ok])),
        # Fragments: labels under a tenth of the oracle's point (a run billed a few minutes on a
        # day, a count of 1), and the share of the MAPE they make.
        "rows_label_under_10pct_of_point": float(np.mean(yo < 0.1 * fo)),
        "mape_share_from_those_rows": float(
            np.sum((np.abs(yo - fo) / yo)[yo < 0.1 * fo]) / max(np.sum(np.abs(yo - fo) / yo), 1e-12)
        ),
    }


def reliability_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    """job/run failure, SLA breach, pipeline health, job/run duration, DBR migration risk."""
    seed = ctx.config.seed
    with recording_outcomes() as calls:
        actual = run_frame(ctx, simulate_runs(ctx, stream(seed, "reliability")))
    # Knows the draws: the p each run of the seed's realization was drawn with.
    actual["q_draw"] = label_probability_from_draw(ctx, calls, actual)
    days = job_day_frame(actual)
    cut = test_cutoff(days["run_date"].to_numpy())
    health_cut = test_cutoff(days.loc[days["health_labelled"], "run_date"].to_numpy())
    t_runs = actual[actual["run_date"] >= cut]
    t_ok = t_runs[t_runs["succeeded"]]
    t_days = days[days["run_date"] >= cut]
    t_dur = t_days[t_days["duration"].notna()]
    t_health = days[days["health_labelled"] & (days["run_date"] >= health_cut)]
    mig_rows = rollout_rows(ctx, migration_frame(ctx, actual))
    mig_cut = test_cutoff(mig_rows["date"].to_numpy())
    t_mig = mig_rows[mig_rows["date"] >= mig_cut]
    say(
        f"reliability: {len(actual):,} runs, test from day {cut} ({ctx.cal.date(cut)}): "
        f"{len(t_runs):,} runs, {len(t_days):,} job-days; migration rows {len(mig_rows):,}, "
        f"test {len(t_mig):,} from {ctx.cal.date(mig_cut)}"
    )

    units = {
        "run_failure": t_runs["run_key"].to_numpy(),
        "job_failure": t_days.index.to_numpy(),
        "sla_breach": t_days.index.to_numpy(),
        "health": t_health.index.to_numpy(),
        "migration": t_mig.index.to_numpy(),
    }
    plans = {"full": ctx.plan, "after_first_day": plan_known_after_first_day(ctx.plan), "no_plan": Plan(())}
    rep = {v: {k: Replicates(keys, n_rep, store=False) for k, keys in units.items()} for v in plans}
    dur = {
        "run_duration": Replicates(t_ok["run_key"].to_numpy(), n_rep, store=True),
        "job_duration": Replicates(t_dur.index.to_numpy(), n_rep, store=True),
    }
    t0 = time.time()
    for r in range(n_rep):
        for v_i, (variant, plan) in enumerate(plans.items()):
            f = run_frame(ctx, simulate_runs(ctx, replicate_rng(seed, 3 * r + v_i), plan))
            d = job_day_frame(f)
            target = rep[variant]
            target["run_failure"].add(f["run_key"].to_numpy(), f["failed"].to_numpy())
            target["job_failure"].add(d.index.to_numpy(), d["failure"].to_numpy())
            target["sla_breach"].add(d.index.to_numpy(), d["sla_breach"].to_numpy())
            lab = d[d["health_labelled"]]
            target["health"].add(lab.index.to_numpy(), lab["health"].to_numpy())
            mig = migration_frame(ctx, f)
            target["migration"].add(mig.index.to_numpy(), mig["label"].to_numpy())
            if variant == "full":
                okr = f[f["succeeded"]]
                dur["run_duration"].add(okr["run_key"].to_numpy(), okr["duration_sec"].to_numpy())
                dur["job_duration"].add(d.index.to_numpy(), d["duration"].to_numpy())
        if (r + 1) % 25 == 0:
            say(f"  replicate {r + 1}/{n_rep} ({time.time() - t0:.0f}s)")

    # Knows the draws: a job-day fails unless every attempt of that day passes.
    att = actual[~actual["retry"]]
    q_day = 1 - att.groupby("day_key")["q_draw"].apply(lambda s: float(np.prod(1 - s.fillna(0))))

    def probs(kind: str) -> dict[str, np.ndarray]:
        return {
            "after_first_day": rep["after_first_day"][kind].probability,
            "no_plan": rep["no_plan"][kind].probability,
        }

    out = [
        classifier_row(
            "job_failure_predictor",
            t_days["failure"].to_numpy(),
            rep["full"]["job_failure"].probability,
            t_days["run_date"].to_numpy(),
            **probs("job_failure"),
            with_draws=np.clip(q_day.reindex(t_days.index).fillna(0).to_numpy(), 0, 1),
        ),
        classifier_row(
            "run_failure_predictor",
            t_runs["failed"].to_numpy().astype(int),
            rep["full"]["run_failure"].probability,
            t_runs["run_date"].to_numpy(),
            **probs("run_failure"),
            with_draws=np.clip(np.nan_to_num(t_runs["q_draw"].to_numpy()), 0, 1),
        ),
        classifier_row(
            "sla_breach_predictor",
            t_days["sla_breach"].to_numpy(),
            rep["full"]["sla_breach"].probability,
            t_days["run_date"].to_numpy(),
            **probs("sla_breach"),
        ),
        classifier_row(
            "pipeline_health_scorer",
            t_health["health"].to_numpy(),
            rep["full"]["health"].probability,
            t_health["run_date"].to_numpy(),
            **probs("health"),
        ),
        classifier_row(
            "dbr_migration_risk_scorer",
            t_mig["label"].to_numpy(),
            rep["full"]["migration"].probability,
            t_mig["date"].to_numpy(),
            **probs("migration"),
        ),
        regression_row(
            "job_duration_forecaster",
            t_dur["duration"].to_numpy(),
            dur["job_duration"].draws,
            t_dur["run_date"].to_numpy(),
        ),
        regression_row(
            "run_duration_forecaster",
            t_ok["duration_sec"].to_numpy(),
            dur["run_duration"].draws,
            t_ok["run_date"].to_numpy(),
        ),
    ]
    # A check of the rebuilt labels: the run_duration_forecaster card's chosen rule, the mean of
    # the job's successful runs that ended before the run started.
    ok_all = actual[actual["succeeded"]].sort_values("end")
    ok_all = ok_all.assign(
        hist=ok_all.groupby("job")["duration_sec"].transform(lambda x: x.expanding().mean())
    )
    probe = t_ok[["job", "start", "duration_sec"]].sort_values("start")
    hist = pd.merge_asof(
        probe,
        ok_all[["job", "end", "hist"]],
        left_on="start",
        right_on="end",
        by="job",
        allow_exact_matches=False,
    )
    out[-1]["rule_history_mean"] = mape(hist["duration_sec"].to_numpy(), hist["hist"].to_numpy())
    # What the duration noise alone costs: the log-normal floor at the jobs' own sigmas (drawn
    # per job from uniform(0.15, 0.45)), averaged over the test units.
    for row, jobs_of in ((out[-2], t_dur["job"]), (out[-1], t_ok["job"])):
        sig = np.round(ctx.acct.jobs.sigma[jobs_of.to_numpy()], 3)
        floors = {s_: lognormal_mape_floor(s_) for s_ in np.unique(sig)}
        row["lognormal_floor_at_job_sigmas"] = float(np.mean([floors[s_] for s_ in sig]))
    # How many test positives fall on a job-day under an incident of the plan that touches the job
    # (its own, its table's late data, a breaking change in a table it reads).
    n_jobs, jobs = len(ctx.acct.jobs.name), ctx.acct.jobs
    under = np.zeros((n_jobs, ctx.cal.days), dtype=bool)
    for name in ("job_failure_burst", "job_duration_regression", "sla_breach", "cost_spike_runaway_job"):
        under |= ctx.plan.day_mask(name, n_jobs, ctx.cal.days)
    for inc in ctx.plan.of("late_data"):
        under[ctx.acct.tables.writer[inc.entity], inc.start_day : inc.end_day + 1] = True
    for inc in ctx.plan.of("breaking_schema_change"):
        for j in range(n_jobs):
            if inc.entity in jobs.reads_idx[jobs.reads_ptr[j] : jobs.reads_ptr[j + 1]]:
                under[j, inc.start_day : inc.end_day + 1] = True
    inc_day = under[t_days["job"].to_numpy(), np.clip(t_days["run_date"].to_numpy(), 0, ctx.cal.days - 1)]
    for row, col_ in ((out[0], "failure"), (out[2], "sla_breach")):
        pos = t_days[col_].to_numpy() == 1
        row["test_positives"] = int(pos.sum())
        row["test_positives_on_incident_days"] = int((pos & inc_day).sum())
        row["test_incident_job_days"] = int(inc_day.sum())
    test_from = {"pipeline_health_scorer": health_cut, "dbr_migration_risk_scorer": mig_cut}
    for row in out:
        row["test_from"] = str(ctx.cal.date(test_from.get(row["model"], cut)))
    return out


def schema_change_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    """schema_change_predictor: a table-day is 1 when its columns change in the next 7 days."""
    seed, cal, t = ctx.config.seed, ctx.cal, ctx.acct.tables
    horizon = 7
    n_tab, days = len(t.name), cal.days
    last = days - 1 - horizon  # rows whose 7 following days are all snapshotted

    def labels(plan: Plan, rng: np.random.Generator) -> np.ndarray:
        versions = quality._schema_versions(rng, cal, t, plan)  # the first draws of the quality stream
        change = np.zeros((n_tab, days + horizon + 1), dtype=bool)
        for k, vs in enumerate(versions):
            for v in vs[1:]:
                change[k, v[0]] = True
        c = np.concatenate([np.zeros((n_tab, 1)), np.cumsum(change, axis=1)], axis=1)
        d = np.arange(last + 1)
        return (c[:, d + horizon + 1] - c[:, d + 1]) > 0  # a change on day d+1 .. d+7

    actual = labels(ctx.plan, stream(seed, "quality"))
    cut = test_cutoff(np.arange(last + 1))
    y = actual[:, cut:].ravel().astype(int)
    day_of = np.tile(np.arange(cut, last + 1), n_tab)
    plans = {"full": ctx.plan, "after_first_day": plan_known_after_first_day(ctx.plan), "no_plan": Plan(())}
    sums = {v: np.zeros_like(actual, dtype=float) for v in plans}
    for r in range(n_rep):
        for v_i, (variant, plan) in enumerate(plans.items()):
            sums[variant] += labels(plan, replicate_rng(seed, 3 * r + v_i))
    p = {v: (s_ / n_rep)[:, cut:].ravel() for v, s_ in sums.items()}
    say(
        f"schema changes: {n_tab} tables, test {len(y):,} table-days from {cal.date(cut)}, {y.sum()} positive"
    )
    row = classifier_row(
        "schema_change_predictor",
        y,
        p["full"],
        day_of,
        after_first_day=p["after_first_day"],
        no_plan=p["no_plan"],
    )
    row["test_from"] = str(cal.date(cut))
    return [row]


class _Stop(Exception):
    pass


@contextlib.contextmanager
def audit_counts_only() -> Iterator[dict[str, np.ndarray]]:
    """Run security.audit_and_lineage up to the audit table and keep (user, event day) only.

    The event counts are drawn before any of the stubbed steps (request parameters, event ids,
    the request map, the table build, lineage), so stubbing them changes no count; the call ends
    at the audit table's build with _Stop."""
    got: dict[str, np.ndarray] = {}
    saved = (security.build, security.maps, security._pick_param, security.ids.random_hex)

    def build(name, columns):  # type: ignore[no-untyped-def]
        got["user"] = np.asarray(columns["user_identity_email"].to_numpy(zero_copy_only=False))
        got["day"] = np.asarray(columns["event_date"])
        raise _Stop

    security.build = build  # type: ignore[assignment]
    security.maps = lambda *a, **k: None  # type: ignore[assignment]
    security._pick_param = lambda rng, acct, vals, kind, *a: np.zeros(len(kind), dtype=np.int64)  # type: ignore[assignment]
    security.ids.random_hex = lambda rng, n, *a: pa.nulls(n, pa.string())  # type: ignore[assignment]
    try:
        yield got
    finally:
        security.build, security.maps, security._pick_param, security.ids.random_hex = saved  # type: ignore[assignment]


def user_days(ctx: Context, rng: np.random.Generator, runs: reliability.Runs) -> pd.Series:
    """Audit events per (user, UTC day) on the days the user logged any (user_behavior_baseline)."""
    with audit_counts_only() as got, contextlib.suppress(_Stop):
        security.audit_and_lineage(rng, ctx.cal, ctx.acct, ctx.plan, runs)
    emails = ctx.acct.users.email.to_numpy(zero_copy_only=False)
    code = pd.Series(np.arange(len(emails)), index=emails)
    u = code.reindex(got["user"]).to_numpy()
    keep = np.isfinite(u)
    day = got["day"][keep] - ctx.cal.start_us // DAY + 1  # + 1: an event can fall the day before the window
    key = u[keep].astype(np.int64) * 1_000 + day
    return pd.Series(key).value_counts().sort_index().astype(float)


def user_behavior_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    seed = ctx.config.seed
    runs = simulate_runs(ctx, stream(seed, "reliability"))
    actual = user_days(ctx, stream(seed, "security"), runs)
    day = actual.index.to_numpy() % 1_000 - 1
    cut = test_cutoff(day)
    test = actual[day >= cut]
    rep = Replicates(test.index.to_numpy(), n_rep, store=True)
    t0 = time.time()
    for r in range(n_rep):
        c = user_days(ctx, replicate_rng(seed, r), runs)
        rep.add(c.index.to_numpy(), c.to_numpy())
        if (r + 1) % 10 == 0:
            say(f"  user-days replicate {r + 1}/{n_rep} ({time.time() - t0:.0f}s)")
    say(f"user-days: {len(actual):,}, test {len(test):,} from {ctx.cal.date(cut)}")
    row = regression_row(
        "user_behavior_baseline", test.to_numpy(), rep.draws, test.index.to_numpy() % 1_000 - 1
    )
    row["test_from"] = str(ctx.cal.date(cut))
    return [row]


class RecordingGenerator:
    """A numpy Generator that records what its ``lognormal`` calls returned (the draws are the
    generator's own: the simulation is unchanged)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.lognormal_calls: list[tuple[float, float, np.ndarray]] = []

    def lognormal(self, mean=0.0, sigma=1.0, size=None):  # type: ignore[no-untyped-def]
        out = self._rng.lognormal(mean, sigma, size)
        self.lognormal_calls.append((float(np.mean(mean)), float(np.mean(sigma)), np.asarray(out)))
        return out

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._rng, name)


def query_performance_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    """query_performance_forecaster: a finished, uncached statement's total duration (s).

    The oracle knows everything about a statement but its own three noise draws: its template's
    bytes at that day's volume (x8 in a query_performance_regression), the warehouse's power that
    day, the spin-up wait and the queueing it met (both set by other statements: generous). It
    does not know the read-bytes noise (log-normal, sigma 0.4), the execution noise (0.2) or the
    compilation time (log-normal around 150 ms, sigma 0.6). The template's bytes are read back
    from the recorded read-bytes draw of the seed's realization."""
    seed = ctx.config.seed
    rec = RecordingGenerator(stream(seed, "performance"))
    tables, _ = performance.simulate(rec, ctx.cal, ctx.acct, ctx.plan)  # type: ignore[arg-type]
    q = tables["fact_query_history"]
    n = q.num_rows
    draws = {sig: out for _m, sig, out in rec.lognormal_calls if out.shape == (n,)}
    n_read, n_exec = draws[0.4], draws[0.2]
    col = {
        c: q.column(c).to_numpy(zero_copy_only=False)
        for c in (
            "execution_status",
            "from_result_cache",
            "start_time",
            "total_duration_ms",
            "waiting_for_compute_duration_ms",
            "waiting_at_capacity_duration_ms",
            "execution_duration_ms",
            "read_bytes",
            "warehouse_id",
            "statement_text",
        )
    }
    start_us = col["start_time"].astype("datetime64[us]").astype(np.int64)
    keep = (col["execution_status"] == "FINISHED") & ~col["from_result_cache"].astype(bool)
    cut = start_us[keep][np.argsort(start_us[keep])]
    distinct = np.unique(cut)
    cutoff = distinct[min(len(distinct) - 1, int(np.floor(len(distinct) * (1 - TEST_FRACTION))))]
    t = np.flatnonzero(keep & (start_us >= cutoff))
    y = col["total_duration_ms"][t] / 1000.0
    det_bytes = col["read_bytes"][t] / n_read[t]
    # The warehouse's power: the size whose execution time, with this statement's draws, gives
    # the recorded one (the day's size is not in the statement table).
    b = col["read_bytes"][t].astype(float)
    powers = np.array(SC.WAREHOUSE_POWER)

    def exec_ms(bytes_: np.ndarray, power: np.ndarray) -> np.ndarray:
        spill = np.maximum(0, bytes_ * 0.5 - performance.MEMORY_PER_POWER * power)
        return 40 + bytes_ / (performance.THROUGHPUT_PER_POWER * power) * 1000 * (
            1 + 3 * spill / np.maximum(bytes_, 1)
        )

    fit = np.abs(
        exec_ms(b[:, None], powers[None, :]) * n_exec[t][:, None] - col["execution_duration_ms"][t][:, None]
    )
    power = powers[np.argmin(fit, axis=1)]
    fixed = col["waiting_for_compute_duration_ms"][t] + col["waiting_at_capacity_duration_ms"][t]
    rng = replicate_rng(seed, 0)
    k = max(n_rep, 50)
    samples = np.empty((len(t), k))
    for j in range(k):
        b_j = (det_bytes * rng.lognormal(0, 0.4, len(t))).astype(np.int64).astype(float)
        e_j = (exec_ms(b_j, power) * rng.lognormal(0, 0.2, len(t))).astype(np.int64)
        c_j = rng.lognormal(np.log(150), 0.6, len(t)).astype(np.int64)
        samples[:, j] = (fixed + c_j + e_j) / 1000.0
    say(f"statements: {int(keep.sum()):,} labelled, test {len(t):,} from {np.datetime64(int(cutoff), 'us')}")
    row = regression_row("query_performance_forecaster", y, samples, (start_us[t] - ctx.cal.start_us) // DAY)
    row["test_from"] = str(np.datetime64(int(cutoff), "us"))
    row["power_matched_share"] = float(np.mean(np.min(fit, axis=1) <= 1.0 + 1e-9))
    # Where the error is: statements that waited for a warehouse to start (the first of a
    # session), that queued, and the rest.
    f = mape_optimal_point(samples)
    cold = col["waiting_for_compute_duration_ms"][t] > 0
    queued = col["waiting_at_capacity_duration_ms"][t] > 0
    for name, sel in (("cold_start", cold), ("queued", queued & ~cold), ("other", ~cold & ~queued)):
        row[f"share_{name}"] = float(sel.mean())
        row[f"ceiling_{name}"] = mape(y[sel], f[sel]) if sel.any() else None
        row[f"mean_label_s_{name}"] = float(y[sel].mean()) if sel.any() else None
    # Not a ceiling: a rule any watcher has, the MAPE-optimal point (1/y-weighted median) of the
    # same statement text's training durations on the same warehouse (unseen text: none).
    tr = np.flatnonzero(keep & (start_us < cutoff))
    fp = pd.Series(col["warehouse_id"]).astype(str) + "|" + pd.Series(col["statement_text"]).astype(str)
    hist = pd.DataFrame({"fp": fp.to_numpy()[tr], "y": col["total_duration_ms"][tr] / 1000.0})
    point = {}
    for key, grp in hist.groupby("fp"):
        point[key] = float(mape_optimal_point(grp["y"].to_numpy()[None, :])[0])
    rule = pd.Series(fp.to_numpy()[t]).map(point).to_numpy(dtype=float)
    row["rule_fingerprint_history"] = mape(y, rule)
    row["rule_fingerprint_history_coverage"] = float(np.isfinite(rule).mean())
    return [row]


def billed(
    ctx: Context, rng: np.random.Generator, runs: reliability.Runs, sessions, wh
) -> tuple[np.ndarray, np.ndarray, pd.Series]:  # type: ignore[no-untyped-def]
    """List cost per (workspace, day), the part of it billed by backfill jobs (budget_overrun),
    and per (job, day), from the simulator's billing records (cost._parts: every product's hourly
    records before the table is built; corrections and restatements sum to these)."""
    cal = ctx.cal
    parts = cost._parts(rng, cal, ctx.acct, runs, sessions, wh)
    n_ws = len(ctx.acct.workspaces.name)
    total = np.zeros((n_ws, cal.days))
    backfill = np.zeros((n_ws, cal.days))
    per_job = []
    for part in parts:
        price = np.array([sku[5] for sku in SC.SKUS])[part.sku]
        price = np.where(
            (part.sku == SC.PRICE_CHANGE_SKU) & (part.end < cost.price_change_us(cal)),
            SC.PRICE_BEFORE_CHANGE,
            price,
        )
        c = np.round(part.qty, 6) * price
        day = np.clip((part.start - cal.start_us) // DAY, 0, cal.days - 1)
        np.add.at(total, (part.ws, day), c)
        on_job = part.job >= 0
        bf = on_job & ctx.acct.jobs.is_backfill[np.maximum(part.job, 0)]
        np.add.at(backfill, (part.ws[bf], day[bf]), c[bf])
        if on_job.any():
            per_job.append(pd.Series(c[on_job], index=part.job[on_job] * 1_000 + day[on_job]))
    jobs = pd.concat(per_job).groupby(level=0).sum()
    return total, backfill, jobs[jobs > 0]


def cost_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    """commitment_recommender (a workspace's next 30 days of list cost) and job_cost_optimizer
    (a job's list cost on a day it was billed).

    Replicates redraw the runs and the all-purpose cluster sessions (the reliability stream) and
    the billing records' own draws; the warehouses' usage is the seed's own in every replicate
    (its generator also draws the warehouses' query templates, hidden parameters a replicate must
    not redraw), so the oracle knows the warehouses' bills exactly: generous, an upper bound."""
    seed, cal = ctx.config.seed, ctx.cal
    rng_rel = stream(seed, "reliability")
    runs = simulate_runs(ctx, rng_rel)
    reliability.job_tables(
        rng_rel, cal, ctx.acct, ctx.plan, runs, ctx.growth
    )  # its draws come before the sessions'
    sessions = compute.ap_sessions(rng_rel, cal, ctx.acct, ctx.plan)
    _, wh = performance.simulate(stream(seed, "performance"), cal, ctx.acct, ctx.plan)
    rng_cost = stream(seed, "cost")
    rng_cost.choice([8.0, 10.0, 12.0, 15.0])  # the discount, drawn first
    total, _, jobs = billed(ctx, rng_cost, runs, sessions, wh)

    horizon = 30
    c = np.concatenate([np.zeros((total.shape[0], 1)), np.cumsum(total, axis=1)], axis=1)
    f_days = np.arange(1, cal.days - horizon + 1)  # the day after a spend row, 30 days observed
    ahead = c[:, f_days + horizon] - c[:, f_days]
    cut = test_cutoff(f_days)
    commit_y = ahead[:, f_days >= cut].ravel()
    commit_day = np.tile(f_days[f_days >= cut], total.shape[0])
    job_day = jobs.index.to_numpy() % 1_000
    job_cut = test_cutoff(job_day)
    job_test = jobs[job_day >= job_cut]
    commit_draws = np.full((commit_y.size, n_rep), np.nan)
    # Without foresight of a backfill month: a workspace's backfill cost is known only from the
    # day after its backfill jobs first ran (they are created that day: no precursor in Gold).
    jobs_e = ctx.acct.jobs
    bf_first = np.full(total.shape[0], 10**6)
    for j in np.flatnonzero(jobs_e.is_backfill):
        bf_first[jobs_e.ws[j]] = min(bf_first[jobs_e.ws[j]], int(jobs_e.active_from[j]))
    test_f = f_days[f_days >= cut]
    known_bf = (bf_first[:, None] < test_f[None, :]).ravel()
    commit_draws_no_bf = np.full((commit_y.size, n_rep), np.nan)
    rep = Replicates(job_test.index.to_numpy(), n_rep, store=True)
    t0 = time.time()
    for r in range(n_rep):
        rng = replicate_rng(seed, r)
        runs_r = simulate_runs(ctx, rng)
        sessions_r = compute.ap_sessions(rng, cal, ctx.acct, ctx.plan)
        total_r, bf_r, jobs_r = billed(ctx, rng, runs_r, sessions_r, wh)

        def ahead_of(m: np.ndarray) -> np.ndarray:
            cm = np.concatenate([np.zeros((m.shape[0], 1)), np.cumsum(m, axis=1)], axis=1)
            return (cm[:, f_days + horizon] - cm[:, f_days])[:, f_days >= cut].ravel()

        commit_draws[:, r] = ahead_of(total_r)
        commit_draws_no_bf[:, r] = ahead_of(total_r - bf_r) + np.where(known_bf, ahead_of(bf_r), 0.0)
        rep.add(jobs_r.index.to_numpy(), jobs_r.to_numpy())
        if (r + 1) % 25 == 0:
            say(f"  cost replicate {r + 1}/{n_rep} ({time.time() - t0:.0f}s)")
    say(
        f"cost: commitment test {commit_y.size} workspace-days from {cal.date(cut)}; "
        f"job cost test {len(job_test):,} job-days from {cal.date(job_cut)}"
    )
    a = regression_row("commitment_recommender", commit_y, commit_draws, commit_day)
    a["test_from"] = str(cal.date(cut))
    no_bf = regression_row("commitment_recommender", commit_y, commit_draws_no_bf, commit_day)
    a["ceiling_backfill_known_after_first_day"] = no_bf["ceiling"]
    a["ceiling_backfill_known_after_first_day_ci95"] = no_bf["ceiling_ci95"]
    a["workspace_days_with_unforeseen_backfill"] = int(
        ((bf_first[:, None] >= test_f[None, :]) & (bf_first[:, None] < test_f[None, :] + horizon)).sum()
    )
    b = regression_row(
        "job_cost_optimizer", job_test.to_numpy(), rep.draws, job_test.index.to_numpy() % 1_000
    )
    b["test_from"] = str(cal.date(job_cut))
    # Checks of the rebuilt labels against the cards' baselines, and where the errors are.
    back = c[:, f_days] - c[:, np.maximum(f_days - horizon, 0)]  # the last 30 days as known
    week = (c[:, f_days] - c[:, np.maximum(f_days - 7, 0)]) * horizon / 7
    a["rule_last_30_days"] = mape(commit_y, back[:, f_days >= cut].ravel())
    a["rule_last_7_days_x30_7"] = mape(commit_y, week[:, f_days >= cut].ravel())
    unforeseen = (
        (bf_first[:, None] >= test_f[None, :]) & (bf_first[:, None] < test_f[None, :] + horizon)
    ).ravel()
    f_no_bf = mape_optimal_point(commit_draws_no_bf)
    for name, sel in (("unforeseen_backfill", unforeseen), ("other", ~unforeseen)):
        a[f"rows_{name}"] = int(sel.sum())
        a[f"ceiling_backfill_known_after_first_day_{name}"] = mape(commit_y[sel], f_no_bf[sel])
        a[f"rule_last_30_days_{name}"] = mape(commit_y[sel], back[:, f_days >= cut].ravel()[sel])
    prev = jobs.groupby(jobs.index.to_numpy() // 1_000).shift(1)  # the job's previous billed day
    b["rule_last_billed_day"] = mape(job_test.to_numpy(), prev.reindex(job_test.index).to_numpy())
    b["test_labels_under_1pct_of_the_jobs_median"] = float(
        np.mean(
            job_test.to_numpy()
            < 0.01
            * jobs.groupby(jobs.index.to_numpy() // 1_000)
            .transform("median")
            .reindex(job_test.index)
            .to_numpy()
        )
    )
    return [a, b]


# --------------------------------------------------------------------------------------------


def tag_ceilings(ctx: Context, n_rep: int, say: Callable[[str], None]) -> list[dict]:
    """tag_recommender: the team tag of a tagged resource (support-weighted F1 over teams).

    The test resources are rebuilt from the entities as resource_tag_features sees them: tagged
    jobs, all-purpose clusters, warehouses and pipelines, plus the all-purpose clusters a job
    run on during a cost_spike_wrong_sku incident (billed without its job id, with the job's
    tags), each first seen on its creation day (a pipeline: its first billed day, day 0). The
    oracle knows how the simulator gives teams: from the name for jobs, shared clusters and
    warehouses; the job's team for a run's cluster (its name holds the job id); team 0 for a
    backfill job. A personal cluster's and a pipeline's team is a uniform draw that nothing
    shows: the oracle guesses (right 1 time in 8). Its F1 is the mean over n_rep guesses."""
    from sklearn.metrics import f1_score

    seed, cal, acct = ctx.config.seed, ctx.cal, ctx.acct
    jobs, cl, wh, pl = acct.jobs, acct.clusters, acct.warehouses, acct.pipelines
    runs = simulate_runs(ctx, stream(seed, "reliability"))
    api = np.flatnonzero((runs.compute == reliability.ALL_PURPOSE_API) & jobs.tagged[runs.job])
    tagged = np.flatnonzero(jobs.tagged)
    kinds = np.concatenate(
        [
            np.where(jobs.is_backfill[tagged], "backfill job", "job"),
            np.where(
                np.char.startswith(np.array(cl.name, dtype=str), "shared"),
                "shared cluster",
                "personal cluster",
            ),
            np.full(len(wh.name), "warehouse"),
            np.full(len(pl.team), "pipeline"),
            np.full(len(api), "job run's all-purpose cluster"),
        ]
    )
    team = np.concatenate([jobs.team[tagged], cl.team, wh.team, pl.team, jobs.team[runs.job[api]]])
    created = np.concatenate(
        [
            jobs.create_us[tagged],
            cl.create_us,
            wh.create_us,
            np.full(len(pl.team), cal.start_us),
            runs.start[api],
        ]
    )
    day = created // DAY
    distinct = np.unique(day)
    cutoff = distinct[min(len(distinct) - 1, int(np.floor(len(distinct) * (1 - TEST_FRACTION))))]
    t = day >= cutoff
    y, k = team[t], kinds[t]
    hidden = np.isin(k, ["personal cluster", "pipeline"])
    rng = replicate_rng(seed, 0)
    n_teams = int(team.max()) + 1
    # Backfill jobs are team 0 by the simulator's rule alone (their names carry no team): the
    # second figure leaves that rule out and guesses them too.
    hidden_bf = hidden | (k == "backfill job")
    scores, scores_bf = [], []
    for _ in range(max(n_rep, 100)):
        guess = np.where(hidden, rng.integers(0, n_teams, len(y)), y)
        scores.append(f1_score(y, guess, average="weighted", zero_division=0))
        guess = np.where(hidden_bf, rng.integers(0, n_teams, len(y)), y)
        scores_bf.append(f1_score(y, guess, average="weighted", zero_division=0))
    comp = {str(name): int((k == name).sum()) for name in np.unique(k)}
    say(
        f"tags: {len(team)} tagged resources, test {int(t.sum())} first seen from {np.datetime64(int(cutoff), 'D')}: {comp}"
    )
    return [
        {
            "model": "tag_recommender",
            "metric": "f1",
            "test_units": int(t.sum()),
            "test_from": str(np.datetime64(int(cutoff), "D")),
            "ceiling": float(np.mean(scores)),
            "ceiling_ci95": [float(np.quantile(scores, 0.025)), float(np.quantile(scores, 0.975))],
            "ceiling_without_backfill_rule": float(np.mean(scores_bf)),
            "test_composition": comp,
            "hidden_team_share": float(hidden.mean()),
        }
    ]


GROUPS: dict[str, Callable[[Context, int, Callable[[str], None]], list[dict]]] = {
    "reliability": reliability_ceilings,
    "schema": schema_change_ceilings,
    "performance": query_performance_ceilings,
    "cost": cost_ceilings,
    "security": user_behavior_ceilings,
    "tag": tag_ceilings,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="medium")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--replicates", type=int, default=200, help="replicates of the cheap groups")
    ap.add_argument("--replicates-security", type=int, default=40, help="user-days: ~8 s a replicate")
    ap.add_argument("--replicates-cost", type=int, default=100, help="billing: ~2 s a replicate")
    ap.add_argument("--only", action="append", help="a group: " + ", ".join(GROUPS) + " (default: all)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.time()
    ctx = context(args.scale, args.seed)
    n_rep = {"security": args.replicates_security, "cost": args.replicates_cost}
    rows: list[dict] = []
    seconds: dict[str, float] = {}
    for name, fn in GROUPS.items():
        if args.only and name not in args.only:
            continue
        t1 = time.time()
        rows += fn(ctx, n_rep.get(name, args.replicates), say)
        seconds[name] = round(time.time() - t1, 1)
    result = {
        "scale": args.scale,
        "seed": args.seed,
        "replicates": {g: n_rep.get(g, args.replicates) for g in GROUPS},
        "seconds": round(time.time() - t0, 1),
        "seconds_per_group": seconds,
        "models": rows,
    }
    for row in rows:
        extra = {k: round(v, 3) for k, v in row.items() if k.startswith("ceiling") and isinstance(v, float)}
        print(f"{row['model']:32s} {row['metric']:5s} {extra}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
