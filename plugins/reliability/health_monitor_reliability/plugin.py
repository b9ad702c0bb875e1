"""Entry point of the reliability plugin: the hook implementations health-monitor loads."""

from health_monitor.hookspecs import hookimpl
from health_monitor_reliability.features import RELIABILITY_FEATURES
from health_monitor_reliability.labels import FAILURE_LABELS
from health_monitor_reliability.models import JOB_FAILURE_PREDICTOR


@hookimpl
def register_feature_tables(register):
    register(RELIABILITY_FEATURES)


@hookimpl
def register_models(register):
    register(JOB_FAILURE_PREDICTOR)


@hookimpl
def register_labels(register):
    register(FAILURE_LABELS)
