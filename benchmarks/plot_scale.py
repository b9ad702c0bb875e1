"""Draw how the main job's cost grows with the account, from measured results.

python benchmarks/plot_scale.py [--results benchmarks/results/scale.json] [--out docs/img/scale.png]

The results file holds, per scale, what ``bench_demo.py --json`` and ``bench_daily.py --json``
printed (with the system-table rows the demo simulated). Three panels: seconds per stage of the
demo, peak memory per stage (PSS where measured, else RSS), and the daily run's features +
infer for one new day against the full recompute's, each against the account's system-table rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STAGES = ("simulate", "gold", "features", "train", "infer")
GOALS = {"seconds": 15 * 60, "peak": 8, "daily": 120}  # issue 15: seed demo, its memory, a daily run


def series(scales: dict, pick) -> tuple[list[int], list[float]]:
    """(rows, values) of the scales that have the value ``pick`` returns (None: not measured)."""
    points = sorted((s["system_rows"], pick(s)) for s in scales.values() if pick(s) is not None)
    return [r for r, _ in points], [v for _, v in points]


def _peak(scale: dict, name: str, *path):
    """The demo's peak ``name`` (``peak`` or ``stage_peak``) in GiB: PSS where the run measured
    it (a page forked processes share counted once), else RSS."""
    pss = _get(scale, "demo", f"{name}_pss_gib", *path)
    return pss if pss is not None else _get(scale, "demo", f"{name}_rss_gib", *path)


def _get(scale: dict, *path):
    for key in path:
        if not isinstance(scale, dict) or key not in scale:
            return None
        scale = scale[key]
    return scale


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    scales = results["scales"]
    fig, (ax_time, ax_mem, ax_daily) = plt.subplots(1, 3, figsize=(15, 4.5))
    for stage in STAGES:
        rows, seconds = series(scales, lambda s, stage=stage: _get(s, "demo", "stage_seconds", stage))
        ax_time.plot(rows, seconds, marker="o", label=stage)
        rows, peaks = series(scales, lambda s, stage=stage: _peak(s, "stage_peak", stage))
        if rows:
            ax_mem.plot(rows, peaks, marker="o", label=stage)
    rows, whole = series(scales, lambda s: _get(s, "demo", "wall_seconds"))
    ax_time.plot(rows, whole, marker="s", color="black", label="whole demo")
    ax_time.axhline(GOALS["seconds"], color="grey", linestyle="--", label="goal at seed: 15 min")
    rows, peak = series(scales, lambda s: _peak(s, "peak"))
    ax_mem.plot(rows, peak, marker="s", color="black", label="whole demo")
    ax_mem.axhline(GOALS["peak"], color="grey", linestyle="--", label="goal: 8 GiB")

    def work(kind: str):
        def pick(s):
            stages = _get(s, "daily", kind)
            if not stages or "features" not in stages or "infer" not in stages:
                return None
            return stages["features"] + stages["infer"]

        return pick

    for kind, label in (("daily", "daily run, one new day"), ("full", "full recompute")):
        rows, seconds = series(scales, work(kind))
        ax_daily.plot(rows, seconds, marker="o", label=label)
    ax_daily.axhline(GOALS["daily"], color="grey", linestyle="--", label="goal at seed: 2 min")

    for ax, title, unit in (
        (ax_time, "demo: seconds per stage", "seconds"),
        (ax_mem, "demo: peak resident memory per stage", "GiB (driver + JVM + workers; PSS, else RSS)"),
        (ax_daily, "features + infer: daily vs full", "seconds"),
    ):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels of a log axis overlap
        ax.set_xlabel("system-table rows of the simulated account")
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for name, scale in scales.items():
        ax_time.annotate(name, (scale["system_rows"], _get(scale, "demo", "wall_seconds") or 0), fontsize=8)
    fig.suptitle(f"health-monitor: cost by the size of the account ({results['measured']})", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--results", type=Path, default=here / "results" / "scale.json")
    parser.add_argument("--out", type=Path, default=here.parent / "docs" / "img" / "scale.png")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--results {args.results}: {exc}") from None
    missing = [name for name, s in results.get("scales", {}).items() if not s.get("system_rows")]
    if missing:
        raise SystemExit(f"--results {args.results}: no system_rows for {', '.join(missing)}")
    plot(results, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
