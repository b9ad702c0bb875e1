"""Time the Gold build at a scale: a full build, a second run with nothing new, and an
incremental run after one more simulated day against a full rebuild of the same tables.

python benchmarks/bench_gold.py --scale small|medium|seed [--seed 7] [--keep]

One process, Spark started before the clock runs (its start-up is not part of any figure).
Measure alone: figures taken while other work runs on the machine are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from health_monitor.config import Settings
from health_monitor.gold.build.runner import build_gold
from health_monitor.jobs import advance_into, simulate_into
from health_monitor.lakehouse.spark import get_spark
from health_monitor.runtime import Runtime


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _gold_files(runtime: Runtime) -> dict[str, set[str]]:
    lakehouse = runtime.lakehouse
    return {
        name.split(".")[-1]: set(lakehouse.file_uris(name))
        for name in lakehouse.list_tables(runtime.settings.catalog, runtime.settings.schemas.gold)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["small", "medium", "seed"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the home folder afterwards")
    args = parser.parse_args(argv)
    get_spark()
    home = Path(tempfile.mkdtemp(prefix=f"hm-bench-gold-{args.scale}-"))
    runtime = Runtime.embedded(Settings(home=home))
    figures: dict[str, object] = {"scale": args.scale, "seed": args.seed, "home": str(home)}
    rows, figures["simulate_s"] = _timed(lambda: simulate_into(runtime, args.scale, args.seed, None, None))
    figures["system_rows"] = sum(n for name, n in rows.items() if name.startswith("system."))

    def build(**kwargs):
        report = build_gold(runtime, progress=False, **kwargs)
        if not report.ok:
            raise SystemExit(f"gold failed: {[(s.table, s.error) for s in report.steps if s.error]}")
        return report

    report, figures["full_s"] = _timed(lambda: build(full=True))
    figures["gold_rows"] = sum(s.rows for s in report.steps)
    figures["per_table_full_s"] = {s.table: round(s.seconds, 1) for s in report.steps}
    report, figures["noop_s"] = _timed(build)
    figures["noop_statuses"] = sorted({s.status for s in report.steps})
    _, figures["advance_1_day_s"] = _timed(lambda: advance_into(runtime, 1))
    files_before = _gold_files(runtime)
    report, figures["incremental_s"] = _timed(build)
    figures["per_table_incremental_s"] = {s.table: round(s.seconds, 1) for s in report.steps}
    # Per table: "rewritten/total" data files of the incremental commit (the rest were kept as is).
    files_after = _gold_files(runtime)
    figures["incremental_files_rewritten"] = {
        t: f"{len(files_after[t] - files_before.get(t, set()))}/{len(files_after[t])}"
        for t in sorted(files_after)
        if files_after[t] != files_before.get(t)
    }
    report, figures["full_after_advance_s"] = _timed(lambda: build(full=True))
    figures["per_table_full_after_advance_s"] = {s.table: round(s.seconds, 1) for s in report.steps}
    for key, value in list(figures.items()):
        if key.endswith("_s") and isinstance(value, float):
            figures[key] = round(value, 1)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:<26} {value}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
