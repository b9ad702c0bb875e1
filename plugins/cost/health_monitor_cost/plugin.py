"""Entry point of the cost plugin: the hook implementations health-monitor loads."""

from health_monitor.sdk import hookimpl
from health_monitor_cost import features, job_features, labels, models, resource_features
from health_monitor_cost.findings import RULES
from health_monitor_cost.tools import register_tools  # noqa: F401 - the register_tools hook

FEATURE_TABLES = (
    features.COST_FEATURES,
    features.SPEND_FEATURES,
    job_features.JOB_COST_FEATURES,
    resource_features.RESOURCE_TAG_FEATURES,
    resource_features.RESOURCE_DAILY_SPEND,
)
MODELS = (
    models.COST_ANOMALY_DETECTOR,
    models.BUDGET_FORECASTER,
    models.COMMITMENT_RECOMMENDER,
    models.JOB_COST_OPTIMIZER,
    models.TAG_RECOMMENDER,
    models.CHARGEBACK_ATTRIBUTION,
)
LABELS = (
    labels.COST_ANOMALY_LABELS,
    labels.BUDGET_LABELS,
    labels.COMMITMENT_LABELS,
    labels.JOB_COST_LABELS,
    labels.TAG_LABELS,
    labels.CHARGEBACK_LABELS,
)


@hookimpl
def register_feature_tables(register):
    for table in FEATURE_TABLES:
        register(table)


@hookimpl
def register_models(register):
    for model in MODELS:
        register(model)


@hookimpl
def register_labels(register):
    for label in LABELS:
        register(label)


@hookimpl
def register_findings(register):
    for rule in RULES:
        register(rule)
