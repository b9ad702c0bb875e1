"""Builds of the test home side by side, as the test command's pytest-xdist workers run them.

python benchmarks/bench_shared_cores.py --out DIR [--builds 2] [--env NAME=VALUE ...]

Starts ``--builds`` processes at once, each building its own copy of the tests' ``trained_home``
(``profile_daily.build``: simulate, Gold, features, train and infer with every installed plugin)
under the test kit's Spark settings and the ``--env`` variables, and prints each stage's seconds
per build and the wall time. The machine's cores are shared as the test workers share them: for
example ``--env OMP_THREAD_LIMIT=1 --env OPENBLAS_NUM_THREADS=1`` against no ``--env`` measures
what the test kit's thread share saves (docs/scale.md, "Threads per test worker").

Take figures with nothing else running; the builds take minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BUILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
from profile_daily import build
start = time.perf_counter()
build(Path({home!r}))
print(f"build: total {{time.perf_counter() - start:.1f}} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the homes and logs")
    parser.add_argument("--builds", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"--out {args.out} exists; give a new folder")
    env = dict(os.environ)
    from health_monitor.testing.fixtures import TEST_SPARK_CONF

    env.setdefault("HEALTH_MONITOR_SPARK_CONF", TEST_SPARK_CONF)  # the test kit's settings
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SystemExit(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    args.out.mkdir(parents=True)
    bench = str(Path(__file__).resolve().parent)
    start = time.perf_counter()
    procs = []
    for i in range(1, args.builds + 1):
        code = BUILD.format(bench=bench, home=str(args.out / f"home-{i}"))
        with open(args.out / f"build-{i}.log", "w") as log:  # the child keeps its own descriptor
            procs.append((i, subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)))
    failed = 0
    for i, proc in procs:
        failed += proc.wait() != 0
        text = (args.out / f"build-{i}.log").read_text().splitlines()
        lines = [line.removeprefix("build: ") for line in text if line.startswith("build:")]
        print(f"build {i}: " + "; ".join(lines))
    print(
        f"wall {time.perf_counter() - start:.1f} s, {args.builds} builds at once, env {args.env or 'unchanged'}"
    )
    if failed:
        raise SystemExit(f"{failed} build(s) failed; see {args.out}/build-*.log")


if __name__ == "__main__":
    main()
