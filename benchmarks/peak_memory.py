"""Run a command as a user would; report its wall time and its process tree's peak memory, by kind.

python benchmarks/peak_memory.py [--every 0.5] [--json] [--trace FILE] [--log FILE] -- COMMAND [ARG...]

e.g. ``python benchmarks/peak_memory.py -- .venv/bin/health-monitor simulate --scale seed --home H``.
Every ``--every`` seconds it sums the PSS of the command and all its descendants (``bench_demo``'s
sampler: a page that forked processes share counts once), split into kinds of process: the
command's own process (``driver``), Spark's JVM (``jvm``), Spark's Python workers (``workers``)
and anything else (``other``). It reports the peak of the sum with its split at that sample, and
each kind's own peak (which may fall at other times). ``--trace`` writes every sample there as a
JSON line (``t``: seconds since the start, then GiB per kind), to see which step of the command
made the peak; ``--log`` keeps the command's stdout and stderr there. Otherwise its output is
discarded; its exit code is reported, and its last lines of stderr when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_demo import _pss, is_java, tree

KINDS = ("driver", "jvm", "workers", "other")


def kind(pid: int, argv: list[bytes], root: int) -> str:
    """The kind of process ``pid`` is, from its command line ``argv`` (split at NUL)."""
    if pid == root:
        return "driver"
    if is_java(argv):
        return "jvm"
    return "workers" if any(b"pyspark.daemon" in a or b"pyspark.worker" in a for a in argv) else "other"


def sample(root: int) -> dict[str, int]:
    """PSS bytes per kind of process in ``root``'s tree (a process that ends meanwhile is skipped)."""
    out = dict.fromkeys(KINDS, 0)
    for pid, argv in tree(root):
        with contextlib.suppress(OSError, ValueError):
            out[kind(pid, argv, root)] += _pss(pid)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples (default 0.5)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--trace", type=Path, help="write each sample to this file (JSON lines)")
    parser.add_argument("--log", type=Path, help="write the command's stdout and stderr to this file")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.every <= 0:
        parser.error(f"--every must be positive, got {args.every}")
    gib = lambda b: round(b / 2**30, 2)  # noqa: E731
    start = time.perf_counter()
    # stderr to a file, not a pipe: a command that says more than a pipe holds would block on it
    errors = args.log.open("w+b") if args.log else tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    trace = args.trace.open("w") if args.trace else None  # noqa: SIM115 - closed below
    output = errors if args.log else subprocess.DEVNULL
    proc = subprocess.Popen(command, stdout=output, stderr=errors)
    peak: dict[str, int] = dict.fromkeys(KINDS, 0)
    each: dict[str, int] = dict.fromkeys(KINDS, 0)
    samples = 0
    while proc.poll() is None:
        now = sample(proc.pid)
        samples += 1
        if trace is not None:
            at = {"t": round(time.perf_counter() - start, 1), **{k: gib(v) for k, v in now.items()}}
            trace.write(json.dumps(at) + "\n")
        each = {k: max(each[k], now[k]) for k in KINDS}
        if sum(now.values()) > sum(peak.values()):
            peak = now
        time.sleep(args.every)
    errors.seek(0)
    err = errors.read().decode(errors="replace")
    errors.close()
    if trace is not None:
        trace.close()
    result = {
        "command": command,
        "exit_code": proc.returncode,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "samples": samples,
        "peak_pss_gib": gib(sum(peak.values())),
        "at_peak_gib": {k: gib(v) for k, v in peak.items() if v},
        "each_peak_gib": {k: gib(v) for k, v in each.items() if v},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        split = ", ".join(f"{k} {v}" for k, v in result["at_peak_gib"].items())
        print(
            f"exit {proc.returncode}, {result['wall_seconds']} s, peak PSS {result['peak_pss_gib']} GiB ({split})"
        )
        print(
            "each kind's own peak: " + ", ".join(f"{k} {v} GiB" for k, v in result["each_peak_gib"].items())
        )
    if proc.returncode:
        print("\n".join(err.splitlines()[-20:]), file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
