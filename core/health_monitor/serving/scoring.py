"""Champion models from the registry, scored one row at a time without Spark: for ``as_of``
requests and misses of the endpoints, agent tools and ``explain``. A champion (its feature spec
packed with it) is loaded again when the ``champion`` alias moves, checked at most every
``REFRESH_SECONDS``; features come from the :class:`OnlineStore`, joined as in batch."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from health_monitor.errors import HealthMonitorError, TableNotFoundError
from health_monitor.featurestore import FeatureSpec
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.models.modeling import ScoringModel
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import Model
from health_monitor.serving.online import OnlineStore, OnlineTable, Resolved

REFRESH_SECONDS = 30.0  # a champion's alias is read again at most this often


@dataclass(frozen=True)
class Champion:
    spec: Model
    version: int
    model: ScoringModel
    feature_spec: FeatureSpec
    stamps: frozenset[str]  # the base columns its point-in-time lookups are as of


class Champions:
    """The champion of every model, loaded on first use. A model's alias is read again at most every
    ``REFRESH_SECONDS``: a moved alias loads the new champion; a model that cannot be loaded
    raises the same error until then (a broken model costs its callers nothing meanwhile)."""

    def __init__(self, runtime: Runtime, host: Host, store: OnlineStore | None = None):
        self.runtime, self.host = runtime, host
        self.store = store or OnlineStore(runtime.lakehouse)
        self.loaded: dict[str, tuple[Champion | HealthMonitorError, float]] = {}  # model -> (it, when read)

    def spec(self, model: str) -> Model:
        return self.host.select_models(model=model)[0].spec  # an unknown model raises, naming the known

    def get(self, model: str) -> Champion:
        held, when = self.loaded.get(model, (None, -math.inf))
        if time.monotonic() - when >= REFRESH_SECONDS:
            spec = self.spec(model)  # (an unknown model is not kept)
            try:
                name = self.runtime.settings.registered_model(model)
                current = self.runtime.registry.champion(name, model)
                if not isinstance(held, Champion) or held.version != current.version:
                    packed = load_packed_model(current.uri)  # (champion() set up the registry: models:/)
                    lookups = packed.feature_spec.lookups
                    stamps = frozenset(lk.timestamp_lookup_key for lk in lookups if lk.timestamp_lookup_key)
                    held = Champion(spec, current.version, packed.model, packed.feature_spec, stamps)
            except HealthMonitorError as exc:
                held = exc
            self.loaded[model] = (held, time.monotonic())
        if isinstance(held, HealthMonitorError):
            raise held.with_traceback(None)
        return held  # type: ignore[return-value]

    def predictions(self, model: str) -> OnlineTable | None:
        """``model``'s prediction table in the store, or None when ``infer`` has not written it."""
        try:
            return self.store.table(self.runtime.settings.predictions(model))
        except TableNotFoundError:
            return None

    def hold(self, model: str, error: HealthMonitorError) -> None:
        """Fail ``model`` with ``error`` (a table it reads is missing, say): :meth:`get` raises it
        until the model's check is due, as for a champion that cannot be loaded."""
        self.loaded[model] = (error, time.monotonic())

    def score_rows(self, champion: Champion, resolved: Resolved) -> dict[str, Any]:
        """The prediction for resolved feature rows: the standard output columns and the model's own."""
        X = self.store.inputs(champion.feature_spec, *resolved)
        return {str(name): plain(values.iloc[0]) for name, values in champion.model.predict(X).items()}

    def score(self, model: str, base: dict[str, Any], at: Any | None = None) -> dict[str, Any]:
        """One prediction scored live, JSON-ready (``at``: see :meth:`OnlineStore.resolve`)."""
        champion = self.get(model)
        return self.score_rows(champion, self.store.resolve(champion.feature_spec, base, at))


def plain(value: Any) -> Any:
    """A JSON-ready Python value: dates as ISO text, numpy scalars unboxed, NaN as None."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and not np.isfinite(value) else value
