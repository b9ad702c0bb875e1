"""Entry point of the quality plugin: the hook implementations health-monitor loads."""

from health_monitor.sdk import hookimpl
from health_monitor_quality.features import (
    FRESHNESS_FEATURES,
    QUALITY_FEATURES,
    SCHEMA_FEATURES,
    TABLE_QUALITY_FEATURES,
)
from health_monitor_quality.findings import RULES
from health_monitor_quality.labels import (
    DEGRADATION_LABELS,
    FRESHNESS_LABELS,
    SCHEMA_CHANGE_LABELS,
    SCHEMA_DRIFT_LABELS,
)
from health_monitor_quality.models import (
    DATA_FRESHNESS_PREDICTOR,
    DATA_QUALITY_DEGRADATION_FORECASTER,
    SCHEMA_CHANGE_PREDICTOR,
    SCHEMA_DRIFT_DETECTOR,
)
from health_monitor_quality.tools import register_tools  # noqa: F401 - the register_tools hook


@hookimpl
def register_feature_tables(register):
    register(FRESHNESS_FEATURES)
    register(QUALITY_FEATURES)
    register(SCHEMA_FEATURES)
    register(TABLE_QUALITY_FEATURES)


@hookimpl
def register_models(register):
    register(DATA_FRESHNESS_PREDICTOR)
    register(SCHEMA_DRIFT_DETECTOR)
    register(SCHEMA_CHANGE_PREDICTOR)
    register(DATA_QUALITY_DEGRADATION_FORECASTER)


@hookimpl
def register_labels(register):
    register(FRESHNESS_LABELS)
    register(SCHEMA_DRIFT_LABELS)
    register(SCHEMA_CHANGE_LABELS)
    register(DEGRADATION_LABELS)


@hookimpl
def register_findings(register):
    for rule in RULES:
        register(rule)
