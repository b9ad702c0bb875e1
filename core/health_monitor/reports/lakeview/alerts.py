"""SQL alerts (v2) on the findings table, as Asset Bundle resources (``resources: alerts:``).

Two alerts, each evaluated once a day after the daily job (06:00 UTC) has had time to finish:

- ``health_monitor_new_severe_findings``: a finding of severity high or critical opened on the
  latest day the findings table knows. It notifies on every evaluation where that holds
  (``retrigger_seconds: 1``; one evaluation a day), so each day's new findings are announced once.
- ``health_monitor_findings_spike``: more than :data:`SPIKE_THRESHOLD` findings of any severity
  opened on that day: too many for a person to read, usually an account-wide change or a model
  that went wrong (its rule, its features).

Both count only while the latest day is recent (:func:`~health_monitor.reports.lakeview.queries.new_findings`).
Subscriptions are not set here: who is told is the workspace's choice (docs/databricks.md).
"""

from __future__ import annotations

from typing import Any

from health_monitor.config import Schemas
from health_monitor.reports.findings import FINDINGS_TABLE
from health_monitor.reports.lakeview import queries
from health_monitor.sdk.specs import SEVERITIES

SEVERE = SEVERITIES[SEVERITIES.index("high") :]
SPIKE_THRESHOLD = 20.0  # findings opened in one day: a judgement (more than one sitting), not measured
SCHEDULE = {"quartz_cron_schedule": "0 0 10 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"}
FINDINGS = "${var.catalog}." + f"{Schemas().ml}.{FINDINGS_TABLE}"


def _alert(display_name: str, summary: str, query: str, threshold: float) -> dict[str, Any]:
    return {
        "display_name": display_name,
        "custom_summary": summary,
        "query_text": query.strip() + "\n",
        "warehouse_id": "${var.warehouse_id}",
        "evaluation": {
            "source": {"name": "new_findings", "display": "new_findings", "aggregation": "MAX"},
            "comparison_operator": "GREATER_THAN",
            "threshold": {"value": {"double_value": threshold}},
            "notification": {"notify_on_ok": False, "retrigger_seconds": 1},
        },
        "schedule": dict(SCHEDULE),
    }


def alerts() -> dict[str, dict[str, Any]]:
    """The alert resources by key."""
    return {
        "health_monitor_new_severe_findings": _alert(
            "health-monitor: new high or critical findings",
            "New findings of severity high or critical: see the overview dashboard or `health-monitor findings`",
            queries.new_findings(FINDINGS, SEVERE),
            0.0,
        ),
        "health_monitor_findings_spike": _alert(
            "health-monitor: many new findings in one day",
            f"More than {SPIKE_THRESHOLD:.0f} findings opened in one day: an account-wide change, or a model to check",
            queries.new_findings(FINDINGS),
            SPIKE_THRESHOLD,
        ),
    }
