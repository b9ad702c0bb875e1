"""Entry point of the security plugin: the hook implementations health-monitor loads."""

from health_monitor.sdk import hookimpl
from health_monitor_security.egress import DATA_EGRESS_FEATURES
from health_monitor_security.features import SECURITY_FEATURES
from health_monitor_security.findings import RULES
from health_monitor_security.labels import (
    ACTIVITY_LABELS,
    EXFILTRATION_LABELS,
    PRIVILEGE_LABELS,
    THREAT_LABELS,
)
from health_monitor_security.models import MODELS
from health_monitor_security.privilege import PRIVILEGE_FEATURES
from health_monitor_security.profile import USER_ACTIVITY_PROFILE
from health_monitor_security.tools import register_tools  # noqa: F401 - the register_tools hook


@hookimpl
def register_feature_tables(register):
    for table in (SECURITY_FEATURES, DATA_EGRESS_FEATURES, PRIVILEGE_FEATURES, USER_ACTIVITY_PROFILE):
        register(table)


@hookimpl
def register_models(register):
    for model in MODELS:
        register(model)


@hookimpl
def register_labels(register):
    for labels in (THREAT_LABELS, EXFILTRATION_LABELS, PRIVILEGE_LABELS, ACTIVITY_LABELS):
        register(labels)


@hookimpl
def register_findings(register):
    for rule in RULES:
        register(rule)
