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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Trace:
    """A run's memory over time: (seconds since the start, resident bytes) every 0.2 s, and when
    its command printed its first line of stdout."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    first_line_at: float | None = None


def run_measured(
    command: list[str], log: Path | None = None, trace: Trace | None = None
) -> tuple[subprocess.Popen, str, str, float, int]:
    """Run ``command``, sampling the resident memory of its process tree every 0.2 s; returns
    (the finished process, stdout, stderr, wall seconds, peak resident bytes). With ``log``, the
    command's stderr (its progress) goes to that file as it runs, and the returned stderr is its text.
    With ``trace``, the samples and the time of the command's first line of stdout (unbuffered for
    it) are kept there."""
    peak = 0
    start = time.perf_counter()
    err_to: Any = log.open("w") if log else subprocess.PIPE
    if trace is not None and not log:  # stdout is read as it comes: stderr must not fill a pipe meanwhile
        err_to = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed once read, below
    env = {**os.environ, "PYTHONUNBUFFERED": "1"} if trace is not None else None
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err_to, text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            rss = tree_rss(proc.pid)
            peak = max(peak, rss)
            if trace is not None:
                trace.samples.append((time.perf_counter() - start, rss))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines: list[str] = []
    if trace is not None:  # read stdout as it comes, noting when its first line came
        assert proc.stdout is not None
        for line in proc.stdout:
            if not lines:
                trace.first_line_at = time.perf_counter() - start
            lines.append(line)
        proc.wait()
        out, err = "".join(lines), ""
        if not log:
            err_to.seek(0)
            err = err_to.read()
            err_to.close()
    else:
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    if log:
        err_to.close()
        err = log.read_text()
    done.set()
    sampler.join()
    return proc, out, err, wall, peak


def stage_peaks(samples: list[tuple[float, int]], start: float, stages: dict[str, float]) -> dict[str, float]:
    """Peak resident GiB within each stage, the stages taken to run one after the other from
    ``start`` (seconds) for the times they report."""
    peaks, at = {}, start
    for stage, seconds in stages.items():
        inside = [rss for t, rss in samples if at <= t < at + seconds]
        peaks[stage] = round(max(inside, default=0) / 2**30, 2)
        at += seconds
    return peaks


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
    trace = Trace()
    proc, out, err, wall, peak = run_measured(command, args.log, trace)
    if proc.returncode != 0:
        print(out, err, sep="\n", file=sys.stderr)
        print(f"demo exited with {proc.returncode}", file=sys.stderr)
        return 1
    match = re.search(r"^timings: (.*)$", out, re.MULTILINE)
    stages = (
        {k: float(v.rstrip("s")) for k, v in (p.split() for p in match.group(1).split(", "))} if match else {}
    )
    simulated = re.search(r"^simulated a .*: (\d+) system tables, ([\d,]+) rows$", out, re.MULTILINE)
    result = {
        "scale": args.scale,
        "system_rows": int(simulated.group(2).replace(",", "")) if simulated else None,
        "seed": args.seed,
        "wall_seconds": round(wall, 1),
        "stage_seconds": stages,
        "startup_and_summary_seconds": round(wall - sum(stages.values()), 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "cpus": os.cpu_count(),
    }
    # The demo prints its first line just before its first stage and its stages run back to back.
    if trace.first_line_at is not None:
        result["stage_peak_rss_gib"] = stage_peaks(trace.samples, trace.first_line_at, stages)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"demo --scale {args.scale}: {result['wall_seconds']} s wall, peak RSS {result['peak_rss_gib']} GiB "
            f"(driver + JVM + workers), {result['cpus']} CPUs"
        )
        for stage, seconds in stages.items():
            stage_peak = result.get("stage_peak_rss_gib", {}).get(stage)
            print(f"  {stage:<10} {seconds:7.0f} s" + (f"  peak {stage_peak} GiB" if stage_peak else ""))
        print(
            f"  {'other':<10} {result['startup_and_summary_seconds']:7.0f} s  (interpreter, Spark start, summary)"
        )
    if not args.keep and not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
