"""Time the main job (``health-monitor demo``) per stage on a fresh home, with peak memory.

python benchmarks/bench_demo.py [--scale small|medium|seed] [--seed 7] [--json]

Runs the real command in a subprocess, exactly as a user would, and samples the resident
memory of its whole process tree (the Python driver, Spark's JVM and its Python workers)
every 0.2 s. Stage times are the ones the command itself reports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(pid)
    return total


def run_measured(
    command: list[str], log: Path | None = None
) -> tuple[subprocess.Popen, str, str, float, int]:
    """Run ``command``, sampling the resident memory of its process tree every 0.2 s; returns
    (the finished process, stdout, stderr, wall seconds, peak resident bytes). With ``log``, the
    command's stderr (its progress) goes to that file as it runs, and the returned stderr is its text."""
    peak = 0
    start = time.perf_counter()
    err_to = log.open("w") if log else subprocess.PIPE
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err_to, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if log:
        err_to.close()
        err = log.read_text()
    done.set()
    sampler.join()
    return proc, out, err, wall, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["small", "medium", "seed"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the home folder afterwards")
    parser.add_argument(
        "--home", type=Path, help="build in this (new or empty) folder instead of a temporary one"
    )
    parser.add_argument(
        "--log", type=Path, help="write the command's progress (stderr) to this file as it runs"
    )
    args = parser.parse_args(argv)

    if args.home and args.home.exists() and any(args.home.iterdir()):
        parser.error(f"--home {args.home} is not empty")
    home = args.home or Path(tempfile.mkdtemp(prefix=f"hm-bench-{args.scale}-"))
    command = [
        sys.executable,
        "-m",
        "health_monitor.cli",
        "demo",
        "--home",
        str(home),
        "--scale",
        args.scale,
        "--seed",
        str(args.seed),
    ]
    proc, out, err, wall, peak = run_measured(command, args.log)
    if proc.returncode != 0:
        print(out, err, sep="\n", file=sys.stderr)
        print(f"demo exited with {proc.returncode}", file=sys.stderr)
        return 1
    match = re.search(r"^timings: (.*)$", out, re.MULTILINE)
    stages = (
        {k: float(v.rstrip("s")) for k, v in (p.split() for p in match.group(1).split(", "))} if match else {}
    )
    result = {
        "scale": args.scale,
        "seed": args.seed,
        "wall_seconds": round(wall, 1),
        "stage_seconds": stages,
        "startup_and_summary_seconds": round(wall - sum(stages.values()), 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"demo --scale {args.scale}: {result['wall_seconds']} s wall, peak RSS {result['peak_rss_gib']} GiB "
            f"(driver + JVM + workers), {result['cpus']} CPUs"
        )
        for stage, seconds in stages.items():
            print(f"  {stage:<10} {seconds:7.0f} s")
        print(
            f"  {'other':<10} {result['startup_and_summary_seconds']:7.0f} s  (interpreter, Spark start, summary)"
        )
    if not args.keep and not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
