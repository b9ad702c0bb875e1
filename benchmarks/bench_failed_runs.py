"""How failed_run_features' cost grows with how often a job runs.

    python benchmarks/bench_failed_runs.py [--every 20 5 2] [--days 21] [--jobs 2] [--features FILE]

For each interval (minutes between runs), ``--jobs`` jobs run every interval for ``--days`` days
(5% of runs fail, in bursts on every sixth day; half the failures are retried once), the reliability
plugin's ``failed_run_features`` is computed from those Gold rows, and its rows are counted (every
column computed: Spark's ``noop`` write). Prints runs, failed rows and seconds per interval. A cost
that grows with the square of a job's run frequency shows as time growing faster than runs.
``--features`` takes ``failed_run_features`` from another copy of the plugin's ``features.py``
(e.g. ``git show REV:plugins/reliability/health_monitor_reliability/features.py > old.py``), to
compare two versions on the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from health_monitor.testing.pointintime import GoldTables


def trace(spark, every_minutes: float, days: int, jobs: int, seed: int = 5):
    """Gold's ``fact_job_run_timeline`` (one slice per run: runs last under an hour), an empty
    node timeline and job dimension."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-03-01T00:00:00")
    per_job = int(days * 24 * 60 / every_minutes)
    rows = []
    for job in range(jobs):
        starts = start + (np.arange(per_job) * every_minutes * 60).astype("timedelta64[s]")
        durations = rng.integers(30, max(31, int(every_minutes * 60 * 0.8)), per_job).astype("timedelta64[s]")
        day = (starts - start).astype("timedelta64[D]").astype(int)
        failed = rng.random(per_job) < np.where(day % 6 == 5, 0.2, 0.03)
        for s, d, f in zip(starts.tolist(), durations.tolist(), failed.tolist(), strict=True):
            rows.append((f"job{job}", s, s + d, "FAILED" if f else "SUCCEEDED", "CRON"))
            if f and rng.random() < 0.5:
                retry = s + d + dt.timedelta(seconds=30)
                rows.append((f"job{job}", retry, retry + d, "SUCCEEDED", "ONETIME_RETRY"))
    data = [
        (
            "w",
            job,
            f"r{i}",
            s,
            e,
            state,
            "SUCCESS" if state == "SUCCEEDED" else "RUN_EXECUTION_ERROR",
            trigger,
        )
        for i, (job, s, e, state, trigger) in enumerate(rows)
    ]
    from pyspark.sql import functions as F

    timeline = spark.createDataFrame(
        data,
        "workspace_id string, job_id string, run_id string, period_start_time timestamp, "
        "period_end_time timestamp, result_state string, termination_code string, trigger_type string",
    ).select("*", F.lit("JOB_RUN").alias("run_type"), F.lit(None).cast("string").alias("cluster_id"))
    nodes = spark.createDataFrame(
        [], "cluster_id string, start_time timestamp, end_time timestamp, mem_used_percent double"
    )
    jobs_dim = spark.createDataFrame([], "job_id string, change_time timestamp, create_time timestamp")
    return len(data), {
        "fact_job_run_timeline": timeline.cache(),
        "fact_node_timeline": nodes,
        "dim_job": jobs_dim,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, nargs="+", default=[20, 5, 2], help="minutes between runs")
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--features", help="a features.py to take failed_run_features from")
    args = parser.parse_args()

    from health_monitor.lakehouse.spark import get_spark
    from health_monitor_reliability.features import failed_run_features

    if args.features:
        import importlib.util

        spec = importlib.util.spec_from_file_location("features_under_test", args.features)
        if spec is None or spec.loader is None:
            parser.error(f"--features: cannot load {args.features}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        failed_run_features = module.failed_run_features

    spark = get_spark()
    print(f"{'every (min)':>11} {'runs':>8} {'failed rows':>11} {'seconds':>8}")
    for every in args.every:
        runs, gold = trace(spark, every, args.days, args.jobs)
        gold["fact_job_run_timeline"].count()  # cached: time the features, not the trace
        features = failed_run_features(GoldTables(gold))
        begin = time.perf_counter()
        features.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - begin
        print(f"{every:>11g} {runs:>8} {features.count():>11} {seconds:>8.1f}", flush=True)
        gold["fact_job_run_timeline"].unpersist()


if __name__ == "__main__":
    main()
