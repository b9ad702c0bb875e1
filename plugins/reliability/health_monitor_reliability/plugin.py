"""Entry point of the reliability plugin: the hook implementations health-monitor loads."""

from health_monitor.sdk import hookimpl
from health_monitor_reliability.features import FAILED_RUN_FEATURES, RELIABILITY_FEATURES
from health_monitor_reliability.findings import RULES
from health_monitor_reliability.labels import (
    DURATION_LABELS,
    FAILURE_LABELS,
    HEALTH_LABELS,
    RETRY_LABELS,
    RUN_DURATION_LABELS,
    RUN_FAILURE_LABELS,
    SLA_BREACH_LABELS,
)
from health_monitor_reliability.models import MODELS
from health_monitor_reliability.run_features import RUN_START_FEATURES
from health_monitor_reliability.tools import register_tools  # noqa: F401 - the register_tools hook


@hookimpl
def register_feature_tables(register):
    register(RELIABILITY_FEATURES)
    register(FAILED_RUN_FEATURES)
    register(RUN_START_FEATURES)


@hookimpl
def register_models(register):
    for model in MODELS:
        register(model)


@hookimpl
def register_labels(register):
    for labels in (
        FAILURE_LABELS,
        RUN_FAILURE_LABELS,
        DURATION_LABELS,
        RUN_DURATION_LABELS,
        SLA_BREACH_LABELS,
        RETRY_LABELS,
        HEALTH_LABELS,
    ):
        register(labels)


@hookimpl
def register_findings(register):
    for rule in RULES:
        register(rule)
