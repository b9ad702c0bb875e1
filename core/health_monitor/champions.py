"""Champion models loaded once, scored and explained one row at a time without Spark.

Real-time endpoints, agent tools and ``health-monitor explain`` share this path: the champion's
packed model (its feature spec included) is loaded from the registry once and reloaded only when
the ``champion`` alias moves; features come from the :class:`OnlineStore`, looked up the way the
feature store joins them in batch.

Scores are cached by the feature rows they were computed from. A request resolves its keys to
row positions in the current version of each feature table (microseconds); the same positions
under the same champion and table versions always give the same prediction, so it is computed
once. :meth:`Champions.prefill` scores every row of a single-lookup model's feature table in
one vectorized call (what ``infer`` does), so a request is a lookup; a cache miss (a
multi-lookup model, a table that moved) is scored live and kept. When the champion or a table
moves, the cache of that model starts over and prefilled models are prefilled again in the
background while misses are scored live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from health_monitor.errors import ConfigError, HealthMonitorError, ModelLoadError
from health_monitor.featurestore import FeatureSpec
from health_monitor.featurestore.pyfunc import load_packed_model
from health_monitor.host import Host
from health_monitor.models.modeling import ScoringModel
from health_monitor.online import MISSING, OnlineStore, OnlineTable, as_text
from health_monitor.registry import CHALLENGER, CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import Contribution, Model

log = logging.getLogger(__name__)

PREFILL_CHUNK = 50_000  # rows scored per vectorized call when prefilling
CACHE_SIZE = 100_000  # live-scored predictions kept per model (least recently used dropped)


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

    def stamp(self, tables: tuple[OnlineTable, ...] | list[OnlineTable]) -> tuple:
        """What anything derived from this champion and its feature ``tables`` is valid for:
        the champion's version and each table's version."""
        return (self.version, tuple(t.version for t in tables))

    def inputs(self, row: dict[str, Any]) -> pd.DataFrame:
        """One row of looked-up features as the model's input frame, in training order."""
        columns = list(self.feature_spec.input_columns)
        return pd.DataFrame([[row.get(c) for c in columns]], columns=columns)


@dataclass
class _Scores:
    """Predictions of one champion version over one version of its feature tables."""

    stamp: tuple
    columns: dict[str, np.ndarray] | None = None  # prefilled: output column -> values
    rows: dict[tuple[int, ...], int] | None = None  # prefilled, several lookups: positions -> row
    by_positions: OrderedDict = field(default_factory=OrderedDict)  # live: positions -> output dict
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, positions: tuple[int, ...]) -> dict[str, Any] | None:
        if self.columns is not None:
            # One lookup: the table row is the prefilled row. Several: the combinations prefilled.
            i = (
                (positions[0] if positions[0] >= 0 else None)
                if self.rows is None
                else self.rows.get(positions)
            )
            if i is not None:
                return {column: plain(values[i]) for column, values in self.columns.items()}
        with self.lock:
            found = self.by_positions.get(positions)
            if found is not None:
                self.by_positions.move_to_end(positions)
            return found

    def put(self, positions: tuple[int, ...], scored: dict[str, Any]) -> None:
        with self.lock:
            self.by_positions[positions] = scored
            while len(self.by_positions) > CACHE_SIZE:
                self.by_positions.popitem(last=False)


class Champions:
    """The champion of every model, loaded on first use, with its scores cached. Thread-safe."""

    def __init__(
        self, runtime: Runtime, host: Host, store: OnlineStore | None = None, refresh_seconds: float = 30.0
    ):
        self.runtime = runtime
        self.host = host
        self.store = store or OnlineStore(runtime.lakehouse)
        self.refresh_seconds = refresh_seconds
        self.background = False  # set by start_refresh: requests never check versions themselves
        self._loaded: dict[str, tuple[Champion, float]] = {}
        self._lock = threading.Lock()
        self._scores: dict[str, _Scores] = {}
        self._prefill: set[str] = set()  # models to prefill again when their versions move
        self._prefilling: set[str] = set()
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
        if cached is not None and (self.background or now - cached[1] < self.refresh_seconds):
            return cached[0]
        with self._lock:
            current = self._current(model)
            if current is None:
                raise HealthMonitorError(self._no_champion(model))
            if cached is not None and cached[0].version == current.version:
                champion = cached[0]
            else:
                champion = self._load(spec, current)
            self._loaded[model] = (champion, now)
            return champion

    def _no_champion(self, model: str) -> str:
        held = self.runtime.registry.version_by_alias(
            self.runtime.settings.registered_model(model), CHALLENGER
        )
        if held is None:
            return f"model {model} has no '{CHAMPION}' version; run `health-monitor train --model {model}`"
        return (
            f"model {model} has no '{CHAMPION}' version: the champion gate held v{held.version} back "
            f"(why: `health-monitor evaluate --model {model}`); promote by hand: health-monitor promote "
            f"--model {model} --version {held.version} --reason TEXT"
        )

    def _current(self, model: str):
        return self.runtime.registry.version_by_alias(self.runtime.settings.registered_model(model), CHAMPION)

    def _load(self, spec: Model, current) -> Champion:
        self.runtime.registry.configure()  # models:/ URIs resolve against the global registry
        try:
            packed = load_packed_model(current.uri)
        except HealthMonitorError:
            raise
        except Exception as exc:  # missing or unreadable artifacts: this model only, say which
            raise ModelLoadError(
                f"model {spec.name} v{current.version} cannot be loaded from {current.uri}: "
                f"{type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        return Champion(spec, current.version, packed.model, packed.feature_spec)

    def refresh(self) -> list[str]:
        """Reload every loaded model whose ``champion`` alias moved; returns them."""
        moved = []
        for model, (old, _) in list(self._loaded.items()):
            current = self._current(model)
            champion = old
            if current is not None and current.version != old.version:
                try:
                    champion = self._load(old.spec, current)
                except HealthMonitorError as exc:  # keep serving the loaded version
                    log.warning("%s; still serving v%s", exc, old.version)
                else:
                    moved.append(model)
            with self._lock:
                self._loaded[model] = (champion, time.monotonic())
        return moved

    def start_refresh(self, interval: float | None = None) -> threading.Event:
        """Check table versions and champion aliases in a background thread every ``interval``
        seconds (default: the store's ``refresh_seconds``), reloading what moved there, so a
        request never waits for a check or a reload. Set the returned event to stop it."""
        stop = threading.Event()
        self.store.background = self.background = True

        def loop() -> None:
            while not stop.wait(interval or self.store.refresh_seconds):
                try:
                    self.store.refresh()
                    self.refresh()
                    for model in list(self._prefill):
                        self._refill(model)
                except Exception:  # keep serving what is loaded; try again next time
                    log.exception("background refresh failed")

        threading.Thread(target=loop, daemon=True, name="health-monitor-refresh").start()
        return stop

    def features(self, model: str, base: dict[str, Any], at: Any | None = None) -> pd.DataFrame:
        """One row of the model's looked-up features (context included), in training order."""
        champion = self.get(model)
        return champion.inputs(self.store.features(champion.feature_spec, base, at))

    def resolve(
        self, champion: Champion, base: dict[str, Any], at: Any | None = None
    ) -> tuple[tuple[OnlineTable, ...], tuple[int, ...]]:
        """The feature tables and row positions ``champion``'s lookups join for ``base``."""
        return self.store.resolve(champion.feature_spec, base, at)

    def score(
        self, model: str, base: dict[str, Any], at: Any | None = None, *, cached: bool = True
    ) -> dict[str, Any]:
        """One prediction: the standard output columns and the model's own, JSON-ready.

        ``cached=False`` scores the looked-up features live, bypassing the cache (tests compare
        the two)."""
        champion = self.get(model)
        tables, positions = self.resolve(champion, base, at)
        return self.score_rows(champion, tables, positions, cached=cached)

    def score_rows(
        self,
        champion: Champion,
        tables: tuple[OnlineTable, ...],
        positions: tuple[int, ...],
        *,
        cached: bool = True,
    ) -> dict[str, Any]:
        """The prediction for resolved feature rows (see :meth:`resolve`)."""
        if not cached:
            return self._live(champion, tables, positions)
        scores = self._scores_of(champion, tables)
        found = scores.get(positions)
        if found is None:
            found = self._live(champion, tables, positions)
            scores.put(positions, found)
        return dict(found)

    def _live(
        self, champion: Champion, tables: tuple[OnlineTable, ...], positions: tuple[int, ...]
    ) -> dict[str, Any]:
        X = champion.inputs(self.store.values(champion.feature_spec, tables, positions))
        return {str(name): plain(values.iloc[0]) for name, values in champion.model.predict(X).items()}

    def _scores_of(self, champion: Champion, tables: tuple[OnlineTable, ...]) -> _Scores:
        model = champion.spec.name
        stamp = champion.stamp(tables)
        scores = self._scores.get(model)
        if scores is not None and scores.stamp == stamp:
            return scores
        with self._lock:
            scores = self._scores.get(model)
            if scores is None or scores.stamp != stamp:
                scores = self._scores[model] = _Scores(stamp)
                if model in self._prefill and model not in self._prefilling:
                    self._prefilling.add(model)
                    threading.Thread(
                        target=self._prefill_quietly, args=(model,), daemon=True, name=f"prefill-{model}"
                    ).start()
            return scores

    def _prefill_quietly(self, model: str) -> None:
        try:
            self.prefill(model)
        except Exception:  # the model is still served, live; the next version move tries again
            log.exception("prefilling %s failed; scoring it live", model)
        finally:
            with self._lock:
                self._prefilling.discard(model)

    def _refill(self, model: str) -> None:
        """Prefill ``model`` again, in this thread, if its champion or a table has moved."""
        champion = self.get(model)
        tables = tuple(self.store.table(lk.table_name) for lk in champion.feature_spec.lookups)
        scores = self._scores.get(model)
        if scores is not None and scores.stamp == champion.stamp(tables):
            return
        with self._lock:
            if model in self._prefilling:
                return
            self._prefilling.add(model)
        self._prefill_quietly(model)

    def prefill(self, model: str, chunk: int = PREFILL_CHUNK) -> int:
        """Score, in vectorized calls, every feature vector a request for the latest features
        can resolve to, so such requests are lookups; returns how many were scored.

        One lookup: every row of its table (as-of requests are covered too). Several: the
        combinations that every entity's latest request resolves to, and its request as of
        the day of each of its rows, the entities and days taken from the first table holding
        all request keys; other as-of requests are scored live, then kept."""
        champion = self.get(model)
        spec = champion.feature_spec
        with self._lock:
            self._prefill.add(model)
        tables: tuple[OnlineTable, ...] | None
        if len(spec.lookups) == 1:
            table = self.store.table(spec.lookups[0].table_name, "run `health-monitor features` first")
            tables, positions, rows = (table,), np.arange(len(table.frame))[:, None], None
        else:
            requests = self._requests(champion)
            if requests is None:
                return 0
            resolved: dict[tuple[int, ...], None] = {}
            tables = None
            for base, at in requests:
                found_tables, found = self.resolve(champion, base, at)
                if tables is not None and found_tables != tables:
                    return 0  # a table moved meanwhile: the new version gets prefilled
                tables = found_tables
                if MISSING not in found:
                    resolved[found] = None
            if tables is None:
                return 0
            rows = {p: i for i, p in enumerate(resolved)}
            positions = np.array(list(resolved), dtype=np.int64).reshape(len(resolved), len(spec.lookups))
        columns = list(spec.input_columns)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(positions), chunk):
            X = self.store.frame(spec, tables, positions[start : start + chunk]).reindex(columns=columns)
            for name, values in champion.model.predict(X).items():
                parts.setdefault(str(name), []).append(values.to_numpy())
        scores = _Scores(
            champion.stamp(tables),
            columns={name: np.concatenate(values) for name, values in parts.items()},
            rows=rows,
        )
        with self._lock:
            current = self._scores.get(model)
            if current is not None and current.stamp == scores.stamp:
                scores.by_positions = current.by_positions  # keep what was scored live meanwhile
            self._scores[model] = scores
        return len(positions)

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

    def _requests(self, champion: Champion) -> list[tuple[dict[str, str], str | None]] | None:
        """(keys as text, as_of) of every entity's latest request and of its requests as of the
        day of each of its rows, from the first lookup table holding all of ``champion``'s
        request keys; None when no table does."""
        for lookup in champion.feature_spec.lookups:
            table = self.store.table(lookup.table_name, "run `health-monitor features` first")
            renamed = dict(zip(lookup.keys, table.keys_for(lookup), strict=True))
            columns = [renamed.get(k, k) for k in champion.request_keys]
            if not all(c in table.frame.columns for c in columns):
                continue
            keys = list(zip(*(as_text(table.frame[c]) for c in columns), strict=True))
            days: list[str | None] = [None] * len(keys)
            if champion.point_in_time and table.timestamp_key is not None:
                days = [None if d is None else d[:10] for d in as_text(table.frame[table.timestamp_key])]
            pairs = dict.fromkeys([(k, None) for k in keys] + list(zip(keys, days, strict=True)))
            return [(dict(zip(champion.request_keys, k, strict=True)), day) for k, day in pairs]
        return None


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
