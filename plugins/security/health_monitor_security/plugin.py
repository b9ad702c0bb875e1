"""Entry point of the security plugin: the hook implementations health-monitor loads."""

from health_monitor.hookspecs import hookimpl
from health_monitor_security.features import SECURITY_FEATURES
from health_monitor_security.labels import THREAT_LABELS
from health_monitor_security.models import SECURITY_THREAT_DETECTOR


@hookimpl
def register_feature_tables(register):
    register(SECURITY_FEATURES)


@hookimpl
def register_models(register):
    register(SECURITY_THREAT_DETECTOR)


@hookimpl
def register_labels(register):
    register(THREAT_LABELS)
