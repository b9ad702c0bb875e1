"""Entry point of the performance plugin: the hook implementations health-monitor loads."""

from health_monitor.hookspecs import hookimpl
from health_monitor_performance.features import QUERY_FEATURES
from health_monitor_performance.labels import DURATION_LABELS
from health_monitor_performance.models import QUERY_PERFORMANCE_FORECASTER


@hookimpl
def register_feature_tables(register):
    register(QUERY_FEATURES)


@hookimpl
def register_models(register):
    register(QUERY_PERFORMANCE_FORECASTER)


@hookimpl
def register_labels(register):
    register(DURATION_LABELS)
