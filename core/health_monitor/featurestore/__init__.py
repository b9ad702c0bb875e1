"""The feature-store port, with the call shapes of ``databricks-feature-engineering``.

:class:`FeatureLookup` and the client methods (``create_table``, ``write_table``,
``read_table``, ``create_training_set``, ``log_model``, ``score_batch``) take the same arguments
as ``databricks.feature_engineering.FeatureEngineeringClient``, so pipeline code is the same in
both homes. The embedded default is :class:`health_monitor.featurestore.local.LocalFeatureStore`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class FeatureLookup:
    """Which features to take from which table, joined on which keys (Databricks' signature)."""

    table_name: str
    lookup_key: list[str] | str
    feature_names: list[str] | str | None = None
    rename_outputs: dict[str, str] | None = None
    timestamp_lookup_key: str | None = None
    lookback_window: dt.timedelta | None = None
    default_values: dict[str, Any] | None = None

    @property
    def keys(self) -> list[str]:
        return [self.lookup_key] if isinstance(self.lookup_key, str) else list(self.lookup_key)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lookup_key"] = self.keys
        if isinstance(self.feature_names, str):
            data["feature_names"] = [self.feature_names]
        data["lookback_window"] = self.lookback_window.total_seconds() if self.lookback_window else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureLookup:
        data = dict(data)
        if data.get("lookback_window") is not None:
            data["lookback_window"] = dt.timedelta(seconds=data["lookback_window"])
        return cls(**data)


@dataclass(frozen=True)
class FeatureSpec:
    """What a packaged model needs to find its own inputs: lookups and the model's input order."""

    lookups: list[FeatureLookup]
    input_columns: list[str]
    label: str | None = None
    exclude_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookups": [lk.to_dict() for lk in self.lookups],
            "input_columns": self.input_columns,
            "label": self.label,
            "exclude_columns": self.exclude_columns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            lookups=[FeatureLookup.from_dict(d) for d in data["lookups"]],
            input_columns=list(data["input_columns"]),
            label=data.get("label"),
            exclude_columns=list(data.get("exclude_columns", [])),
        )


class FeatureStore(Protocol):
    """The calls the pipelines make; both homes implement them with the same arguments."""

    def create_table(
        self,
        name: str,
        primary_keys: list[str],
        df: Any = None,
        *,
        timestamp_keys: list[str] | None = None,
        description: str = "",
    ) -> Any: ...

    def write_table(self, name: str, df: Any, mode: str = "overwrite") -> Any: ...

    def read_table(self, name: str) -> Any: ...

    def create_training_set(
        self,
        df: Any,
        feature_lookups: list[FeatureLookup],
        label: str | None,
        exclude_columns: list[str] | None = None,
    ) -> Any: ...

    def log_model(
        self,
        model: Any,
        artifact_path: str,
        *,
        flavor: Any,
        training_set: Any,
        registered_model_name: str | None = None,
        **kwargs: Any,
    ) -> Any: ...

    def score_batch(self, model_uri: str, df: Any, result_type: str = "double") -> Any: ...
