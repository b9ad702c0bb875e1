"""The model wing: what happens to a model between ``train`` and a reader.

- :mod:`~health_monitor.models.modeling`: a fitted estimator as the core scores it;
- :mod:`~health_monitor.models.evaluation` and :mod:`~health_monitor.models.verdicts`: the time
  split, the metrics and the verdict against the baseline, with error bars;
- :mod:`~health_monitor.models.promotion`: the champion gate's hand override;
- :mod:`~health_monitor.models.explain`: one prediction's reasons;
- :mod:`~health_monitor.models.drift`: how far the latest features and predictions are from what
  the champion was trained on (the report shows it; the daily run can retrain on it);
- :mod:`~health_monitor.models.cards` and :mod:`~health_monitor.models.scorecards`: what training
  measured, as model cards and as ``health-monitor evaluate``.

The registry these read and write is a port of its own (:mod:`health_monitor.registry`).
"""
