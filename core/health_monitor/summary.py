"""Readable summaries of runs and prediction tables (no Spark: predictions are read as Arrow).

Stored values in a line are cleaned and quoted (:mod:`health_monitor.untrusted`)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from health_monitor.host import Host
from health_monitor.pipelines import StageReport
from health_monitor.runtime import Runtime
from health_monitor.specs import Model, ProblemType
from health_monitor.untrusted import message, quoted

RANK_COLUMN = {
    ProblemType.CLASSIFICATION: "probability",
    ProblemType.MULTICLASS: "probability",
    ProblemType.REGRESSION: "prediction",
    ProblemType.ANOMALY_DETECTION: "anomaly_score",
}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def stage_lines(report: StageReport) -> list[str]:
    lines = []
    for item in report.items:
        if not item.ok:
            lines.append(f"  FAILED {item.item} [{item.plugin}]: {message(item.error or '')}")
            continue
        d = item.details
        if "skipped" in d:
            lines.append(f"  {item.item:<34} skipped: {d['skipped']}")
            continue
        if report.stage == "train":
            headline = d["headline"]
            metric = d["metrics"].get(headline)
            base = d["baseline_metrics"].get(headline)
            score = (
                f"{headline}={fmt(metric)} vs {d['baseline']} {fmt(base)}"
                if metric is not None
                else "no labels: not evaluated"
            )
            ci = d.get("difference_ci95")
            interval = f": difference {d['difference']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
            if not ci and metric is not None:
                interval = f": {d['verdict_reason']}"  # why there is no interval
            lines.append(
                f"  {item.item:<34} v{d['version']} {d['alias']:<10} {score}  ({d['verdict']}{interval}; "
                f"train {d['train_rows']:,} / test {d['test_rows']:,} rows)"
            )
            if d["alias"] != "champion":
                lines.append(f"  {'':<34} held back: {d['alias_reason']}")
        else:
            fresh = d.get("recomputed", d.get("scored"))
            since = f"  ({fresh:,} from {d['since']})" if "since" in d else ""
            lines.append(f"  {item.item:<34} {d.get('rows', 0):>10,} rows  {item.seconds:6.1f}s{since}")
        lines += [f"    warning: {message(w)}" for w in d.get("warnings", [])]
    return lines


def top_findings(runtime: Runtime, spec: Model, limit: int = 3) -> list[str]:
    """The highest-ranked predictions at the latest time the model scored."""
    table = runtime.settings.predictions(spec.name)
    if not runtime.lakehouse.exists(table):
        return []
    rank = RANK_COLUMN[spec.problem_type]
    frame: pd.DataFrame = runtime.lakehouse.read_arrow(table).to_pandas()
    if frame.empty:
        return []
    if spec.problem_type is ProblemType.ANOMALY_DETECTION:
        frame = frame[frame["is_anomaly"] == 1]
        cutoff = pd.to_datetime(frame[spec.time_column]).max() - pd.Timedelta(days=7) if len(frame) else None
        if cutoff is not None:
            frame = frame[pd.to_datetime(frame[spec.time_column]) >= cutoff]
    else:
        latest = frame[spec.time_column].max()
        frame = frame[frame[spec.time_column] == latest]
    top = frame.sort_values(rank, ascending=False).head(limit)
    lines = []
    for _, row in top.iterrows():
        keys = ", ".join(f"{k}={quoted(row[k], 64)}" for k in spec.keys)
        lines.append(f"    {spec.name}: {keys}  {rank}={fmt(float(row[rank]))}")
    return lines


def findings_by_domain(runtime: Runtime, host: Host) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for owned in host.select_models():
        try:
            lines = top_findings(runtime, owned.spec)
        except Exception as exc:  # a summary must never hide the run's own result
            problem = message(f"{type(exc).__name__}: {exc}")
            lines = [f"    {owned.spec.name}: could not read predictions ({problem})"]
        out.setdefault(owned.spec.domain, []).extend(lines)
    return out
