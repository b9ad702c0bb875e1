"""What each feature table costs in a daily run, one table at a time, on a home of your choice.

    python benchmarks/bench_feature_tables.py --home HOME --since YYYY-MM-DD [--repeat 2] TABLE [TABLE ...]

Runs the features stage as the daily run does (``run_features`` with a plan: each TABLE
recomputed from ``--since`` on, the rows before kept) once per table, ``--repeat`` times in one
process, and prints each run's seconds. The first round pays the JVM's warm-up; compare the later
ones. To compare two versions of the code on the same rows, run it twice with ``PYTHONPATH``
pointing at a worktree of each (its ``core`` and ``plugins/<domain>`` folders).

HOME is written to (each run replaces the table's rows from ``--since`` on with the same rows):
give it a copy, e.g. the ``home/`` that ``benchmarks/profile_daily.py --work DIR`` leaves after a
daily run. Take figures with nothing else running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--since", type=dt.date.fromisoformat, required=True, help="the first day recomputed")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("tables", nargs="+", metavar="TABLE")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    if not (args.home / "lakehouse").is_dir():
        parser.error(f"--home {args.home}: no lakehouse/ in it (give a home the demo or a daily run left)")

    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.pipelines.features import run_features
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=args.home))
    host = load_host()
    known = {owned.spec.name for owned in host.feature_tables.values()}
    unknown = [t for t in args.tables if t not in known]
    if unknown:
        parser.error(f"no installed plugin registers feature table(s) {unknown}; known: {sorted(known)}")
    _ = runtime.lakehouse.spark  # started before the clock
    for round_ in range(1, args.repeat + 1):
        for table in args.tables:
            start = time.perf_counter()
            report = run_features(runtime, host, plan={table: args.since}, progress=False)
            item = report.items[0]
            state = "ok" if item.ok else f"FAILED: {item.error}"
            print(f"round {round_}  {table:32} {time.perf_counter() - start:6.1f} s  {state}", flush=True)


if __name__ == "__main__":
    main()
