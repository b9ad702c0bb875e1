"""run_start_features on hand-written runs, against a brute-force reading of the runs that had
ended before each start, and recomputed from Gold as it stood at several cutoffs."""

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest

from health_monitor.testing.pointintime import GoldTables
from health_monitor_reliability.run_features import (
    ACTIVE_DAYS,
    DETAIL_DAYS,
    LAST_RUNS,
    NEVER_HOURS,
    NEXT_RUN,
    RUN_START_FEATURES,
    run_start_features,
)

START = dt.datetime(2025, 3, 1)
DAY = 86400


def _runs() -> pd.DataFrame:
    """Job "o" every 30 minutes running 10-70 minutes (runs overlap: the next starts before the
    last ended), with failure bursts and retries; job "n" daily at 23:30 running past midnight;
    job "q" every 2 hours on cluster "c1", whose last run is still running (no result)."""
    rng, rows, run_id = random.Random(7), [], 0
    plans = (
        ("o", START, dt.timedelta(minutes=30), 8, (600, 4200)),
        ("n", START + dt.timedelta(hours=23, minutes=30), dt.timedelta(days=1), 8, (1800, 5400)),
        ("q", START, dt.timedelta(hours=2), 8, (300, 900)),
    )
    for job, first, every, days, (low, high) in plans:
        at, end_of = first, START + dt.timedelta(days=days)
        while at < end_of:
            burst = 0.5 if at.day % 3 == 0 else 0.08
            duration = dt.timedelta(seconds=rng.randint(low, high))
            failed = rng.random() < burst
            run_id += 1
            rows.append((job, str(run_id), at, at + duration, "FAILED" if failed else "SUCCEEDED", "CRON"))
            if failed and rng.random() < 0.5:
                retry_at = at + duration + dt.timedelta(minutes=2)
                run_id += 1
                state = "FAILED" if rng.random() < 0.4 else "SUCCEEDED"
                rows.append((job, str(run_id), retry_at, retry_at + duration, state, "ONETIME_RETRY"))
            at += every
    runs = pd.DataFrame(rows, columns=["job_id", "run_id", "start", "end", "state", "trigger"])
    last_q = runs[runs["job_id"] == "q"].index.max()
    runs.loc[last_q, "state"] = None  # still running: started, no result
    return runs


def _slices(runs: pd.DataFrame) -> list[tuple]:
    """The run timeline: each run cut at clock hours, its result on the final slice only."""
    rows = []
    for r in runs.itertuples():
        at, end = r.start.to_pydatetime(), r.end.to_pydatetime()
        while at < end:
            cut = min(end, (at + dt.timedelta(hours=1)).replace(minute=0, second=0))
            final = cut == end
            state = r.state if final else None
            code = None if state is None else ("SUCCESS" if state == "SUCCEEDED" else "RUN_EXECUTION_ERROR")
            cluster = "c1" if r.job_id == "q" else None
            rows.append(("w", r.job_id, r.run_id, at, cut, state, code, r.trigger, "JOB_RUN", cluster))
            at = cut
    return rows


@pytest.fixture(scope="module")
def tables(spark):
    runs = pd.concat([_runs(), _carried_jobs()], ignore_index=True)
    edit, gold = _gold(spark, runs)
    return runs, edit, gold


def _gold(spark, runs: pd.DataFrame):
    """(the day job "o" was edited, the Gold tables of ``runs``)."""
    timeline = spark.createDataFrame(
        _slices(runs),
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string, "
        "run_type string, cluster_id string",
    )
    edit = START + dt.timedelta(days=4, hours=6)
    jobs = spark.createDataFrame(
        [
            ("o", START - dt.timedelta(days=30), START - dt.timedelta(days=30), 1, 3),
            ("o", edit, START - dt.timedelta(days=30), 2, 4),  # edited on day 5: max_retries 1 -> 2
            ("n", START - dt.timedelta(days=30), START - dt.timedelta(days=30), 0, 1),
            ("q", START - dt.timedelta(days=30), START - dt.timedelta(days=30), 0, 1),
            ("f", START - dt.timedelta(days=30), START - dt.timedelta(days=30), 0, 1),
            ("s", START - dt.timedelta(days=30), START - dt.timedelta(days=30), 0, 1),
        ],
        "job_id string, change_time timestamp, create_time timestamp, max_retries int, task_count int",
    )
    clusters = spark.createDataFrame(
        [
            ("c1", "14.3.x-scala2.12", START - dt.timedelta(days=30)),
            ("c1", "15.4.x-scala2.12", START + dt.timedelta(days=3)),  # upgraded on day 4
        ],
        "cluster_id string, dbr_version string, change_time timestamp",
    )
    lineage = spark.createDataFrame(
        [
            (f"r{i}", "JOB", job, source, target, START, START.date())
            for i, (job, source, target) in enumerate(LINEAGE)
        ],
        "record_id string, entity_type string, entity_id string, source_table_full_name string, "
        "target_table_full_name string, event_time timestamp, event_date date",
    )
    gold = {
        "fact_table_lineage": lineage,
        "fact_job_run_timeline": timeline,
        "dim_job": jobs,
        "dim_cluster": clusters,
        "fact_node_timeline": spark.createDataFrame(
            _nodes(), "cluster_id string, start_time timestamp, end_time timestamp, mem_used_percent double"
        ),
    }
    return edit, GoldTables(gold)


# Job "o" writes t1 and "n" writes t2; "n" reads t1, "q" reads t1 and t2: n's upstream is o, q's
# are o and n ("o" reads what it writes, which makes no edge).
LINEAGE = (("o", None, "c.s.t1"), ("o", "c.s.t1", None), ("n", "c.s.t1", None), ("n", None, "c.s.t2"))
LINEAGE += (("q", "c.s.t1", None), ("q", "c.s.t2", None))
UPSTREAMS = {"o": (), "n": ("o",), "q": ("o", "n"), "f": (), "s": ()}
JOBS = len(UPSTREAMS)


def _nodes() -> list[tuple]:
    """Cluster c1's memory every 5 minutes, often above 90%."""
    rng = random.Random(3)
    at = START
    rows = []
    while at < START + dt.timedelta(days=9):
        rows.append(("c1", at, at + dt.timedelta(minutes=5), float(rng.randint(60, 99))))
        at += dt.timedelta(minutes=5)
    return rows


def _peaks(runs: pd.DataFrame) -> dict[str, float]:
    """Each q run's peak memory: node rows that ended within it."""
    nodes = pd.DataFrame(_nodes(), columns=["cluster", "start", "end", "mem"])
    peaks = {}
    for r in runs[runs["job_id"] == "q"].itertuples():
        inside = nodes[(nodes["end"] > r.start) & (nodes["end"] <= r.end)]["mem"]
        peaks[r.run_id] = inside.max() if len(inside) else np.nan
    return peaks


@pytest.fixture(scope="module")
def computed(tables):
    runs, edit, gold = tables
    return runs, edit, run_start_features(gold).toPandas().set_index(["job_id", "run_id"])


def _with_next_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Each active job's next run (one that started a run in the ACTIVE_DAYS before the last day
    a run started): it starts when the day after that last day begins, at the hour the job last
    started at (``hour``)."""
    horizon = runs["start"].max().date()
    last = runs.sort_values("start").groupby("job_id").tail(1)
    last = last[last["start"].dt.date >= horizon - dt.timedelta(days=ACTIVE_DAYS)]
    upcoming = last.assign(run_id=NEXT_RUN, start=pd.Timestamp(horizon + dt.timedelta(days=1)), end=pd.NaT)
    upcoming = upcoming.assign(state=None, trigger="")
    return pd.concat([runs.assign(hour=runs["start"].dt.hour), upcoming.assign(hour=last["start"].dt.hour)])


def _expected(runs: pd.DataFrame, edit: dt.datetime) -> pd.DataFrame:
    finished_runs = runs[runs["state"].notna()]
    runs = _with_next_runs(runs)
    seconds = lambda t: (t - pd.Timestamp(0)).dt.total_seconds().astype(int)  # noqa: E731
    runs = runs.assign(start_sec=seconds(runs["start"]))
    peaks = _peaks(finished_runs)
    upgraded = START + dt.timedelta(days=3)
    first_q_upgraded = runs[(runs["job_id"] == "q") & (runs["start"] >= upgraded)]["start"].min()
    finished = finished_runs.assign(
        end_sec=seconds(finished_runs["end"]), peak=finished_runs["run_id"].map(peaks)
    ).assign(
        failed=lambda r: (r["state"] == "FAILED").astype(int),
        retry=lambda r: r["trigger"].str.contains("RETRY"),
        seconds=lambda r: r["end_sec"] - seconds(r["start"]),
    )
    usual = lambda rows: rows[rows["state"] == "SUCCEEDED"]["seconds"]  # noqa: E731
    out = {}
    ok_end = finished[finished["failed"] == 0]
    for run in runs.itertuples():
        started_on = run.start.date()
        waiting = failures = 0
        for up in UPSTREAMS[run.job_id]:
            theirs = finished[finished["job_id"] == up]
            ran_on = set(theirs["start"].dt.date)
            due = any(started_on - dt.timedelta(days=d) in ran_on for d in (1, 7))
            oks = ok_end[(ok_end["job_id"] == up) & (ok_end["end"].dt.date == started_on)]
            ready = (oks["end_sec"] < run.start_sec).any()
            waiting += int(due and not ready)
            ended = theirs[
                (theirs["end_sec"] <= run.start_sec - 1) & (theirs["end_sec"] >= run.start_sec - DAY)
            ]
            failures += int(ended["failed"].sum())
        upstream = {
            "upstream_jobs": len(UPSTREAMS[run.job_id]),
            "upstreams_waiting": waiting,
            "upstream_failures_24h": failures,
        }
        job = finished[finished["job_id"] == run.job_id]
        before = job[job["end_sec"] <= run.start_sec - 1].sort_values(["end_sec", "run_id"])
        within = lambda s, before=before, run=run: before[before["end_sec"] >= run.start_sec - s]  # noqa: E731
        day, week = within(DAY), within(7 * DAY)
        last = before.tail(LAST_RUNS)
        streak = 0
        for failed in before["failed"].to_numpy()[::-1]:
            if not failed:
                break
            streak += 1
        fails = before[before["failed"] == 1]
        out[(run.job_id, run.run_id)] = {
            "start_date": run.start.date(),
            "runs_before": len(before),
            "failure_rate_all": before["failed"].mean() if len(before) else np.nan,
            "failure_rate_last_runs": last["failed"].mean() if len(last) else np.nan,
            "runs_24h": len(day),
            "failures_24h": int(day["failed"].sum()),
            "failure_rate_7d": week["failed"].mean() if len(week) else np.nan,
            "retries_7d": int(week["retry"].sum()),
            "retry_failures_7d": int((week["retry"] & (week["failed"] == 1)).sum()),
            "last_run_failed": float(before["failed"].iloc[-1]) if len(before) else np.nan,
            "consecutive_failed_runs": streak,
            "hours_since_failure": (run.start_sec - fails["end_sec"].max()) / 3600
            if len(fails)
            else NEVER_HOURS,
            "hours_since_last_run": (run.start_sec - before["end_sec"].max()) / 3600
            if len(before)
            else NEVER_HOURS,
            "hours_since_job_edit": (run.start - edit).total_seconds() / 3600
            if run.job_id == "o" and run.start >= edit
            else NEVER_HOURS,
            "max_retries": 2 if run.job_id == "o" and run.start >= edit else (1 if run.job_id == "o" else 0),
            "dbr_version_num": (15.4 if run.start >= START + dt.timedelta(days=3) else 14.3)
            if run.job_id == "q"
            else np.nan,
            "is_retry": int("RETRY" in run.trigger),
            "hour_of_day": run.hour,
            "days_to_month_end": (run.start + pd.offsets.MonthEnd(0)).day - run.start.day,
            "last_run_peak_mem": before["peak"].iloc[-1] if len(before) else np.nan,
            "memory_pressure_rate_7d": (week["peak"] > 90).mean() if len(week) else np.nan,
            "hours_on_runtime": (run.start - first_q_upgraded).total_seconds() / 3600
            if run.job_id == "q" and run.start >= upgraded
            else NEVER_HOURS,
            "last_run_duration_sec": before["seconds"].iloc[-1] if len(before) else np.nan,
            "last_success_duration_sec": usual(before).iloc[-1] if len(usual(before)) else np.nan,
            "success_duration_avg_last_runs": usual(last).mean(),
            "success_duration_avg_7d": usual(week).mean(),
            "success_duration_avg_all": usual(before).mean(),
            **upstream,
        }
    return pd.DataFrame.from_dict(out, orient="index")


def test_every_started_run_gets_the_history_that_had_ended_before_it(computed):
    runs, edit, got = computed
    expected = _expected(runs, edit)
    assert set(got.index) == set(expected.index)  # the run still running and the next runs included
    assert len(expected.loc[(slice(None), NEXT_RUN), :]) == 2  # "f" and "s" ran in the last week
    got = got.loc[expected.index]
    # The fixture reaches the cases the features exist for.
    assert (expected["consecutive_failed_runs"] >= 2).any() and (expected["retries_7d"] > 0).any()
    assert (expected["memory_pressure_rate_7d"] > 0).any() and (
        expected["hours_on_runtime"] < NEVER_HOURS
    ).any()
    # Upstreams that were due and had not succeeded yet, and upstreams that had.
    assert (expected["upstreams_waiting"] > 0).any() and (expected["upstream_failures_24h"] > 0).any()
    assert ((expected["upstream_jobs"] > 0) & (expected["upstreams_waiting"] == 0)).any()
    # Runs whose last ended run failed: the last successful duration is an earlier run's.
    differ = expected["last_run_duration_sec"] != expected["last_success_duration_sec"]
    assert (differ & expected["last_success_duration_sec"].notna()).sum() > 10
    overlapping = runs.merge(runs, on="job_id").query("start_x < end_y and start_y < start_x")
    assert len(overlapping) > 10  # runs that started while another of their job was running
    assert [str(d) for d in got["start_date"]] == [str(d) for d in expected["start_date"]]
    for column in expected.columns.drop("start_date"):
        np.testing.assert_allclose(
            got[column].astype("float64").to_numpy(),
            expected[column].astype("float64").to_numpy(),
            rtol=1e-9,
            equal_nan=True,
            err_msg=column,
        )


def test_rows_are_the_same_from_gold_as_it_stood_at_each_cutoff(tables, computed):
    """A run that started before midnight and ended after it (job "n") is in no row up to the
    day it ended, and its own row exists as soon as its first slice is known."""
    from health_monitor.testing.pointintime import GoldAsOf, leaks

    runs, _, gold = tables
    full = computed[2].reset_index()
    assert (full["run_id"] == NEXT_RUN).sum() == 2
    crossing = runs[(runs["job_id"] == "n") & (runs["end"].dt.date > runs["start"].dt.date)]
    assert len(crossing) >= 5
    for day in (2, 4, 6):
        cutoff = (START + dt.timedelta(days=day)).date()
        as_of = run_start_features(GoldAsOf(gold, cutoff)).toPandas()
        assert leaks(RUN_START_FEATURES, full, as_of, cutoff) == {}
        # Each job's next run sits on the day after the cutoff, out of the rows compared.
        upcoming = as_of[as_of["run_id"] == NEXT_RUN]
        assert len(upcoming) == JOBS and {str(d) for d in upcoming["start_date"]} == {
            str(cutoff + dt.timedelta(days=1))
        }
        # The crossing run that started on the cutoff day is a row already, unfinished.
        started = crossing[crossing["start"].dt.date == cutoff]["run_id"]
        assert set(started) <= set(as_of["run_id"])


class _RowsFrom:
    """``tables`` telling the compute that only the rows from ``day`` on are kept."""

    def __init__(self, tables, day: dt.date):
        self._tables, self._day = tables, day

    def __getattr__(self, name):
        return getattr(self._tables, name)

    def rows_from(self) -> dt.date:
        return self._day


def _carried_jobs() -> pd.DataFrame:
    """Job "f" hourly for 16 days, every run failing from day 3 at 10:00 to day 12 at 03:00; job
    "s" every 4 hours on days 0 and 1, then once on day 13."""
    rows = []
    for hour in range(16 * 24):
        at = START + dt.timedelta(hours=hour)
        failed = START + dt.timedelta(days=3, hours=10) <= at < START + dt.timedelta(days=12, hours=4)
        rows.append(
            ("f", f"f{hour}", at, at + dt.timedelta(minutes=20), "FAILED" if failed else "SUCCEEDED", "CRON")
        )
    for n, hours in enumerate([*range(0, 48, 4), 13 * 24 + 6]):
        at = START + dt.timedelta(hours=hours)
        rows.append(
            ("s", f"s{n}", at, at + dt.timedelta(minutes=30), "FAILED" if n % 3 else "SUCCEEDED", "CRON")
        )
    return pd.DataFrame(rows, columns=["job_id", "run_id", "start", "end", "state", "trigger"])


def test_rows_asked_from_a_day_are_the_rows_of_the_whole_computation(tables, computed):
    """Asked for the rows from a day on, runs that ended more than DETAIL_DAYS before it are
    carried as per-job totals (counts, last failure, last success, the failure streak at their
    end). From day 6 nothing is carried. From day 12, job "f"'s failure streak runs through its
    carried runs, its last LAST_RUNS before the detail, and into the asked day; job "s"'s run on
    day 13 has no run in the detail days before it, only its last LAST_RUNS and two carried ones."""
    from health_monitor.testing.pointintime import differing_rows

    _, _, gold = tables
    full = computed[2].reset_index()
    assert 6 - DETAIL_DAYS < 0 and 12 - DETAIL_DAYS > 3  # day 3's runs of "f" are carried from day 12
    for day in (6, 12):
        since = (START + dt.timedelta(days=day)).date()
        recent = run_start_features(_RowsFrom(gold, since)).toPandas()
        assert pd.to_datetime(recent["start_date"]).dt.date.min() == since  # only the rows asked for
        keys, stamp = RUN_START_FEATURES.primary_keys, RUN_START_FEATURES.timestamp_key
        assert differing_rows(keys, stamp, full, recent, lambda d, since=since: d >= since) == {}
    at = full.set_index(["job_id", "run_id"])
    assert at.loc[("f", "f292"), "consecutive_failed_runs"] == 291 - 82 + 1  # f82 to f291 failed
    assert at.loc[("s", "s12"), "runs_before"] == 12
    assert at.loc[("s", "s12"), "failure_rate_last_runs"] == pytest.approx(7 / 10)  # s2..s11
