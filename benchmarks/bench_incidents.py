"""Anomaly detectors on enough incidents to measure: several incident-rich simulated accounts,
a rolling-origin backtest on each, results pooled per incident type.

One simulated account holds a handful of incidents of each type, and the latest 25% of its days
(the training split) fewer still: a recall on three incidents says little. This benchmark builds
several small accounts (``--seed`` each, ``--incidents N``, only the domains asked for), keeps
each detector's feature and label rows with the incident type of every labelled row (from the
ground truth, for the report only: no estimator sees it) and then, per account:

- the earliest third of the distinct days only trains (the simulator places no incident there);
- the rest is cut into ``--folds`` consecutive blocks; each block is predicted by a model fitted
  on every row before it (known incidents labelled, as training passes them to a calibrated
  detector), so every incident is predicted once, out of time, by a model that never saw it.

Candidates are scored on the same rows: the estimator of the model spec as installed, the same
raw scorer under :class:`CalibratedDetector` (threshold calibrated to the alarm budget), a
calibrated :class:`RobustZMax` and a calibrated Isolation Forest, and the spec's baseline.
Pooled over accounts: recall per incident type (share of incident windows with at least one
alarm), false alarms per 1,000 normal entity-days, window precision (share of alarms touching
an incident), point-adjusted F1. Build the frames (Spark; a few minutes per account), then
evaluate (seconds, no Spark)::

    export HEALTH_MONITOR_SPARK_MEMORY=2g
    .venv/bin/python benchmarks/bench_incidents.py build --out /tmp/bench-incidents \\
        --domain security --domain quality --domain performance --seeds 1 2 3 4 5 6
    .venv/bin/python benchmarks/bench_incidents.py evaluate --out /tmp/bench-incidents \\
        --json benchmarks/results/incidents.json

The JSON file is what ``health-monitor model-cards --incident-benchmark FILE`` puts on the
detectors' cards. A small account has 4 SQL warehouses and each holds at most one incident, so
the performance detector's incident types need medium accounts (16 warehouses) to reach 30
windows; ``build --scale medium`` makes them, and ``evaluate`` pools accounts of any scale (its
JSON gives each account's false alarms too)::

    .venv/bin/python benchmarks/bench_incidents.py build --out /tmp/perf21/bench \
        --domain performance --scale medium --incidents 8 --seeds 7 8 9 10 11
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.config import Settings
from health_monitor.host import Host, load_host
from health_monitor.sdk import ProblemType
from health_monitor.sdk.specs import Model

LABEL = "__label__"
TYPE = "__incident_type__"
NO_TYPE = "(no ground-truth type)"


# --- build: simulated accounts -> one frame per detector and account --------------------------


def _detectors(host: Host, domains: list[str] | None) -> list[Model]:
    return [
        o.spec
        for o in host.models.values()
        if o.spec.problem_type is ProblemType.ANOMALY_DETECTION and (not domains or o.spec.domain in domains)
    ]


def _entity(spec: Model) -> str:
    """The key that names the entity an incident is about (the key that is not the time)."""
    return next(k for k in spec.keys if k != spec.time_column)


def incident_types(
    frame: pd.DataFrame, spec: Model, incidents: pd.DataFrame, kinds: dict[str, str]
) -> pd.Series:
    """The incident type of each label-1 row: an incident of a type the model's labels read, on
    the row's entity, whose days cover the row's day (``end_time`` is exclusive). Several: joined
    with ``+``; none: :data:`NO_TYPE`; label-0 rows: empty. A detector of workspaces (the cost
    detector) is judged on the workspace its incidents' jobs and clusters ran in."""
    out = pd.Series("", index=frame.index, dtype=object)
    positive = frame[LABEL].fillna(0).to_numpy() == 1
    if not positive.any():
        return out
    mine = incidents[incidents["incident_type"].isin(list(kinds))].copy()
    mine["first"] = pd.to_datetime(mine["start_time"]).dt.normalize()
    mine["end"] = pd.to_datetime(mine["end_time"])
    day = pd.to_datetime(frame[spec.time_column]).dt.tz_localize(None).dt.normalize()
    entity_column = _entity(spec)
    entity = frame[entity_column].astype(str)
    of = "workspace_id" if entity_column == "workspace_id" else "entity_id"
    for i in np.flatnonzero(positive):
        hit = mine[
            (mine[of].astype(str) == entity.iat[i])
            & (mine["first"] <= day.iat[i])
            & (day.iat[i] < mine["end"].dt.tz_localize(None))
        ]
        out.iat[i] = "+".join(sorted(set(hit["incident_type"]))) or NO_TYPE
    return out


def build(args: argparse.Namespace) -> None:
    from health_monitor.jobs import build_gold_into, simulate_into
    from health_monitor.pipelines.features import run_features
    from health_monitor.pipelines.train import training_frame
    from health_monitor.runtime import Runtime

    host = load_host()
    specs = _detectors(host, args.domain)
    out = Path(args.out)
    for seed in args.seeds:
        frames = out / "frames" / f"seed-{seed}"
        if all((frames / f"{s.name}.parquet").exists() for s in specs):
            print(f"seed {seed}: frames exist, skipped", flush=True)
            continue
        start = time.perf_counter()
        runtime = Runtime.embedded(Settings(home=out / "homes" / f"seed-{seed}"))
        domains = sorted({s.domain for s in specs})
        if not runtime.has_gold():
            simulate_into(runtime, args.scale, seed, args.days, None, args.incidents)
            # Only the Gold tables the domains' feature tables read: the rest is minutes of work.
            needed = {g for d in domains for o in host.select_feature_tables(d) for g in o.spec.sources}
            build_gold_into(runtime, tables=sorted(needed))
        for domain in domains:
            run_features(runtime, host, domain=domain, progress=False)
        incidents = runtime.tables.ground_truth("incidents").toPandas()
        frames.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            try:
                _, frame, label = training_frame(runtime, host, spec)
            except Exception as exc:  # labels that read a Gold table no feature table reads
                print(f"seed {seed}: {spec.name}: {exc}; building all of Gold", flush=True)
                build_gold_into(runtime)
                _, frame, label = training_frame(runtime, host, spec)
            frame = frame.rename(columns={label: LABEL}) if label else frame.assign(**{LABEL: np.nan})
            kinds = host.labels[spec.name].spec.incidents if spec.name in host.labels else {}
            frame[TYPE] = incident_types(frame, spec, incidents, kinds)
            frame.to_parquet(frames / f"{spec.name}.parquet")
        print(f"seed {seed}: {len(specs)} frames in {time.perf_counter() - start:.0f}s", flush=True)


# --- evaluate: rolling-origin backtest per account, pooled per incident type -----------------


def candidates(spec: Model) -> dict[str, Any]:
    """name -> a fresh estimator. The spec's own, and calibrated alternatives to it."""
    from sklearn.base import clone
    from sklearn.ensemble import IsolationForest

    from health_monitor.sdk import CalibratedDetector, RobustZMax

    own = spec.estimator()
    scorer = own.scorer if isinstance(own, CalibratedDetector) and own.scorer is not None else own
    return {
        "spec": own,
        f"calibrated {type(scorer).__name__}": CalibratedDetector(clone(scorer)),
        "calibrated RobustZMax": CalibratedDetector(RobustZMax()),
        "calibrated IsolationForest": CalibratedDetector(IsolationForest(n_estimators=200, random_state=0)),
        "baseline": spec.baseline(),
    }


def backtest(
    frame: pd.DataFrame, spec: Model, estimators: dict[str, Any], folds: int, budget: float
) -> pd.DataFrame:
    """Every row after the earliest third of the distinct times, predicted by each estimator
    fitted on the rows before its block: a ``flag_<name>`` column per estimator."""
    from sklearn.base import clone

    from health_monitor.models.modeling import ScoringModel
    from health_monitor.pipelines.train import with_settings

    settings = SimpleNamespace(alarm_budget=budget)  # the one setting with_settings reads
    times = pd.to_datetime(frame[spec.time_column], utc=True)
    distinct = np.sort(times.unique())
    edges = np.linspace(len(distinct) // 3, len(distinct), folds + 1).astype(int)
    features, inputs = list(spec.feature_names), list(spec.input_names)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        start, end = distinct[lo], distinct[hi] if hi < len(distinct) else None
        train = frame[(times < start).to_numpy()]
        block = frame[((times >= start) & (times < end if end is not None else True)).to_numpy()].copy()
        if block.empty:
            continue
        y = train[LABEL] if train[LABEL].notna().any() else None
        for name, estimator in estimators.items():
            is_baseline = name == "baseline"
            model = ScoringModel.fit(
                with_settings(clone(estimator), settings),
                ProblemType.ANOMALY_DETECTION,
                train[features],
                y,
                inputs=None if is_baseline else inputs,
                times=train[spec.time_column],
            )
            block[f"flag_{name}"] = model.predict(block[features])["prediction"].to_numpy(dtype="int64")
        parts.append(block)
    return pd.concat(parts, ignore_index=True)


def _runs(on: np.ndarray, entity: np.ndarray) -> np.ndarray:
    before = np.r_[False, on[:-1] & (entity[1:] == entity[:-1])]
    return np.cumsum(on & ~before) * on


def pooled(rows: pd.DataFrame, name: str) -> dict[str, Any]:
    """Incident figures of ``flag_<name>`` over ``rows`` (every account's predicted rows; the
    ``__entity__`` column names account and entity, rows in entity then time order), and the
    false alarms per 1,000 normal entity-days of each account."""
    from health_monitor.models.evaluation import incident_metrics

    y = rows[LABEL].fillna(0).to_numpy(dtype="int64") == 1
    f = rows[f"flag_{name}"].to_numpy(dtype="int64") == 1
    entity = rows["__entity__"].to_numpy(dtype=object)
    window = _runs(y, entity)
    kinds = pd.Series(rows[TYPE].to_numpy(dtype=object)[y], index=window[y])
    found = pd.Series(f[y], index=window[y]).groupby(level=0).any()
    kind = kinds.groupby(level=0).agg(lambda s: s.mode().iat[0])
    per_type = {
        str(t): {"windows": int(len(g)), "found": int(g.sum()), "recall": float(g.mean())}
        for t, g in found.groupby(kind)
    }
    overall = incident_metrics(y.astype(int), f.astype(int), rows["__time__"], rows["__entity__"])
    # Per account too: accounts of different scales calibrate on different numbers of rows.
    account = pd.Series(entity[~y]).str.split("/", n=1).str[0].to_numpy()
    by_account = pd.Series(f[~y]).groupby(account).mean() * 1000
    return {
        **{k: float(v) for k, v in overall.items()},
        "per_type": per_type,
        "false_alarms_per_1000_by_account": {str(a): round(float(v), 1) for a, v in by_account.items()},
    }


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    host = load_host()
    out = Path(args.out)
    seeds = sorted(p.name for p in (out / "frames").iterdir() if p.is_dir())
    specs = [s for s in _detectors(host, None) if not args.model or s.name in args.model]
    result: dict[str, Any] = {
        "alarm_budget": args.alarm_budget,
        "folds": args.folds,
        "accounts": seeds,
        "command": " ".join(["benchmarks/bench_incidents.py", *sys.argv[1:]]),
        "models": {},
    }
    for spec in specs:
        paths = [out / "frames" / s / f"{spec.name}.parquet" for s in seeds]
        paths = [p for p in paths if p.exists()]
        if not paths:
            continue
        estimators = candidates(spec)
        pieces = []
        for path in paths:
            frame = pd.read_parquet(path)
            rows = backtest(frame, spec, estimators, args.folds, args.alarm_budget)
            rows["__entity__"] = path.parent.name + "/" + rows[_entity(spec)].astype(str)
            rows["__time__"] = pd.to_datetime(rows[spec.time_column], utc=True)
            pieces.append(rows)
        rows = pd.concat(pieces, ignore_index=True).sort_values(["__entity__", "__time__"], kind="stable")
        rows = rows.reset_index(drop=True)
        result["models"][spec.name] = {
            "accounts": len(paths),
            "entity_days": len(rows),
            "normal_entity_days": int((rows[LABEL].fillna(0) != 1).sum()),
            "candidates": {name: pooled(rows, name) for name in estimators},
        }
    return result


def table(result: dict[str, Any]) -> str:
    """The pooled figures as Markdown: one row per model, candidate and incident type."""
    lines = [
        f"alarm budget {result['alarm_budget']:g} per entity per 30 days (FA/1k {1000 * result['alarm_budget'] / 30:.1f}); "
        f"{len(result['accounts'])} accounts, {result['folds']} folds",
        "",
        "| model | candidate | incident type | windows | recall | FA/1k | win-prec | PA-F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, m in result["models"].items():
        for name, c in m["candidates"].items():
            for kind, t in sorted(c["per_type"].items()):
                lines.append(
                    f"| {model} | {name} | {kind} | {t['windows']} | {t['recall']:.3f} | "
                    f"{c['false_alarms_per_1000']:.1f} | {c['window_precision']:.3f} | {c['pa_f1']:.3f} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="simulate the accounts and keep each detector's frame")
    b.add_argument("--out", required=True, help="directory of the homes and frames")
    b.add_argument("--seeds", type=int, nargs="+", required=True)
    b.add_argument("--domain", action="append", help="only these domains' detectors (default: all)")
    b.add_argument("--scale", default="small", help="simulated scale of each account (default small)")
    b.add_argument("--incidents", type=int, default=10, help="incident multiplier (default 10)")
    b.add_argument("--days", type=int, default=120, help="days per account (default 120)")
    e = sub.add_parser("evaluate", help="backtest the candidates on the frames and pool the figures")
    e.add_argument("--out", required=True, help="the directory `build` wrote")
    e.add_argument("--model", action="append", help="only these detectors (default: every one with frames)")
    e.add_argument("--folds", type=int, default=4, help="test blocks per account (default 4)")
    e.add_argument(
        "--alarm-budget", type=float, default=1.0, help="alarms per entity per 30 days (default 1)"
    )
    e.add_argument("--json", type=Path, help="also write the pooled figures to this JSON file")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args)
        return 0
    result = evaluate(args)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
