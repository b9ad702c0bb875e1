"""How much of a day's features and inference the history costs: the same day on a home and on
a copy that keeps only its last days.

    python benchmarks/bench_history_floor.py --home HOME --work DIR --day YYYY-MM-DD
                                             [--keep-days 15] [--passes 2]

HOME is a home a daily run left (``benchmarks/profile_daily.py --work DIR`` leaves one in
``DIR/home``), with models. The copy, ``DIR/short``, gets HOME's Gold, feature, prediction and
state tables and its MLflow folder (no system tables: the stages below do not read them), then
every Gold fact and snapshot table and every feature table loses its rows from before ``--day``
minus ``--keep-days`` days (by its time column; the Gold dimensions, SCD2 histories of the
entities, stay whole). Then, in a fresh process per home and pass, alternating, the day's
features stage and then its inference (every feature table recomputed, and every model's keys
rescored, from ``--day`` minus its late days, as the daily run plans a day), each under
the daily run's Spark settings and items at once (``sized_for_a_day``). Prints each stage's
seconds per home and pass, and each item's mean seconds on both and the difference (the part of
the item that grows with the history; with two items at once an item's seconds include waiting
for the cores, so they sum to about twice the stage).

The short copy's rows are not what a correct day computes (its windows and all-time figures lack
the older days): it bounds from below what any way of carrying the history (per-key state instead
of the rows) could make of the same day, the rest being the day's own rows and each item's fixed
cost. HOME is written to (the day's feature rows and predictions replaced by the same rows): give
it a copy. Take figures with nothing else running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATE_SCHEMAS = ("gold", "features", "ml", "ops")  # the Settings.schemas copied; not ground truth
TRUNCATED_GOLD = ("fact_", "information_schema_")  # facts and daily snapshots; dimensions stay whole


def short_copy(home: Path, target: Path, day: dt.date, keep_days: int) -> None:
    """``target``: ``home`` without system tables, its facts and feature tables cut to the last
    ``keep_days`` days before ``day`` (and the days from it on)."""
    from pyspark.sql import functions as F

    from health_monitor.config import ACCOUNT_FILE_NAME, Settings
    from health_monitor.gold.contract import GOLD_TABLES
    from health_monitor.host import load_host
    from health_monitor.jobs import SIMULATION_FILE
    from health_monitor.runtime import Runtime

    source, copy = Settings(home=home), Settings(home=target)
    if target.exists():
        raise SystemExit(f"{target} exists: give a --work folder without a short/ in it")
    catalog = source.lakehouse_dir / source.catalog
    if not (catalog / source.schemas.gold).is_dir():
        raise SystemExit(
            f"{source.lakehouse_dir}: no catalog folder with a gold/ schema in it (build Gold first)"
        )
    target.mkdir(parents=True)
    for name in (ACCOUNT_FILE_NAME, SIMULATION_FILE):
        if (home / name).exists():
            shutil.copy2(home / name, target / name)
    shutil.copytree(source.mlflow_dir, copy.mlflow_dir)
    if (source.lakehouse_dir / "_loads").is_dir():  # the load journal (refuse_if_half_loaded reads it)
        shutil.copytree(source.lakehouse_dir / "_loads", copy.lakehouse_dir / "_loads")
    for kind in STATE_SCHEMAS:
        schema = getattr(source.schemas, kind)
        if (catalog / schema).is_dir():
            shutil.copytree(catalog / schema, copy.lakehouse_dir / copy.catalog / schema)

    runtime = Runtime.embedded(copy)
    lakehouse, settings = runtime.lakehouse, runtime.settings
    first = day - dt.timedelta(days=keep_days)
    cut = [
        (settings.gold(t.name), t.time_column)
        for t in GOLD_TABLES.values()
        if t.name.startswith(TRUNCATED_GOLD) and t.time_column
    ]
    cut += [
        (settings.feature_table(o.spec.name), o.spec.days_by or o.spec.timestamp_key)
        for o in load_host().feature_tables.values()
        if o.spec.days_by or o.spec.timestamp_key
    ]
    for name, column in cut:
        if not lakehouse.exists(name):
            continue
        info = lakehouse.describe(name)
        kept = lakehouse.read(name).where(F.to_date(F.col(column)) >= F.lit(first))
        written = lakehouse.write(
            name,
            kept,
            primary_keys=list(info.primary_keys) or None,
            timestamp_key=info.timestamp_key,
            description=info.description,
            cluster_by=column,
        )
        print(f"  {name}: {info.rows:,} -> {written.rows:,} rows", flush=True)


def one_day(home: Path, day: dt.date) -> dict:
    """The day's features, then its inference, in this process: seconds per stage and item."""
    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.lakehouse.spark import sized_for_a_day
    from health_monitor.pipelines.features import run_features
    from health_monitor.pipelines.infer import run_infer
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=home))
    host = load_host()
    _ = runtime.lakehouse.spark  # started before the clock
    out: dict = {"stages": {}, "items": {}, "failed": []}
    tables = {o.spec.name: day - dt.timedelta(days=o.spec.late_days) for o in host.feature_tables.values()}
    models = {o.spec.name: day - dt.timedelta(days=o.spec.late_days) for o in host.models.values()}
    for stage, run, plan in (("features", run_features, tables), ("infer", run_infer, models)):
        with sized_for_a_day() as workers:
            start = time.perf_counter()
            report = run(runtime, host, progress=False, plan=plan, workers=workers)
            out["stages"][stage] = round(time.perf_counter() - start, 1)
        for item in report.items:
            out["items"][f"{stage} {item.item}"] = round(item.seconds, 2)
        out["failed"] += [f"{stage} {item.item}: {item.error}" for item in report.failed]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--day", type=dt.date.fromisoformat, required=True, help="the day recomputed")
    parser.add_argument("--keep-days", type=int, default=15, help="days of history the short copy keeps")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--one-day", type=Path, help=argparse.SUPPRESS)  # a pass: the home to time
    parser.add_argument(
        "--make-short", action="store_true", help=argparse.SUPPRESS
    )  # the copy, in its own JVM
    args = parser.parse_args()
    if args.one_day is not None:
        print(json.dumps(one_day(args.one_day, args.day)))
        return
    if args.make_short:
        short_copy(args.home, args.work / "short", args.day, args.keep_days)
        return
    if args.keep_days < 1 or args.passes < 1:
        parser.error("--keep-days and --passes take 1 or more")
    from health_monitor.config import Settings

    given = Settings(home=args.home)
    for folder in (given.lakehouse_dir, given.mlflow_dir):
        if not folder.is_dir():
            parser.error(
                f"--home {args.home}: no {folder.name}/ in it (give a home a daily run left, with models)"
            )

    short = args.work / "short"
    if short.exists():
        parser.error(f"--work {args.work}: {short} exists (a short copy from before): give another folder")
    print(f"copying {args.home} to {short} with {args.keep_days} days before {args.day}", flush=True)
    common = ["--home", str(args.home), "--work", str(args.work), "--day", args.day.isoformat()]
    made = subprocess.run(
        [sys.executable, __file__, *common, "--keep-days", str(args.keep_days), "--make-short"]
    )
    if made.returncode != 0:
        raise SystemExit(f"making {short} failed (exit {made.returncode})")
    runs: dict[str, list[dict]] = {"whole": [], "short": []}
    for pass_ in range(1, args.passes + 1):
        for kind, home in (("whole", args.home), ("short", short)):
            done = subprocess.run(
                [sys.executable, __file__, *common, "--one-day", str(home)],
                capture_output=True,
                text=True,
                env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"},
            )
            if done.returncode != 0:
                raise SystemExit(f"the {kind} pass {pass_} failed:\n{done.stderr[-4000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[kind].append(result)
            stages = ", ".join(f"{k} {v} s" for k, v in result["stages"].items())
            failed = f"; FAILED: {result['failed']}" if result["failed"] else ""
            print(
                f"pass {pass_} {kind:5}: {stages}, both {sum(result['stages'].values()):.1f} s{failed}",
                flush=True,
            )

    mean = {kind: {} for kind in runs}
    for kind, results in runs.items():
        for name in results[0]["items"]:
            mean[kind][name] = statistics.mean(r["items"].get(name, 0.0) for r in results)
    rows = sorted(mean["whole"], key=lambda n: mean["short"].get(n, 0.0) - mean["whole"][n])
    print(f"\n{'item (mean seconds)':52} {'whole':>7} {'short':>7} {'history':>8}")
    for name in rows:
        whole, cut = mean["whole"][name], mean["short"].get(name, 0.0)
        print(f"{name:52} {whole:7.1f} {cut:7.1f} {whole - cut:8.1f}")
    totals = {kind: sum(m.values()) for kind, m in mean.items()}
    print(
        f"{'all items':52} {totals['whole']:7.1f} {totals['short']:7.1f} {totals['whole'] - totals['short']:8.1f}"
    )


if __name__ == "__main__":
    main()
