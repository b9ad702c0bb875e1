"""Champion models loaded once, scored and explained one row at a time without Spark.

Real-time endpoints, agent tools and ``health-monitor explain`` share this path: the champion's
packed model (its feature spec included) is loaded from the registry once and reloaded only when
the ``champion`` alias moves; features come from the :class:`OnlineStore`, looked up the way the
feature store joins them in batch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.featurestore import FeatureSpec
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.modeling import ScoringModel
from health_monitor.online import OnlineStore
from health_monitor.registry import CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.specs import Contribution, Model


@dataclass(frozen=True)
class Champion:
    spec: Model
    version: int
    model: ScoringModel
    feature_spec: FeatureSpec

    @property
    def request_keys(self) -> list[str]:
        """What one real-time request must name: every lookup key that is not a point in time."""
        stamps = {lk.timestamp_lookup_key for lk in self.feature_spec.lookups if lk.timestamp_lookup_key}
        keys = [k for lk in self.feature_spec.lookups for k in lk.keys if k not in stamps]
        return list(dict.fromkeys(keys))

    @property
    def point_in_time(self) -> bool:
        return any(lk.timestamp_lookup_key for lk in self.feature_spec.lookups)


class Champions:
    """The champion of every model, loaded on first use. Thread-safe."""

    def __init__(
        self, runtime: Runtime, host: Host, store: OnlineStore | None = None, refresh_seconds: float = 30.0
    ):
        self.runtime = runtime
        self.host = host
        self.store = store or OnlineStore(runtime.lakehouse)
        self.refresh_seconds = refresh_seconds
        self._loaded: dict[str, tuple[Champion, float]] = {}
        self._lock = threading.Lock()
        runtime.registry.configure()

    def spec(self, model: str) -> Model:
        owned = self.host.models.get(model)
        if owned is None:
            raise ConfigError(f"unknown model {model!r}; known models: {', '.join(sorted(self.host.models))}")
        return owned.spec

    def get(self, model: str) -> Champion:
        spec = self.spec(model)
        now = time.monotonic()
        cached = self._loaded.get(model)
        if cached is not None and now - cached[1] < self.refresh_seconds:
            return cached[0]
        with self._lock:
            name = self.runtime.settings.registered_model(model)
            current = self.runtime.registry.version_by_alias(name, CHAMPION)
            if current is None:
                raise HealthMonitorError(
                    f"model {model} has no '{CHAMPION}' version; run `health-monitor train --model {model}`"
                )
            if cached is not None and cached[0].version == current.version:
                champion = cached[0]
            else:
                self.runtime.registry.configure()  # models:/ URIs resolve against the global registry
                packed = load_packed_model(current.uri)
                champion = Champion(spec, current.version, packed.model, packed.feature_spec)
            self._loaded[model] = (champion, now)
            return champion

    def features(self, model: str, base: dict[str, Any], at: Any | None = None) -> pd.DataFrame:
        """One row of the model's looked-up features (context included), in training order."""
        champion = self.get(model)
        row = self.store.features(champion.feature_spec, base, at)
        columns = list(champion.feature_spec.input_columns)
        return pd.DataFrame([[row.get(c) for c in columns]], columns=columns)

    def score(self, model: str, base: dict[str, Any], at: Any | None = None) -> dict[str, Any]:
        champion = self.get(model)
        X = self.features(model, base, at)
        out = champion.model.predict(X).iloc[0].to_dict()
        return {k: plain(v) for k, v in out.items()}

    def explain(
        self, model: str, base: dict[str, Any], top_k: int = 5
    ) -> tuple[Champion, list[Contribution]]:
        if not 1 <= top_k <= 50:
            raise ConfigError(f"top_k must be between 1 and 50, got {top_k}")
        champion = self.get(model)
        X = self.features(model, base)
        owned = self.host.explainers.get(model)
        if owned is not None:
            return champion, owned.spec.explain(
                champion.model.estimator, X[champion.model.input_columns], top_k
            )[0]
        return champion, champion.model.explain(X, top_k)[0]


def plain(value: Any) -> Any:
    """A JSON-ready Python value: dates as ISO text, numpy scalars unboxed, NaN as None."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
