"""The dashboards: an overview of the findings table, and one per domain of the loaded plugins.

A domain's dashboard has two pages: its findings (open ones, by severity and over time, the
entities flagged most) and its models (per model, the daily mean of its primary output over the
window and the latest day's top predictions with the model's own outputs). Domains, models,
entity columns and reference columns come from the host: a new plugin gets its dashboard from
``health-monitor dashboards``, with no file of the core changed.
"""

from __future__ import annotations

from typing import Any

from health_monitor.host import Host
from health_monitor.models.drift import OUTPUT_COLUMN
from health_monitor.reports.lakeview import queries
from health_monitor.reports.lakeview.widgets import Dashboard, Field, Page, chart, counter, table

OVERVIEW = "overview"

_FINDING_COLUMNS = [
    ("severity", "Severity"),
    ("entity_kind", "Kind"),
    ("entity_id", "Entity"),
    ("reason", "Reason"),
    ("action", "Action"),
    ("domain_list", "Domains"),
    ("model_list", "Models"),
    ("first_seen", "First seen"),
    ("days_flagged", "Days flagged"),
]
_ENTITY_COLUMNS = [
    ("entity_kind", "Kind"),
    ("entity_id", "Entity"),
    ("worst_severity", "Worst severity"),
    ("days_flagged", "Days flagged"),
    ("episodes", "Episodes"),
    ("last_seen", "Last seen"),
    ("open_now", "Open now"),
    ("latest_reason", "Latest reason"),
]


def domains(host: Host) -> list[str]:
    """The domains that have a model in the loaded plugins, sorted."""
    return sorted({owned.spec.domain for owned in host.models.values()})


def _findings_page(board: Dashboard, page: Page, domain: str | None) -> None:
    suffix = f"_{domain}" if domain else ""
    scope = f" with a signal from {domain}" if domain else ""
    open_ = board.dataset(f"open_findings{suffix}", f"Open findings{scope}", queries.open_findings(domain))
    by_day = board.dataset(
        f"findings_by_day{suffix}", f"Findings per day{scope}", queries.findings_by_day(domain)
    )
    entities = board.dataset(
        f"top_entities{suffix}", f"Entities flagged most{scope}", queries.top_entities(domain)
    )
    page.place(
        counter("open_count", open_, Field("finding_id", "COUNT"), "Open findings", f"Open findings{scope}"),
        2,
        3,
    )
    page.place(
        chart(
            "bar",
            "open_by_severity",
            open_,
            Field("severity"),
            Field("finding_id", "COUNT"),
            "Open findings by severity",
            y_title="findings",
        ),
        4,
        3,
    )
    if domain is None:
        by_domain = board.dataset("open_by_domain", "Open findings per domain", queries.open_by_domain())
        page.place(
            chart(
                "bar",
                "open_by_domain",
                by_domain,
                Field("domain"),
                Field("finding_id", "COUNT"),
                "Open findings by domain and severity",
                color=Field("severity"),
                description="A finding with signals from several domains counts once in each",
                y_title="findings",
            ),
            6,
            5,
        )
    page.place(
        chart(
            "line",
            "open_per_day",
            by_day,
            Field("day", day=True),
            Field("open_findings", "SUM"),
            f"Findings open per day (last {queries.WINDOW_DAYS} days)",
            color=Field("severity"),
            x_title="day",
            y_title="open findings",
        ),
        3,
        5,
    )
    page.place(
        chart(
            "bar",
            "opened_per_day",
            by_day,
            Field("day", day=True),
            Field("opened", "SUM"),
            "Findings opened per day",
            color=Field("severity"),
            x_title="day",
            y_title="opened",
        ),
        3,
        5,
    )
    page.place(
        table(
            "open_findings_table",
            open_,
            _FINDING_COLUMNS,
            "Open findings, most severe first",
            "What to act on: the reason says why, with numbers; the action what to do",
        ),
        6,
        8,
    )
    page.place(
        table(
            "top_entities_table",
            entities,
            _ENTITY_COLUMNS,
            f"Entities flagged on the most days (last {queries.WINDOW_DAYS} days)",
        ),
        6,
        6,
    )


def overview(host: Host) -> dict[str, Any]:
    """The findings of every domain on one page."""
    board = Dashboard()
    page = board.page("findings", "Findings")
    page.text("title", ["# health-monitor: what needs attention", f"Domains: {', '.join(domains(host))}"])
    _findings_page(board, page, None)
    return board.as_dict()


def domain_dashboard(host: Host, domain: str) -> dict[str, Any]:
    """A domain's findings and its models' recent predictions."""
    board = Dashboard()
    models = [o for o in host.select_models(domain=domain)]
    findings = board.page("findings", f"{domain}: findings")
    findings.text(
        "title", [f"# health-monitor: {domain}", f"Models: {', '.join(o.spec.name for o in models)}"]
    )
    _findings_page(board, findings, domain)
    page = board.page("models", f"{domain}: models")
    for owned in models:
        spec = owned.spec
        rule = host.findings[spec.name].spec if spec.name in host.findings else None
        output = OUTPUT_COLUMN[spec.problem_type]
        daily = board.dataset(
            f"daily_{spec.name}",
            f"{spec.name}: last {queries.WINDOW_DAYS} days",
            queries.model_daily(spec, rule),
        )
        sql, names = queries.model_latest(spec, rule)
        latest = board.dataset(f"latest_{spec.name}", f"{spec.name}: latest day", sql)
        page.text(f"about_{spec.name}", [f"## {spec.name}", spec.description or spec.problem_type.value])
        page.place(
            chart(
                "line",
                f"daily_{spec.name}",
                daily,
                Field("day", day=True),
                Field("score", "AVG"),
                f"{spec.name}: daily mean of {output}",
                description="Over every entity scored that day",
                x_title="day",
                y_title=output,
            ),
            3,
            5,
        )
        titles = {"day": "Day", "entity": "Entity", "score": output, "low": "P10", "high": "P90"}
        page.place(
            table(
                f"latest_{spec.name}",
                latest,
                [(n, titles.get(n, n)) for n in names],
                f"{spec.name}: top {queries.TOP_ROWS} of the latest day by {output}",
            ),
            3,
            5,
        )
    return board.as_dict()


def dashboards(host: Host) -> dict[str, dict[str, Any]]:
    """Every dashboard by name: ``overview`` and one per domain."""
    return {OVERVIEW: overview(host), **{d: domain_dashboard(host, d) for d in domains(host)}}
