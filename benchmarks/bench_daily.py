"""Time the daily run (``health-monitor run``) against a full recompute, for one new day.

python benchmarks/bench_daily.py --home HOME [--days 1] [--kinds daily full] [--json]

HOME is a home the main job has run on (``health-monitor demo --home HOME --scale medium``). It
is left untouched: the benchmark copies it twice, lets the simulated account live ``--days`` more
days in each copy (``simulate --advance``), then times, as a user would run them:

- daily: ``health-monitor run --no-train --no-vacuum`` (gold, then features and infer for the
  days that changed);
- full:  ``health-monitor gold``, ``features``, ``infer`` (every feature row and key recomputed).

Stage times are the ones the commands report or their wall time; peak memory is that of the
whole process tree (Python driver, Spark's JVM and Python workers), as PSS and as RSS (see
bench_demo.py).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_demo import Memory, run_measured


def timed(command: list[str]) -> tuple[float, Memory, str]:
    """Run ``command``; returns (seconds, peak memory of its process tree, stdout)."""
    proc, out, err, seconds, peak = run_measured(command)
    if proc.returncode != 0:
        sys.stderr.write(out[-3000:] + err[-3000:])
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}")
    return seconds, peak, out


def item_seconds(out: str) -> dict[str, dict[str, float]]:
    """Per stage, the seconds of each item (feature table, model) the command's summary lists."""
    items: dict[str, dict[str, float]] = {}
    stage = None
    for line in out.splitlines():
        header = re.fullmatch(r"(\w+):", line)
        if header:
            stage = header.group(1)
            continue
        item = re.match(r"  (\S+)\s+[\d,]+ rows\s+([\d.]+)s", line)
        if stage and item:
            items.setdefault(stage, {})[item.group(1)] = float(item.group(2))
    return items


def cli(home: Path, *words: str) -> list[str]:
    return [sys.executable, "-m", "health_monitor.cli", *words, "--home", str(home)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home the demo has run on")
    parser.add_argument("--days", type=int, default=1, help="new days to simulate (default 1)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=["daily", "full"],
        default=["daily", "full"],
        help="which to time (default both, one after the other)",
    )
    parser.add_argument("--work", type=Path, help="copy the home into this folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.home / "simulation.json").exists():
        raise SystemExit(f"--home {args.home}: not a simulated home the demo has run on")

    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hm-bench-daily-", dir=args.work))
    result: dict = {"home": str(args.home), "days": args.days}
    try:
        for kind in args.kinds:
            home = work / kind
            shutil.copytree(args.home, home)
            subprocess.run(
                cli(home, "simulate", "--advance", str(args.days)), check=True, capture_output=True
            )
            if kind == "daily":
                seconds, peak, out = timed(cli(home, "run", "--no-train", "--no-vacuum"))
                stages = {k: float(v) for k, v in re.findall(r"(\w+) (\d+)s", out.split("timings:")[-1])}
                result["daily"] = {"seconds": round(seconds, 1), **peak.gib(), **stages}
                result["daily"]["items"] = item_seconds(out)
            else:
                full: dict = {}
                peak, items = Memory(), {}
                for stage in ("gold", "features", "infer"):
                    seconds, used, out = timed(cli(home, stage))
                    full[stage] = round(seconds, 1)
                    peak = peak.peak(used)
                    items.update(item_seconds(out))
                full["seconds"] = round(sum(full.values()), 1)
                full.update(peak.gib())
                full["items"] = items
                result["full"] = full
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind in args.kinds:
            stages = ", ".join(f"{k} {v}" for k, v in result[kind].items() if k != "items")
            print(f"{kind:<6} {stages}")
            for stage, seconds in result[kind]["items"].items():
                slowest = sorted(seconds.items(), key=lambda kv: -kv[1])[:8]
                print(f"       {stage}: " + ", ".join(f"{k} {v:.0f}s" for k, v in slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
