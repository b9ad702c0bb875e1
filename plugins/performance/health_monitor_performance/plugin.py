"""Entry point of the performance plugin: the hook implementations health-monitor loads."""

from health_monitor.sdk import hookimpl
from health_monitor_performance import labels, models
from health_monitor_performance.capacity_features import WORKSPACE_CAPACITY_FEATURES
from health_monitor_performance.features import QUERY_FEATURES
from health_monitor_performance.findings import RULES
from health_monitor_performance.job_features import JOB_RUNTIME_FEATURES
from health_monitor_performance.tools import register_tools  # noqa: F401 - the register_tools hook
from health_monitor_performance.warehouse_features import WAREHOUSE_DAY_FEATURES


@hookimpl
def register_feature_tables(register):
    for table in (QUERY_FEATURES, WAREHOUSE_DAY_FEATURES, WORKSPACE_CAPACITY_FEATURES, JOB_RUNTIME_FEATURES):
        register(table)


@hookimpl
def register_models(register):
    for model in (
        models.QUERY_PERFORMANCE_FORECASTER,
        models.WAREHOUSE_OPTIMIZER,
        models.QUERY_OPTIMIZATION_RECOMMENDER,
        models.CLUSTER_CAPACITY_PLANNER,
        models.DBR_MIGRATION_RISK_SCORER,
        models.CACHE_HIT_PREDICTOR,
        models.PERFORMANCE_REGRESSION_DETECTOR,
    ):
        register(model)


@hookimpl
def register_labels(register):
    for label in (
        labels.DURATION_LABELS,
        labels.OPTIMIZATION_LABELS,
        labels.NEEDED_SIZE_LABELS,
        labels.PEAK_WORKER_LABELS,
        labels.MIGRATION_LABELS,
        labels.CACHE_SHARE_LABELS,
        labels.REGRESSION_INCIDENT_LABELS,
    ):
        register(label)


@hookimpl
def register_findings(register):
    for rule in RULES:
        register(rule)
