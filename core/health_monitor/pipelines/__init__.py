"""The three pipelines: features (Gold -> feature tables), train (lookups -> registered models)
and infer (keys -> prediction tables). Each processes items one by one; a failing item is
reported with its plugin and the others go on."""

from health_monitor.pipelines.features import run_features
from health_monitor.pipelines.infer import run_infer
from health_monitor.pipelines.report import ItemResult, StageReport
from health_monitor.pipelines.train import run_train

__all__ = ["ItemResult", "StageReport", "run_features", "run_infer", "run_train"]
