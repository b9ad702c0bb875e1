"""Time the main job (``health-monitor demo``) per stage on a fresh home, with peak memory.

python benchmarks/bench_demo.py [--scale small|medium|seed] [--seed 7] [--days N] [--json]

Runs the real command in a subprocess, exactly as a user would, and samples the memory of its
whole process tree (the Python driver, Spark's JVM and its Python workers) every 0.2 s, two ways:
RSS, which counts a page shared by forked processes (Spark's Python workers) once per process,
and PSS, which splits it among them, so that a sum over processes counts it once. Stage times
are the ones the command itself reports.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    """``pid``'s child processes; none if it has ended (its threads are read one by one)."""
    out = []
    with contextlib.suppress(OSError):  # the process ended meanwhile
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out += [int(c) for c in Path(task.path, "children").read_text().split()]
    return out


@dataclass(frozen=True)
class Memory:
    """Bytes of a process tree: ``rss`` sums each process's resident pages (a page that forked
    processes share is counted in each); ``pss`` sums their proportional shares (counted once)."""

    rss: int = 0
    pss: int = 0

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss)

    def peak(self, other: Memory) -> Memory:
        return Memory(max(self.rss, other.rss), max(self.pss, other.pss))

    def gib(self) -> dict[str, float]:
        """``peak_rss_gib`` and ``peak_pss_gib``, as the benchmarks report a peak."""
        return {"peak_rss_gib": round(self.rss / 2**30, 2), "peak_pss_gib": round(self.pss / 2**30, 2)}


def _pss(pid: int) -> int:
    """A process's proportional set size in bytes (``/proc/PID/smaps_rollup``, Linux 4.14+)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no Pss line for process {pid}")


def is_java(argv: list[bytes]) -> bool:
    """Whether a command line (``/proc/PID/cmdline`` split at NUL) runs a JVM."""
    return argv[0].endswith(b"java")


def tree(root: int) -> Iterator[tuple[int, list[bytes]]]:
    """``(pid, argv)`` of ``root`` and all its descendants, each before its children (one that
    ends meanwhile has none; ``argv`` is its command line split at NUL).

    Left out: a JVM's child still running the JVM's own command line. Java starts a program with
    ``posix_spawn``, whose child shares the JVM's memory (``CLONE_VM``) until it runs the program,
    so for that instant its PSS is the whole JVM's again: a sample that caught one read twice the
    JVM (3.89 -> 7.79 GiB during a seed ``features``, one sample in 2,050)."""
    stack: list[tuple[int, list[bytes]]] = [(root, [])]
    while stack:
        pid, parent = stack.pop()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv == parent and is_java(argv):
            continue  # (its children, if any, are its own program's: it has not run one yet)
        yield pid, argv
        stack += [(child, argv) for child in _children(pid)]


def tree_memory(root: int) -> Memory:
    """The memory of ``root`` and all its descendants (a process that ends meanwhile is skipped)."""
    total = Memory()
    for pid, _ in tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            total += Memory(rss, _pss(pid))
    return total


@dataclass
class Trace:
    """A run's memory over time: (seconds since the start, memory) every 0.2 s, and when its
    command printed its first line of stdout."""

    samples: list[tuple[float, Memory]] = field(default_factory=list)
    first_line_at: float | None = None


def run_measured(
    command: list[str], log: Path | None = None, trace: Trace | None = None
) -> tuple[subprocess.Popen, str, str, float, Memory]:
    """Run ``command``, sampling the memory of its process tree every 0.2 s; returns (the
    finished process, stdout, stderr, wall seconds, peak memory: RSS and PSS peak separately). With ``log``, the
    command's stderr (its progress) goes to that file as it runs, and the returned stderr is its text.
    With ``trace``, the samples and the time of the command's first line of stdout (unbuffered for
    it) are kept there."""
    peak = Memory()
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
            now = tree_memory(proc.pid)
            peak = peak.peak(now)
            if trace is not None:
                trace.samples.append((time.perf_counter() - start, now))
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


def stage_peaks(
    samples: list[tuple[float, Memory]], start: float, stages: dict[str, float], kind: str = "pss"
) -> dict[str, float]:
    """Peak GiB of ``kind`` (``rss`` or ``pss``) within each stage, the stages taken to run one
    after the other from ``start`` (seconds) for the times they report."""
    peaks, at = {}, start
    for stage, seconds in stages.items():
        inside = [getattr(m, kind) for t, m in samples if at <= t < at + seconds]
        peaks[stage] = round(max(inside, default=0) / 2**30, 2)
        at += seconds
    return peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["small", "medium", "seed"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, help="days of history (default: the scale's own)")
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
        *(["--days", str(args.days)] if args.days is not None else []),
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
        "days": args.days,
        "wall_seconds": round(wall, 1),
        "stage_seconds": stages,
        "startup_and_summary_seconds": round(wall - sum(stages.values()), 1),
        **peak.gib(),
        "cpus": os.cpu_count(),
    }
    # The demo prints its first line just before its first stage and its stages run back to back.
    if trace.first_line_at is not None:
        result["stage_peak_pss_gib"] = stage_peaks(trace.samples, trace.first_line_at, stages)
        result["stage_peak_rss_gib"] = stage_peaks(trace.samples, trace.first_line_at, stages, "rss")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"demo --scale {args.scale}: {result['wall_seconds']} s wall, peak PSS {result['peak_pss_gib']} GiB "
            f"(RSS {result['peak_rss_gib']} GiB; driver + JVM + workers), {result['cpus']} CPUs"
        )
        for stage, seconds in stages.items():
            stage_peak = result.get("stage_peak_pss_gib", {}).get(stage)
            print(f"  {stage:<10} {seconds:7.0f} s" + (f"  peak PSS {stage_peak} GiB" if stage_peak else ""))
        print(
            f"  {'other':<10} {result['startup_and_summary_seconds']:7.0f} s  (interpreter, Spark start, summary)"
        )
    if not args.keep and not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
