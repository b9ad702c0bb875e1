"""What one daily write costs: each table's own latest days written again, as the daily run does.

python benchmarks/profile_writes.py --home HOME --work DIR --since YYYY-MM-DD [--repeat 2]
                                    [--table NAME_PART ...]

Copies HOME (a home the daily run has been through, so that its feature and prediction tables
hold the day) to DIR/home, and for every feature table with a day column and every prediction
table of a model scored by day (``--table`` keeps the names containing one of the given parts),
reads its rows from ``--since`` on, caches them, and writes them back with ``replace_where``
(which checks the primary key, counts the rows and their days, rewrites the file across
``since`` and commits): the fixed cost each table pays once a day, whatever its rows. Prints each
table's seconds and the sum per pass; the first pass also compiles each plan, later passes less.

Take figures with nothing else running. To compare two versions of the code, run it from a git
worktree of each: ``PYTHONPATH=WORKTREE/core python benchmarks/profile_writes.py ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (its home/ is replaced)")
    parser.add_argument("--since", type=dt.date.fromisoformat, required=True, help="the first day to rewrite")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the tables")
    parser.add_argument("--table", action="append", default=[], help="keep tables whose name contains this")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.runtime import Runtime

    copy = args.work / "home"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(args.home, copy)
    runtime = Runtime.embedded(Settings(home=copy))
    lakehouse, settings, host = runtime.lakehouse, runtime.settings, load_host()
    days = {
        settings.feature_table(n): o.spec.days_by for n, o in host.feature_tables.items() if o.spec.days_by
    }
    days |= {
        settings.predictions(n): o.spec.time_column for n, o in host.models.items() if o.spec.scores_by_day
    }
    names = [
        n for n in sorted(days) if lakehouse.exists(n) and (not args.table or any(p in n for p in args.table))
    ]
    if not names:
        raise SystemExit("no table to write: run the daily run on HOME first, or check --table")
    for n in range(args.repeat):
        total = 0.0
        for name in names:
            info = lakehouse.describe(name)
            rows = lakehouse.read(name).filter(F.to_date(F.col(days[name])) >= F.lit(args.since))
            rows = rows.localCheckpoint()  # the rows at hand, as the pipelines' cached frame
            start = time.perf_counter()
            written = lakehouse.replace_where(
                name,
                rows,
                column=days[name],
                since=args.since,
                primary_keys=info.primary_keys,
                description=info.description,
            ).written
            seconds = time.perf_counter() - start
            total += seconds
            print(f"pass {n + 1}  {name:66} {written!s:>7} rows  {seconds:5.2f} s", flush=True)
        print(f"pass {n + 1}: {len(names)} tables, {total:.1f} s")


if __name__ == "__main__":
    main()
