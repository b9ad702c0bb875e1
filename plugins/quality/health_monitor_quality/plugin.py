"""Entry point of the quality plugin: the hook implementations health-monitor loads."""

from health_monitor.hookspecs import hookimpl
from health_monitor_quality.features import FRESHNESS_FEATURES, QUALITY_FEATURES
from health_monitor_quality.labels import FRESHNESS_LABELS
from health_monitor_quality.models import DATA_FRESHNESS_PREDICTOR


@hookimpl
def register_feature_tables(register):
    register(FRESHNESS_FEATURES)
    register(QUALITY_FEATURES)


@hookimpl
def register_models(register):
    register(DATA_FRESHNESS_PREDICTOR)


@hookimpl
def register_labels(register):
    register(FRESHNESS_LABELS)
