"""failed_run_features' windows on a frequent job, against a brute-force reading of the same runs."""

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest

from health_monitor.testing.pointintime import GoldTables
from health_monitor_reliability.features import DAY_SECONDS, failed_run_features

START = dt.datetime(2025, 3, 1)


def _runs() -> pd.DataFrame:
    """Job "m" every 20 minutes for 20 days (bursts of failures, retries that start 2 minutes
    after a failure, every 30th run with a concurrent twin that ends on the same second), job "d"
    once a day, job "x" hourly with one streak of failures across midnight."""
    rng, rows, run_id = random.Random(5), [], 0
    for job, every, days in (("m", dt.timedelta(minutes=20), 20), ("d", dt.timedelta(days=1), 20)):
        at, end_of = START, START + dt.timedelta(days=days)
        while at < end_of:
            burst = 0.35 if at.day % 6 == 0 else 0.05
            duration = dt.timedelta(seconds=rng.randint(60, 900) if job == "m" else rng.randint(1800, 5400))
            failed = rng.random() < burst
            for _ in range(2 if job == "m" and run_id % 30 == 0 else 1):
                run_id += 1
                rows.append(
                    (job, str(run_id), at, at + duration, "FAILED" if failed else "SUCCEEDED", "CRON")
                )
            if failed and rng.random() < 0.6:
                retry_at = at + duration + dt.timedelta(minutes=2)
                run_id += 1
                state = "FAILED" if rng.random() < 0.4 else "SUCCEEDED"
                rows.append((job, str(run_id), retry_at, retry_at + duration, state, "ONETIME_RETRY"))
            at += every
    for hour in range(20 * 24):  # job "x" hourly, failing from day 12, 20:00, to day 13, 02:00
        at = START + dt.timedelta(hours=hour)
        failed = 12 * 24 + 20 <= hour <= 13 * 24 + 2
        rows.append(
            ("x", f"x{hour}", at, at + dt.timedelta(minutes=10), "FAILED" if failed else "SUCCEEDED", "CRON")
        )
    return pd.DataFrame(rows, columns=["job_id", "run_id", "start", "end", "state", "trigger"])


@pytest.fixture(scope="module")
def computed(spark):
    from pyspark.sql import functions as F

    runs = _runs()
    timeline = spark.createDataFrame(
        [
            (
                "w",
                r.job_id,
                r.run_id,
                r.start.to_pydatetime(),
                r.end.to_pydatetime(),
                r.state,
                "SUCCESS" if r.state == "SUCCEEDED" else "X",
                r.trigger,
            )
            for r in runs.itertuples()
        ],
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string",
    ).select("*", F.lit("JOB_RUN").alias("run_type"), F.lit(None).cast("string").alias("cluster_id"))
    gold = {
        "fact_job_run_timeline": timeline,
        "fact_node_timeline": spark.createDataFrame(
            [], "cluster_id string, start_time timestamp, end_time timestamp, mem_used_percent double"
        ),
        "dim_job": spark.createDataFrame([], "job_id string, change_time timestamp, create_time timestamp"),
    }
    return runs, failed_run_features(GoldTables(gold)).toPandas().set_index("run_id"), gold


def _expected(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.assign(
        end_sec=(runs["end"] - pd.Timestamp(0)).dt.total_seconds().astype(int),
        duration=(runs["end"] - runs["start"]).dt.total_seconds().astype(int),
        failed=(runs["state"] == "FAILED").astype(int),
        retry=runs["trigger"].str.contains("RETRY"),
        day=runs["end"].dt.date,
    )
    out = {}
    for run in runs[runs["failed"] == 1].itertuples():
        job = runs[runs["job_id"] == run.job_id]

        def ended_within(seconds, job=job, run=run):
            return job[(job["end_sec"] >= run.end_sec - seconds) & (job["end_sec"] <= run.end_sec - 1)]

        day, week = ended_within(DAY_SECONDS), ended_within(7 * DAY_SECONDS)
        days = job[(job["day"] < run.day) & (job["day"] >= run.day - dt.timedelta(days=14))]["duration"]
        ordered = np.sort(days.to_numpy())
        out[run.run_id] = {
            "failures_24h": int(day["failed"].sum()),
            "runs_24h": len(day),
            "retry_failures_7d": int((week["failed"] * week["retry"]).sum()),
            # percentile_approx's median of a few values: the lowest with half of them at or below it
            "usual": float(ordered[int(np.ceil(0.5 * len(ordered))) - 1]) if len(ordered) else np.nan,
        }
    return pd.DataFrame.from_dict(out, orient="index")


def test_the_windows_count_the_runs_that_ended_before_each_failure(computed):
    runs, got, _ = computed
    expected = _expected(runs)
    assert len(expected) > 100 and set(got.index) == set(expected.index)
    got = got.loc[expected.index]
    assert (got["failures_24h"] > 0).any() and (got["retry_failures_7d"] > 0).any()
    for column in ("failures_24h", "runs_24h", "retry_failures_7d"):
        assert got[column].astype(int).tolist() == expected[column].tolist(), column


def test_the_usual_duration_is_the_median_of_the_14_days_before_the_failure(computed):
    runs, got, _ = computed
    expected = _expected(runs)
    usual = got.loc[expected.index, "duration_sec"] / got.loc[expected.index, "duration_vs_usual"]
    known = expected["usual"].notna()
    assert known.sum() > 100 and (~known).sum() > 0  # the first day of each job has no history
    np.testing.assert_allclose(usual[known].to_numpy(), expected.loc[known, "usual"].to_numpy(), rtol=1e-9)
    assert got.loc[expected.index[~known], "duration_vs_usual"].isna().all()


class _RowsFrom(GoldTables):
    """Gold tables telling the compute that only the rows from ``day`` on are kept."""

    def __init__(self, gold: dict, day: dt.date):
        super().__init__(gold)
        self._day = day

    def rows_from(self) -> dt.date:
        return self._day


@pytest.mark.parametrize("day", [10, 13])
def test_rows_asked_from_a_day_are_the_rows_of_the_whole_computation(computed, day):
    """On day 13, just after a day of failure bursts, a streak of failures (job "x") goes on from
    the runs before the day into it."""
    _, got, gold = computed
    since = (START + dt.timedelta(days=day)).date()
    recent = failed_run_features(_RowsFrom(gold, since)).toPandas().set_index("run_id")
    kept = got[pd.to_datetime(got["failed_date"]).dt.date >= since]
    assert len(kept) > 30 and len(kept) < len(got)
    assert sorted(recent.index) == sorted(kept.index)  # only the rows asked for
    pd.testing.assert_frame_equal(recent.loc[kept.index], kept, check_dtype=False)


def test_the_usual_duration_is_exact_however_the_runs_are_partitioned(spark):
    """A job that ran 20,000 times the day before: the median is its lower middle duration, the
    same from one partition as from several (``percentile_approx`` gave a value that depended on
    the partitioning once a job-day held thousands of runs)."""
    from health_monitor_reliability.features import _usual_duration

    rng = np.random.default_rng(3)
    durations = rng.lognormal(6, 1, 20_000).round(3)
    day = dt.datetime(2025, 3, 1)
    runs = spark.createDataFrame(
        [("j", f"r{i}", day + dt.timedelta(seconds=i * 4), float(d)) for i, d in enumerate(durations)],
        "job_id string, run_id string, end_time timestamp, duration_sec double",
    )
    probed = spark.createDataFrame([("j", "probe", day + dt.timedelta(days=1, hours=1), 1.0)], runs.schema)
    lower_middle = float(np.sort(durations)[len(durations) // 2 - 1])
    for parts in (1, 4):
        row = _usual_duration(runs.repartition(parts), probed, 7).collect()
        assert [(r["run_id"], r["usual_duration_7d"]) for r in row] == [("probe", lower_middle)], parts
