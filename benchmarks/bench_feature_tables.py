"""What each feature table or model costs in a daily run, one at a time, on a home of your choice.

    python benchmarks/bench_feature_tables.py --home HOME --since YYYY-MM-DD [--repeat 2] NAME [NAME ...]

Runs the features stage as the daily run does (``run_features`` with a plan: each feature table
NAME recomputed from ``--since`` on, the rows before kept), or for a model NAME the infer stage
(``run_infer``: its keys from ``--since`` on rescored), once per name, ``--repeat`` times in one
process, and prints each run's seconds. The first round pays the JVM's warm-up; compare the later
ones. To compare two versions of the code on the same rows, run it twice with ``PYTHONPATH``
pointing at a worktree of each (its ``core`` and ``plugins/<domain>`` folders).

HOME is written to (each run replaces the table's rows from ``--since`` on with the same rows;
a model's, with its champion's predictions):
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
    parser.add_argument("names", nargs="+", metavar="NAME", help="feature tables and models")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    if not (args.home / "lakehouse").is_dir():
        parser.error(f"--home {args.home}: no lakehouse/ in it (give a home the demo or a daily run left)")

    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.pipelines.features import run_features
    from health_monitor.pipelines.infer import run_infer
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=args.home))
    host = load_host()
    stages = {owned.spec.name: run_features for owned in host.feature_tables.values()}
    stages.update({owned.spec.name: run_infer for owned in host.models.values()})
    unknown = [n for n in args.names if n not in stages]
    if unknown:
        parser.error(
            f"no installed plugin registers feature table(s) or model(s) {unknown}; known: {sorted(stages)}"
        )
    _ = runtime.lakehouse.spark  # started before the clock
    for round_ in range(1, args.repeat + 1):
        for name in args.names:
            start = time.perf_counter()
            report = stages[name](runtime, host, plan={name: args.since}, progress=False)
            item = report.items[0]
            state = "ok" if item.ok else f"FAILED: {item.error}"
            print(f"round {round_}  {name:32} {time.perf_counter() - start:6.1f} s  {state}", flush=True)


if __name__ == "__main__":
    main()
