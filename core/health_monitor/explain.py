"""Explain one prediction: the features that moved it most, with their values and weights.

The prediction is found in ``<model>_predictions`` by its keys; its features are looked up the
way scoring looked them up; the champion's explainer (a plugin's, from the explain hook, or the
core's occlusion default) ranks them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.pipelines.train import base_columns, feature_lookups
from health_monitor.registry import CHAMPION
from health_monitor.runtime import Runtime


def find_prediction(runtime: Runtime, host: Host, model: str, keys: dict[str, str]) -> pd.Series:
    if model not in host.models:
        raise ConfigError(f"unknown model {model!r}; known models: {', '.join(sorted(host.models))}")
    spec = host.models[model].spec
    unknown = sorted(set(keys) - set(spec.keys))
    missing = [k for k in spec.keys if k not in keys]
    if unknown or missing:
        raise ConfigError(
            f"model {model} is keyed by {list(spec.keys)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    table = runtime.settings.predictions(model)
    if not runtime.lakehouse.exists(table):
        raise HealthMonitorError(f"{table} does not exist; run `health-monitor infer --model {model}` first")
    frame = runtime.lakehouse.read_arrow(table).to_pandas()
    match = pd.Series(True, index=frame.index)
    for key, value in keys.items():
        match &= frame[key].astype(str) == str(value)
    rows = frame[match]
    if rows.empty:
        sample = frame[list(spec.keys)].head(3).astype(str).to_dict("records")
        raise ConfigError(f"no prediction of {model} for {keys}; examples of valid keys: {sample}")
    return rows.iloc[0]


def explain_prediction(
    runtime: Runtime, host: Host, model: str, keys: dict[str, str], top_k: int = 5
) -> dict[str, Any]:
    if not 1 <= top_k <= 50:
        raise ConfigError(f"top_k must be between 1 and 50, got {top_k}")
    row = find_prediction(runtime, host, model, keys)
    spec = host.models[model].spec
    runtime.registry.configure()
    champion = runtime.registry.version_by_alias(runtime.settings.registered_model(model), CHAMPION)
    if champion is None:
        raise HealthMonitorError(
            f"model {model} has no champion version; run `health-monitor train --model {model}`"
        )
    scoring = load_packed_model(champion.uri).model
    base = runtime.lakehouse.spark.createDataFrame(pd.DataFrame([row[base_columns(spec)].to_dict()]))
    features = runtime.feature_store.create_training_set(base, feature_lookups(runtime, spec), label=None)
    X = features.load_df().toPandas()[list(spec.feature_names)]
    owned = host.explainers.get(model)
    contributions = (owned.spec.explain(scoring.estimator, X, top_k) if owned else scoring.explain(X, top_k))[
        0
    ]
    outputs = {
        c: _plain(row[c]) for c in ("prediction", "probability", "anomaly_score", "is_anomaly") if c in row
    }
    return {
        "model": model,
        "model_version": champion.version,
        "keys": {k: _plain(row[k]) for k in spec.keys},
        "outputs": outputs,
        "explainer": "plugin" if owned else "occlusion",
        "contributions": [
            {"feature": c.feature, "value": c.value, "weight": c.weight} for c in contributions
        ],
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value
