"""Where a daily run's time goes on a small home: per stage, per item, and under Spark settings.

python benchmarks/profile_daily.py --home HOME --work DIR [--days 2] [--conf KEY=VALUE ...]
                                   [--build] [--event-log DIR] [--threads] [--workers N]

``--build`` first makes HOME as the tests' ``trained_home`` fixture does (the test account:
small scale, 75 days, seed 11, ending 2026-10-31; Gold; features, train and infer with every
installed plugin), and says how long each stage took. Then HOME is copied to DIR/home (HOME is
left untouched), the simulated account lives ``--days`` more days (``simulate --advance``) and
the daily run (``health-monitor run`` without training or vacuum) runs in this process, its
Spark session started first, with each ``--conf`` set on the session (SQL settings only: the
ones read when a query is planned; in the features and infer stages the daily run's own
shuffle partitions and adaptive execution take the place of a ``--conf`` of those keys, unless
``HEALTH_MONITOR_SPARK_CONF`` sets them). Prints the stage and item seconds. ``--event-log`` keeps
Spark's event log there (its jobs, stages and tasks) for a closer look (``benchmarks/eventlog_items.py``
sums it per feature table and model). ``--threads`` prints, at
the end, the CPU seconds of each thread kind of the Spark JVM (JIT compilers, Spark's tasks,
garbage collector, from ``/proc``; Linux only) and of this Python process. ``--workers N`` runs up to
N feature tables, then N models, at once (``health-monitor run --workers N``); without it, as many
as the daily run picks (two on a local master of 2 cores or more). To see which Python
calls wait, run it under ``py-spy record --idle``.

Take figures with nothing else running; run it several times: the same run varies by about 5%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

# No MLflow download bars between the timings (the CLI turns them off the same way).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def build(home: Path) -> None:
    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.jobs import build_gold_into, run_pipelines, simulate_into
    from health_monitor.runtime import Runtime
    from health_monitor.testing.fixtures import TEST_DAYS, TEST_END_DATE, TEST_SCALE, TEST_SEED

    if home.exists():
        raise SystemExit(f"--build: {home} exists; give a new folder")
    runtime = Runtime.embedded(Settings(home=home))
    start = time.perf_counter()
    simulate_into(runtime, TEST_SCALE, TEST_SEED, TEST_DAYS, TEST_END_DATE)
    print(f"build: simulate {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    host = load_host()
    if not build_gold_into(runtime, host=host).ok:
        raise SystemExit("--build: the Gold build failed")
    print(f"build: gold {time.perf_counter() - start:.1f} s")
    result = run_pipelines(runtime, host)
    print("build: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (its home/ is replaced)")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--event-log", type=Path)
    parser.add_argument("--threads", action="store_true", help="CPU seconds per JVM thread kind at the end")
    parser.add_argument(
        "--workers", type=int, help="items of features and infer run at once (default: the daily run's own)"
    )
    args = parser.parse_args()
    confs = []
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("spark.sql."):
            parser.error(f"--conf takes spark.sql.KEY=VALUE, got {item!r}")
        confs.append((key, value))
    if args.event_log:
        args.event_log.mkdir(parents=True, exist_ok=True)
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{args.event_log.resolve()} "
            "pyspark-shell"
        )
    if args.build:
        build(args.home)

    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.jobs import DailySettings, advance_into, run_daily
    from health_monitor.runtime import Runtime

    copy = args.work / "home"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(args.home, copy)
    runtime = Runtime.embedded(Settings(home=copy, workers=args.workers))
    host = load_host()
    start = time.perf_counter()
    advance_into(runtime, args.days)
    print(f"advance {args.days} day(s): {time.perf_counter() - start:.1f} s")
    spark = runtime.lakehouse.spark  # started before the clock
    for key, value in confs:
        spark.conf.set(key, value)
    start = time.perf_counter()
    result = run_daily(runtime, host, DailySettings(train_every_days=None, retain_days=None))
    print(
        f"daily run: {time.perf_counter() - start:.1f} s; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    )
    for step in result.details["gold"].steps:
        print(f"  gold      {step.table:45} {step.seconds:6.1f} s  {step.status}")
    for report in result.reports:
        for item in report.items:
            state = "ok" if item.ok else f"FAILED: {item.error}"
            print(f"  {report.stage:9} {item.item:45} {item.seconds:6.1f} s  {state}")
    if args.threads:
        print_thread_cpu()


def print_thread_cpu() -> None:
    """CPU seconds (user + system) of this process, and of each Java child by thread name with
    its number dropped (``C2 CompilerThread0`` and ``1`` add up), from ``/proc``."""
    import collections
    import re
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"python driver: {usage.ru_utime + usage.ru_stime:.1f} s CPU")
    tick = os.sysconf("SC_CLK_TCK")
    for pid in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for child in pid.read_text().split():
            if "java" not in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                continue
            kinds: collections.Counter = collections.Counter()
            for task in Path(f"/proc/{child}/task").iterdir():
                try:
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    kind = re.sub(r"[#-]?\d+$", "", (task / "comm").read_text().strip())
                except OSError:  # a thread that ended meanwhile
                    continue
                kinds[kind] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            print(f"JVM {child}: {sum(kinds.values()):.1f} s CPU")
            for kind, seconds in kinds.most_common(8):
                print(f"  {kind:25} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
