"""Entry point of the cost plugin: the hook implementations health-monitor loads."""

from health_monitor.hookspecs import hookimpl
from health_monitor_cost.features import COST_FEATURES
from health_monitor_cost.labels import COST_ANOMALY_LABELS
from health_monitor_cost.models import COST_ANOMALY_DETECTOR


@hookimpl
def register_feature_tables(register):
    register(COST_FEATURES)


@hookimpl
def register_models(register):
    register(COST_ANOMALY_DETECTOR)


@hookimpl
def register_labels(register):
    register(COST_ANOMALY_LABELS)
