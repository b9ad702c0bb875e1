"""The feature-store port, with the call shapes of ``databricks-feature-engineering``.

:class:`FeatureLookup` and the client methods (``create_table``, ``write_table``,
``read_table``, ``create_training_set``, ``log_model``, ``score_batch``) take the same arguments
as ``databricks.feature_engineering.FeatureEngineeringClient``, so pipeline code is the same in
both homes. The embedded default is :class:`health_monitor.featurestore.local.LocalFeatureStore`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any, Protocol

from health_monitor.errors import ConfigError, SchemaError


def feature_table_name(name: str) -> str:
    """``name`` if it is ``catalog.schema.table``, else ConfigError. The real client resolves a
    shorter name against the session's current catalog and schema; here no name depends on a
    session, so only three-part names are accepted, in both homes."""
    from health_monitor.lakehouse import TableName

    try:
        return str(TableName.parse(name))
    except ConfigError:
        raise ConfigError(
            f"feature table name must be catalog.schema.table (a Unity Catalog name), got {name!r}"
        ) from None


def check_create_table(name: str, primary_keys: str | list[str], timeseries_column: str | None) -> list[str]:
    """The primary keys as a list, once ``create_table``'s arguments pass the real client's rules:
    a three-part name, and a timeseries column that is one column and one of the primary keys."""
    name = feature_table_name(name)
    keys = [primary_keys] if isinstance(primary_keys, str) else list(primary_keys)
    if timeseries_column is not None and not isinstance(timeseries_column, str):
        raise SchemaError(
            f"feature table {name}: timeseries_column is one column name, got {timeseries_column!r}"
        )
    if timeseries_column is not None and timeseries_column not in keys:
        raise SchemaError(
            f"feature table {name}: timeseries column {timeseries_column!r} must be one of the primary keys {keys}"
        )
    return keys


def check_write_mode(mode: str) -> None:
    if mode != "merge":
        raise SchemaError(
            f"write_table mode must be 'merge' (the only mode of the Databricks client), got {mode!r}; "
            "to replace a whole feature table, write it through the lakehouse"
        )


@dataclass(frozen=True)
class FeatureLookup:
    """Which features to take from which table, joined on which keys: the fields of
    ``databricks.feature_engineering.FeatureLookup`` (``table_name`` and ``lookup_key`` may be
    positional, the rest are keyword-only), so the Databricks adapter passes them on as they are."""

    table_name: str
    lookup_key: list[str] | str
    _: KW_ONLY
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
    """The calls the pipelines make, with the keyword-only arguments of
    ``FeatureEngineeringClient`` (databricks-feature-engineering 0.18): same names, same
    semantics, so a pipeline that runs in the embedded home runs on Databricks.

    What the real client refuses, every implementation refuses: a name that is not
    ``catalog.schema.table``, a ``timeseries_column`` outside ``primary_keys``, a
    ``write_table`` mode other than ``"merge"``. ``create_table`` on an existing feature table
    writes nothing (the real client warns and returns it, or raises if its keys or schema
    differ): a whole rewrite of an existing table goes through the lakehouse port.
    ``tests/test_databricks_contract.py`` checks the Databricks adapter against the real
    signatures.
    """

    def create_table(
        self,
        *,
        name: str,
        primary_keys: str | list[str],
        df: Any = None,
        timeseries_column: str | None = None,
        schema: Any = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Any: ...

    def write_table(self, *, name: str, df: Any, mode: str = "merge") -> Any:
        """Upsert ``df`` into the feature table by its primary key (``merge``, the only mode)."""
        ...

    def read_table(self, *, name: str) -> Any: ...

    def create_training_set(
        self,
        *,
        df: Any,
        feature_lookups: list[FeatureLookup],
        label: str | None,
        exclude_columns: list[str] | None = None,
    ) -> Any:
        """A training set whose ``load_df()`` is ``df`` joined with the lookups' features and
        whose ``feature_spec`` is a :class:`FeatureSpec` (the model's input columns, in order)."""
        ...

    def log_model(
        self,
        *,
        model: Any,
        artifact_path: str,
        flavor: Any,
        training_set: Any,
        registered_model_name: str | None = None,
        output_columns: list[tuple[str, str]] | None = None,
        pip_requirements: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Log ``model`` packed with its feature spec and register it; returns MLflow's ModelInfo.

        ``pip_requirements`` and ``metadata`` are ``mlflow.pyfunc`` arguments the real client
        passes through to the flavor; ``output_columns`` ((name, Spark type) of what
        ``model.predict`` returns) is this project's: each adapter turns it into the signature's
        outputs (``output_schema=`` for the real client) and into ``score_batch``'s columns."""
        ...

    def score_batch(self, *, model_uri: str, df: Any, result_type: str = "double") -> Any:
        """``df`` (lookup keys only) with the model's output columns added: its features are
        joined as the packed feature spec says."""
        ...
