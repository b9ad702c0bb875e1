"""Time the account simulator at a scale and report rows, Arrow memory and peak RSS.

python benchmarks/bench_simulate.py --scale small|medium|seed [--seed 7] [--days N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from health_monitor.simulate import SCALES, SimulationConfig, simulate_account


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args(argv)
    config = SimulationConfig(scale=args.scale, seed=args.seed, days=args.days)
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def progress(step: str) -> None:
        steps.append((step, time.perf_counter()))

    account = simulate_account(config, progress=progress)
    elapsed = time.perf_counter() - t0
    print(f"scale={args.scale} seed={args.seed} days={config.n_days} generated in {elapsed:.1f} s")
    marks = [*steps, ("end", t0 + elapsed)]
    print(
        "steps: " + ", ".join(f"{a} {b - t:.1f}s" for (a, t), (_, b) in zip(marks, marks[1:], strict=False))
    )
    total_rows = total_bytes = 0
    print(f"{'table':45s} {'rows':>12s} {'MiB':>9s}")
    for name, table in {**account.gold, **{f"truth.{k}": v for k, v in account.ground_truth.items()}}.items():
        total_rows += table.num_rows
        total_bytes += table.nbytes
        print(f"{name:45s} {table.num_rows:12,d} {table.nbytes / 2**20:9.1f}")
    print(f"{'total':45s} {total_rows:12,d} {total_bytes / 2**20:9.1f}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS {peak_kib / 2**20:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
