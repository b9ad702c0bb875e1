"""Readable summaries of runs and of what needs attention (no Spark: predictions are read as Arrow).

Stored values in a line are cleaned and quoted (:mod:`health_monitor.untrusted`)."""

from __future__ import annotations

import math
from typing import Any

from health_monitor.host import Host
from health_monitor.pipelines import StageReport
from health_monitor.runtime import Runtime
from health_monitor.untrusted import message


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


def demo_findings_lines(runtime: Runtime, host: Host, limit: int = 15) -> list[str]:
    """The demo's summary of what needs attention: :func:`health_monitor.reports.findings.update_findings`
    on the predictions just written, the ``limit`` highest-ranked findings."""
    from health_monitor.reports.findings import finding_lines, update_findings

    try:
        report = update_findings(runtime, host)
    except Exception as exc:  # a summary must never hide the run's own result
        return [f"  could not update the findings: {message(f'{type(exc).__name__}: {exc}')}"]
    lines = [
        f"  {len(report.findings)} open finding(s) from the latest predictions (up to {report.as_of}); "
        "all of them: health-monitor findings"
    ]
    lines += finding_lines(report.findings, limit=limit) or ["  (none)"]
    lines += [f"  the finding rule of {m} failed: {e}" for m, e in sorted(report.errors.items())]
    return lines
