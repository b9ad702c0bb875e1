"""The plugin SDK: everything a health-monitor plugin imports, and nothing else.

A plugin imports from ``health_monitor.sdk`` (this package and its modules) and from
``health_monitor.errors``; an import-linter contract in ``pyproject.toml`` keeps it so. Nothing
here starts Spark, loads MLflow or LangChain: the core turns what a plugin declares into Spark
jobs, MLflow runs and LangChain tools.

>>> from health_monitor.sdk import Model, FeatureTable, Lookup, ProblemType, hookimpl

- the contract: :data:`hookimpl` and the hook specs (:mod:`health_monitor.sdk.hooks`);
- what a plugin declares: :class:`FeatureTable`, :class:`Model`, :class:`Lookup`,
  :class:`Labels`, :class:`Explainer`, :class:`FindingRule`, :class:`AgentTool`
  (:mod:`health_monitor.sdk.specs`);
- agent tools in three shapes: :func:`entity_tool`, :func:`ranking_tool`, :func:`listing_tool`
  (:mod:`health_monitor.sdk.tools`, argument types in :mod:`health_monitor.sdk.args`);
- the naive baselines every model is compared with: :class:`ZScoreRule`,
  :class:`HistoryRateClassifier`, :class:`LastValueRegressor`;
- threshold search: :func:`best_f1_threshold`;
- estimators several domains share: :class:`RelativeRegressor` (an amount relative to a
  reference column) and :class:`F1ThresholdClassifier` (a decision threshold tuned for F1)
  (:mod:`health_monitor.sdk.estimators`);
- calibrated anomaly detectors: :class:`CalibratedDetector` wraps any outlier scorer (an
  ``IsolationForest``, :class:`RobustZMax`, :class:`TailEvidence`) with a threshold calibrated
  to an alarm budget (:mod:`health_monitor.sdk.detectors`);
- one module per model: :func:`specs_in` finds the specs a package's modules define;
- Spark column helpers for point-in-time features, and job runs rebuilt from the run timeline:
  :mod:`health_monitor.sdk.featurekit`;
- helpers for the words and numbers of a finding: :mod:`health_monitor.sdk.findingkit`.
"""

from __future__ import annotations

from health_monitor.sdk.baselines import HistoryRateClassifier, LastValueRegressor, ZScoreRule
from health_monitor.sdk.detectors import DEFAULT_ALARM_BUDGET, CalibratedDetector, RobustZMax, TailEvidence
from health_monitor.sdk.discovery import specs_in
from health_monitor.sdk.estimators import F1ThresholdClassifier, RelativeRegressor
from health_monitor.sdk.hooks import hookimpl
from health_monitor.sdk.specs import (
    AgentTool,
    Contribution,
    Explainer,
    FeatureTable,
    FindingRule,
    Labels,
    Lookup,
    Model,
    ProblemType,
    Tables,
    ToolContext,
)
from health_monitor.sdk.thresholds import best_f1_threshold
from health_monitor.sdk.tools import entity_tool, listing_tool, ranking_tool

__all__ = [
    "DEFAULT_ALARM_BUDGET",
    "AgentTool",
    "CalibratedDetector",
    "Contribution",
    "Explainer",
    "F1ThresholdClassifier",
    "FeatureTable",
    "FindingRule",
    "HistoryRateClassifier",
    "Labels",
    "LastValueRegressor",
    "Lookup",
    "Model",
    "ProblemType",
    "RelativeRegressor",
    "RobustZMax",
    "TailEvidence",
    "Tables",
    "ToolContext",
    "ZScoreRule",
    "best_f1_threshold",
    "entity_tool",
    "hookimpl",
    "listing_tool",
    "ranking_tool",
    "specs_in",
]
