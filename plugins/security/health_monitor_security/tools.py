"""The security agent's tools: riskiest users, exfiltration, privilege escalation, behaviour."""

from __future__ import annotations

from health_monitor.sdk import entity_tool, hookimpl, listing_tool, ranking_tool

TOOLS = (
    listing_tool(
        "list_users",
        "security",
        "security_threat_detector",
        "user_id",
        "List the user identities (e-mails, service principals) that have security predictions.",
    ),
    ranking_tool(
        "riskiest_users",
        "security",
        "security_threat_detector",
        "The users whose activity on one day (default: the latest) looks most like a threat, with "
        "anomaly_score, risk_level and threat_type.",
    ),
    entity_tool(
        "user_threat_history",
        "security",
        "security_threat_detector",
        "user_id",
        "Daily threat verdicts of one user over a date range, newest first.",
        "list_users",
    ),
    ranking_tool(
        "exfiltration_risks",
        "security",
        "exfiltration_detector",
        "Users with the most unusual data egress on one day: volume against their own baseline "
        "and a risk_level.",
    ),
    ranking_tool(
        "privilege_escalations",
        "security",
        "privilege_escalation_detector",
        "Users whose grants and permission changes on one day look like privilege escalation, with "
        "the suspicious action and a risk_level.",
    ),
    entity_tool(
        "user_behavior",
        "security",
        "user_behavior_baseline",
        "user_id",
        "One user's expected activity (P10-P90) against their own baseline and the deviation score.",
        "list_users",
    ),
)


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
