"""Explain one prediction: the features that moved it most, with their values and weights.

The prediction is found in ``<model>_predictions`` by its keys; its features are looked up the
way scoring looked them up (the row's own lookup keys and times, from the online store, no
Spark); the champion's explainer (a plugin's, from the explain hook, or the core's occlusion
default) ranks them. What it returns and the messages it raises carry stored values cleaned
(:mod:`health_monitor.untrusted`): the CLI, the agent tool and any other caller print them as they are.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from health_monitor.errors import ConfigError
from health_monitor.pipelines.train import base_columns
from health_monitor.sdk.specs import Contribution
from health_monitor.serving.scoring import Champion, Champions, plain
from health_monitor.untrusted import clean, message, quoted

EXPLAINED_OUTPUTS = ("prediction", "probability", "anomaly_score", "is_anomaly", "predicted_class")


def find_prediction(champions: Champions, model: str, keys: dict[str, str]) -> pd.Series:
    spec = champions.spec(model)
    unknown = sorted(set(keys) - set(spec.keys))
    missing = [k for k in spec.keys if k not in keys]
    if unknown or missing:
        raise ConfigError(
            f"model {model} is keyed by {list(spec.keys)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
        )
    table = champions.store.table(
        champions.runtime.settings.predictions(model), f"run `health-monitor infer --model {model}` first"
    )
    rows = table.frame.iloc[table.positions({k: keys[k] for k in spec.keys})]
    if rows.empty:
        sample = table.frame[list(spec.keys)].head(3).astype(str).to_dict("records")
        examples = "; ".join(", ".join(f"{k}={quoted(v, 64)}" for k, v in row.items()) for row in sample)
        asked = ", ".join(f"{k}={quoted(v, 64)}" for k, v in keys.items())
        raise ConfigError(
            message(f"no prediction of {model} for {asked}; examples of valid keys: {examples}")
        )
    return rows.iloc[0]


def contributions(
    champions: Champions, model: str, base: dict[str, Any], top_k: int = 5
) -> tuple[Champion, list[Contribution]]:
    """The champion and the ``top_k`` features that moved its score of ``base`` (the lookup keys and
    times of a prediction row) most: the plugin's explainer if it has one, else occlusion."""
    champion = champions.get(model)
    spec, scoring = champion.feature_spec, champion.model
    X = champions.store.inputs(spec, *champions.store.resolve(spec, base))
    if (owned := champions.host.explainers.get(model)) is None:
        return champion, scoring.explain(X, top_k)[0]
    return champion, owned.spec.explain(scoring.estimator, X[scoring.input_columns], top_k)[0]


def explain_prediction(
    champions: Champions, model: str, keys: dict[str, str], top_k: int = 5
) -> dict[str, Any]:
    if not 1 <= top_k <= 50:
        raise ConfigError(f"top_k must be between 1 and 50, got {top_k}")
    row = find_prediction(champions, model, keys)
    spec = champions.spec(model)
    base = {c: row[c] for c in base_columns(spec) if c in row.index}
    champion, found = contributions(champions, model, base, top_k)
    return clean(
        {
            "model": model,
            "model_version": int(row.get("model_version", champion.version)),
            "keys": {k: plain(row[k]) for k in spec.keys},
            "outputs": {
                c: plain(row[c]) for c in (*EXPLAINED_OUTPUTS, *(n for n, _ in spec.outputs)) if c in row
            },
            "explainer": "plugin" if model in champions.host.explainers else "occlusion",
            "contributions": [
                {"feature": c.feature, "value": plain(c.value), "weight": plain(c.weight)} for c in found
            ],
        }
    )
