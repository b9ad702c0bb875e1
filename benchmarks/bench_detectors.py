"""Anomaly detectors on incidents, not rows: F1, point-adjusted F1, window recall and false
alarms per 1,000 entity-days, model against baseline, for every registered version.

Every figure is what training logged on the version's test rows (``test_*`` and ``baseline_*``
metrics of its MLflow run, as ``health-monitor evaluate`` reads them), so the versions of one
model trained on the same home compare like with like: train a version with the old estimator,
then one with the new, and both rows are here. Versions trained before the incident metrics
existed show ``-`` there. Train on an incident-rich account for enough windows:

    health-monitor demo --home /tmp/det-home --incidents 10 --days 120
    .venv/bin/python benchmarks/bench_detectors.py --home /tmp/det-home [--model cost_anomaly_detector]
"""

from __future__ import annotations

import argparse

from health_monitor.config import Settings
from health_monitor.host import load_host
from health_monitor.registry import CHALLENGER, CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.sdk import ProblemType

COLUMNS = (
    ("f1", "F1"),
    ("pa_f1", "PA-F1"),
    ("window_recall", "win-rec"),
    ("window_precision", "win-prec"),
    ("false_alarms_per_1000", "FA/1k"),
)


def _figure(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    return "-" if value is None else f"{value:.1f}" if key == "false_alarms_per_1000" else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--model", action="append", help="only these models (default: every detector)")
    args = parser.parse_args()
    runtime, host = Runtime.embedded(Settings(home=args.home)), load_host()
    client = runtime.registry.client()
    header = f"{'model':<34} {'ver':>3} {'alias':<10} {'who':<8} {'windows':>7} " + " ".join(
        f"{label:>8}" for _, label in COLUMNS
    )
    print(header)
    for name, owned in sorted(host.models.items()):
        if owned.spec.problem_type is not ProblemType.ANOMALY_DETECTION or (
            args.model and name not in args.model
        ):
            continue
        registered = runtime.settings.registered_model(name)
        aliases = {
            v.version: alias
            for alias in (CHAMPION, CHALLENGER)
            if (v := runtime.registry.version_by_alias(registered, alias)) is not None
        }
        for version in runtime.registry.versions(registered):
            if version.run_id is None:
                continue
            metrics = client.get_run(version.run_id).data.metrics
            for who in ("test", "baseline"):
                mine = {k.removeprefix(f"{who}_"): v for k, v in metrics.items() if k.startswith(f"{who}_")}
                windows = mine.get("windows")
                print(
                    f"{name:<34} {version.version:>3} {aliases.get(version.version, ''):<10} "
                    f"{'model' if who == 'test' else 'baseline':<8} "
                    f"{'-' if windows is None else int(windows):>7} "
                    + " ".join(f"{_figure(mine, key):>8}" for key, _ in COLUMNS)
                )


if __name__ == "__main__":
    main()
