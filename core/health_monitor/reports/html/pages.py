"""The report's pages as HTML text: an overview, one page per domain, the models page.

Every value read from the home goes through :func:`text` (cleaned of control and bidirectional
characters, then HTML-escaped): stored names and reasons are data from the monitored account.
Each page carries a Content-Security-Policy that forbids every network load and script; its only
stylesheet is allowed by hash. No JavaScript.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from html import escape
from typing import Any

import health_monitor
from health_monitor.models.drift import MIN_ROWS, RECENT_DAYS, WARN_PSI
from health_monitor.reports.html import svg
from health_monitor.reports.html.collect import ModelSection, ReportData
from health_monitor.sdk.specs import SEVERITIES
from health_monitor.untrusted import MAX_MESSAGE, clean_text

SEVERITY_COLOURS = {"low": "#9ecae1", "medium": "#fdae6b", "high": "#e6550d", "critical": "#a50f15"}
VERDICT_COLOURS = {"beats baseline": "#2ca02c", "tie": "#7f7f7f", "does not beat baseline": "#d62728"}
TOP_RISKS = 10

CSS = """
body{font-family:sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24364b;color:#fff;padding:10px 20px}
header a{color:#cfe3ff;margin-right:14px;text-decoration:none}
header a.here{color:#fff;font-weight:bold}
main{padding:10px 20px;max-width:1100px}
h1{font-size:20px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef2f6}
.sev{font-weight:bold;padding:0 5px;border-radius:3px;color:#fff}
.sev-low{background:#6baed6}.sev-medium{background:#e6852b}.sev-high{background:#e6550d}.sev-critical{background:#a50f15}
.warn{color:#a50f15;font-weight:bold}.muted{color:#777}.error{color:#a50f15}
.model{background:#fff;border:1px solid #e3e3e3;padding:4px 14px 10px;margin:14px 0}
svg.chart{display:block;margin:8px 0;background:#fff}
.plots{display:flex;flex-wrap:wrap;gap:10px}
footer{color:#777;font-size:12px;padding:10px 20px}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)


def text(value: Any, limit: int = MAX_MESSAGE) -> str:
    """A value from the home, safe to place in HTML text or an attribute."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return escape(clean_text(str(value), limit), quote=True)


def number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    return text(value)


def domain_page(domain: str) -> str:
    return f"domain-{domain}.html"


def page_names(data: ReportData) -> list[str]:
    return ["index.html", *(domain_page(d) for d in data.domains), "models.html"]


def _severity(severity: str) -> str:
    known = severity if severity in SEVERITIES else "low"
    return f'<span class="sev sev-{known}">{text(severity).upper()}</span>'


class Page:
    """One page's HTML and the number of plots on it (the browser test counts them)."""

    def __init__(self, title: str, name: str, data: ReportData, link_base: str):
        self.title, self.name, self.data, self.base = title, name, data, link_base
        self.parts: list[str] = []
        self.plots = 0

    def add(self, *html: str) -> None:
        self.parts.extend(html)

    def plot(self, chart: str) -> None:
        self.plots += 1
        self.parts.append(chart)

    def link(self, name: str, label: str) -> str:
        return f'<a href="{escape(self.base + name)}">{label}</a>'

    def render(self) -> str:
        nav = [self.link("index.html", "Overview")]
        nav += [self.link(domain_page(d), text(d)) for d in self.data.domains]
        nav.append(self.link("models.html", "Models"))
        nav = [
            n.replace("<a ", '<a class="here" ', 1) if f'"{self.base}{self.name}"' in n else n for n in nav
        ]
        as_of = self.data.as_of.isoformat() if self.data.as_of else "no predictions"
        return "".join(
            [
                '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                '<meta name="generator" content="health-monitor report">',
                '<link rel="icon" href="data:,">',
                f"<title>{escape(self.title)} - health-monitor</title><style>{CSS}</style></head><body>",
                f"<header><strong>health-monitor</strong> &nbsp; {' '.join(nav)}</header><main>",
                f"<h1>{escape(self.title)}</h1>",
                f'<p class="muted">catalog {text(self.data.catalog)}; latest predictions {as_of}; '
                f"generated {self.data.generated_at.isoformat()}</p>",
                *self.parts,
                f"</main><footer>health-monitor {escape(health_monitor.__version__)}: a self-contained "
                "report (no scripts, no network).</footer></body></html>\n",
            ]
        )


def _findings_table(findings: Sequence[dict[str, Any]], limit: int | None = None) -> str:
    if not findings:
        return '<p class="muted">No open findings.</p>'
    rows = []
    for f in findings[:limit]:
        signals = "".join(
            f"<li><b>{text(s['model'])}</b> [{text(s['severity'])}]: {text(s['reason'])}</li>"
            for s in f["signals"]
        )
        rows.append(
            f"<tr><td>{_severity(f['severity'])}</td><td>{text(f['entity_kind'])} <code>{text(f['entity_id'])}</code></td>"
            f"<td>{text(', '.join(f['domains']))}</td><td>{text(f['first_seen'])}</td>"
            f"<td><ul>{signals}</ul><i>action:</i> {text(f['action'])}</td></tr>"
        )
    more = (
        f'<p class="muted">... and {len(findings) - limit} more (health-monitor findings).</p>'
        if limit is not None and len(findings) > limit
        else ""
    )
    return (
        "<table><tr><th>severity</th><th>entity</th><th>domains</th><th>since</th><th>signals and action</th></tr>"
        + "".join(rows)
        + "</table>"
        + more
    )


def _window_days(data: ReportData) -> list[dt.date]:
    days = sorted(
        {d for m in data.models for d in m.flagged} | {m.latest_day for m in data.models if m.latest_day}
    )
    if not days:
        return []
    first, last = days[0], days[-1]
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def overview(data: ReportData, link_base: str) -> Page:
    page = Page("Overview", "index.html", data, link_base)
    open_findings = data.findings
    counts = {s: [0] * len(data.domains) for s in SEVERITIES}
    for f in open_findings:
        for d in f["domains"]:
            if d in data.domains:
                counts[f["severity"] if f["severity"] in counts else "low"][data.domains.index(d)] += 1
    page.add(
        f"<p>{len(open_findings)} open finding(s), {data.resolved} resolved; "
        f"{len(data.models)} models in {len(data.domains)} domains.</p>",
        "<h2>Open findings by severity and domain</h2>",
    )
    page.plot(
        svg.stacked_bars(
            list(data.domains),
            {s: counts[s] for s in SEVERITIES},
            SEVERITY_COLOURS,
            "Open findings per domain, by severity",
        )
    )
    header = "".join(f"<th>{s}</th>" for s in SEVERITIES)
    body = "".join(
        f"<tr><td>{page.link(domain_page(d), text(d))}</td>"
        + "".join(f"<td>{counts[s][i]}</td>" for s in SEVERITIES)
        + f"<td>{sum(counts[s][i] for s in SEVERITIES)}</td></tr>"
        for i, d in enumerate(data.domains)
    )
    page.add(f"<table><tr><th>domain</th>{header}<th>total</th></tr>{body}</table>")
    page.add(
        "<h2>Health over time</h2>",
        "<p>Entities each domain's finding rules flag per day, over the window of predictions "
        "(every day judged by the rule the latest day is judged by; an entity two models flag counts twice).</p>",
    )
    days = _window_days(data)
    lines = []
    for i, d in enumerate(data.domains):
        per_day: dict[dt.date, int] = {}
        for m in data.models:
            if m.domain == d:
                for day, n in m.flagged.items():
                    per_day[day] = per_day.get(day, 0) + n
        lines.append(svg.Line(d, [per_day.get(day, 0) for day in days], svg.PALETTE[i % len(svg.PALETTE)]))
    page.plot(svg.day_chart(svg.DaySeries(days, lines), "Flagged entities per day, by domain"))
    page.add("<h2>Top risks</h2>", _findings_table(open_findings, TOP_RISKS))
    failed = [m for m in data.models if m.error]
    if failed:
        page.add(
            "<h2>Models the report could not read</h2><ul>"
            + "".join(f'<li>{text(m.name)}: <span class="error">{text(m.error)}</span></li>' for m in failed)
            + "</ul>"
        )
    return page


def _model_block(page: Page, m: ModelSection) -> None:
    card = m.card
    headline = card.get("headline_metric", "")
    metrics = card.get("metrics") or {}
    baseline = card.get("baseline_metrics") or {}
    page.add(
        f'<div class="model" id="{text(m.name)}"><h3>{text(m.name)} <span class="muted">({text(m.problem_type)})</span></h3>',
        f"<p>{text(m.description)}</p>",
        f"<p>{text(headline)}: model {number(metrics.get(headline))} vs baseline {number(baseline.get(headline))} "
        f"({text(card.get('verdict', card.get('status')))}); {page.link('models.html#' + m.name, 'model page')}</p>",
    )
    if m.error:
        page.add(f'<p class="error">could not read: {text(m.error)}</p></div>')
        return
    if m.signals:
        items = "".join(
            f"<li>{_severity(s['severity'])} {text(s['entity_kind'])} <code>{text(s['entity_id'])}</code>: "
            f"{text(s['reason'])}</li>"
            for s in m.signals[:TOP_RISKS]
        )
        more = f"<li>... and {len(m.signals) - TOP_RISKS} more</li>" if len(m.signals) > TOP_RISKS else ""
        page.add(f"<p>{len(m.signals)} open finding(s):</p><ul>{items}{more}</ul>")
    elif m.has_rule:
        page.add('<p class="muted">No open findings.</p>')
    else:
        page.add('<p class="muted">No finding rule: its predictions are shown, never flagged.</p>')
    plots = []
    if m.series is not None:
        s = m.series
        data = svg.DaySeries(
            s.days,
            [svg.Line(s.column, s.values)]
            + [svg.Line(name, values, "#555", dashed=True) for name, values in s.references.items()],
            low=s.low,
            high=s.high,
            flagged=s.flagged,
            flag_label="flagged by the rule",
        )
        plots.append(svg.day_chart(data, f"{s.column} of {s.entity_kind} {clean_text(s.entity_id, 60)}"))
    if m.has_rule and m.latest_day is not None:
        first = min([*m.flagged, *(m.series.days[:1] if m.series else []), m.latest_day])
        span = [first + dt.timedelta(days=i) for i in range((m.latest_day - first).days + 1)]
        plots.append(
            svg.day_bars(span, [m.flagged.get(d, 0) for d in span], "Entities flagged per day", "flagged")
        )
    if plots:
        page.add('<div class="plots">')
        for chart in plots:
            page.plot(chart)
        page.add("</div>")
    elif m.latest_day is None:
        page.add(
            '<p class="muted">No predictions: the model has no champion (see the model page) or '
            "infer has not run.</p>"
        )
    page.add("</div>")


def domain(data: ReportData, name: str, link_base: str) -> Page:
    page = Page(f"Domain: {name}", domain_page(name), data, link_base)
    mine = [f for f in data.findings if name in f["domains"]]
    models = [m for m in data.models if m.domain == name]
    page.add(
        f"<p>{len(mine)} open finding(s) from {len(models)} model(s). Each model's chart is the series of "
        "its top entity (the entity of its highest-ranked open finding, else the one it flagged most) "
        "over the last days of predictions, daily mean, with the P10-P90 interval of regressions "
        "and the days its finding rule flagged in red.</p>",
        "<h2>Top risks</h2>",
        _findings_table(mine, TOP_RISKS),
        "<h2>Models</h2>",
    )
    for m in models:
        _model_block(page, m)
    return page


def models(data: ReportData, link_base: str) -> Page:
    page = Page("Models", "models.html", data, link_base)
    page.add(
        "<p>Each model's headline metric on its test rows next to its baseline's on the same rows "
        "(from the champion's training run), when it was trained, and drift since training.</p>",
        "<h2>Model minus baseline</h2>",
        "<p>The difference in the headline metric, signed so that positive means the model is "
        "better, with its 95% paired-bootstrap interval.</p>",
    )
    rows = []
    for m in data.models:
        c = m.card
        ci = c.get("difference_ci95") or [None, None]
        rows.append(
            svg.IntervalRow(
                m.name,
                c.get("difference"),
                ci[0],
                ci[1],
                VERDICT_COLOURS.get(c.get("verdict", ""), "#999"),
                f"{c.get('verdict', c.get('status'))}",
            )
        )
    page.plot(svg.interval_chart(rows, "Headline metric: model minus baseline (95% interval)"))
    page.add(
        "<h2>Drift</h2>",
        f"<p>Population stability index (PSI) between the training window (rows before the "
        f"champion's train/test cutoff) and the latest {RECENT_DAYS} days: of the model's output "
        f"(prediction, probability or anomaly score) and of each numeric input feature (feature "
        f"tables with a timestamp key). Bins: the training window's deciles (quintiles under 200 "
        f"rows) and one for missing values; at least {MIN_ROWS} rows on each side. "
        f'<span class="warn">A PSI over {WARN_PSI:g} is a warning</span>: what the model sees '
        "today is not what it learnt from.</p>",
    )
    page.plot(
        svg.hbars(
            [m.name for m in data.models],
            {
                "output PSI": [m.drift.prediction_psi for m in data.models],
                "worst feature PSI": [
                    m.drift.worst_feature[1] if m.drift.worst_feature else None for m in data.models
                ],
            },
            "Drift since training (PSI)",
            threshold=WARN_PSI,
        )
    )
    page.add(
        "<h2>Every model</h2><table><tr><th>model</th><th>domain</th><th>version</th><th>trained</th>"
        "<th>headline metric: model / baseline</th><th>verdict</th><th>rows train / test</th>"
        "<th>output PSI</th><th>worst feature PSI</th><th>drift</th></tr>"
    )
    for m in data.models:
        c = m.card
        headline = c.get("headline_metric", "")
        version = (
            f"v{c['version']}"
            if c.get("version")
            else (f"v{c['challenger_version']} (challenger)" if c.get("challenger_version") else "none")
        )
        worst = m.drift.worst_feature
        warning = '<span class="warn">warning</span>' if m.drift.warning else "ok"
        if m.drift.prediction_psi is None and worst is None:
            warning = f'<span class="muted">{text(m.drift.note or "n/a")}</span>'
        window = f"{text(m.drift.reference)} vs {text(m.drift.current)}" if m.drift.current else ""
        page.add(
            f'<tr id="{text(m.name)}"><td>{page.link(domain_page(m.domain) + "#" + m.name, text(m.name))}</td>'
            f"<td>{text(m.domain)}</td><td>{text(version)}</td><td>{text(m.trained_at)}</td>"
            f"<td>{text(headline)}: {number((c.get('metrics') or {}).get(headline))} / "
            f"{number((c.get('baseline_metrics') or {}).get(headline))}</td>"
            f"<td>{text(c.get('verdict', c.get('status')))}</td>"
            f"<td>{c.get('train_rows', 0):,} / {c.get('test_rows', 0):,}</td>"
            f"<td>{number(m.drift.prediction_psi)}</td>"
            f"<td>{(text(worst[0]) + ' ' + number(worst[1])) if worst else 'n/a'}</td>"
            f'<td>{warning}<br><span class="muted">{window}</span></td></tr>'
        )
    page.add("</table>")
    return page


def render(data: ReportData, link_base: str = "") -> dict[str, Page]:
    """Every page by file name, links relative to ``link_base`` ('' for files, '/report/' served)."""
    pages = [
        overview(data, link_base),
        *(domain(data, d, link_base) for d in data.domains),
        models(data, link_base),
    ]
    return {p.name: p for p in pages}
