"""The feature store on Databricks: the port delegated to ``FeatureEngineeringClient``.

Every call passes keyword arguments in the real client's names; ``tests/test_databricks_contract.py``
checks each one against the installed client's signatures with ``create_autospec``. The client is
imported and constructed on first use, never at import: it needs the ``databricks`` extra and a
workspace (constructing it without one fails slowly, or hangs on an unreachable host).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from health_monitor.errors import ConfigError, SchemaError
from health_monitor.featurestore import (
    FeatureLookup,
    FeatureSpec,
    check_create_table,
    check_write_mode,
    feature_table_name,
)

EXTRA_HINT = "pip install 'health-monitor[databricks]'"
UC_REGISTRY = "databricks-uc"


def import_client():
    """``FeatureEngineeringClient`` and its ``FeatureLookup``, or ConfigError naming the extra."""
    try:
        from databricks.feature_engineering import FeatureEngineeringClient
        from databricks.feature_engineering import FeatureLookup as DatabricksLookup
    except ImportError as exc:
        raise ConfigError(
            f"the databricks runtime needs databricks-feature-engineering ({exc.name} is missing): {EXTRA_HINT}"
        ) from None
    return FeatureEngineeringClient, DatabricksLookup


@dataclass
class DatabricksTrainingSet:
    """The client's training set with the :class:`FeatureSpec` the pipelines read (input columns)."""

    training_set: Any
    feature_spec: FeatureSpec

    def load_df(self):
        return self.training_set.load_df()


class DatabricksFeatureStore:
    def __init__(self, client: Any = None, lookup_class: Any = None):
        """``client``: a ``FeatureEngineeringClient`` (tests pass an autospec); default: one built on
        first use, with the Unity Catalog registry."""
        self._client = client
        self._lookup_class = lookup_class

    @property
    def client(self):
        if self._client is None:
            client_class, _ = import_client()
            self._client = client_class(model_registry_uri=UC_REGISTRY)
        return self._client

    @property
    def lookup_class(self):
        if self._lookup_class is None:
            _, self._lookup_class = import_client()
        return self._lookup_class

    # -- feature tables ----------------------------------------------------------------------

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
    ) -> Any:
        keys = check_create_table(name, primary_keys, timeseries_column)
        return self.client.create_table(
            name=feature_table_name(name),
            primary_keys=keys,
            df=df,
            timeseries_column=timeseries_column,
            schema=schema,
            description=description,
            tags=tags,
        )

    def write_table(self, *, name: str, df: Any, mode: str = "merge") -> Any:
        check_write_mode(mode)
        return self.client.write_table(name=feature_table_name(name), df=df, mode=mode)

    def read_table(self, *, name: str) -> Any:
        return self.client.read_table(name=feature_table_name(name))

    # -- training sets -----------------------------------------------------------------------

    def create_training_set(
        self,
        *,
        df: Any,
        feature_lookups: list[FeatureLookup],
        label: str | None,
        exclude_columns: list[str] | None = None,
    ) -> DatabricksTrainingSet:
        lookups = [self._lookup(lk) for lk in feature_lookups]
        training_set = self.client.create_training_set(
            df=df, feature_lookups=lookups, label=label, exclude_columns=list(exclude_columns or [])
        )
        inputs = [name for lk in feature_lookups for name in self._inputs(lk)]
        spec = FeatureSpec(list(feature_lookups), inputs, label, list(exclude_columns or []))
        return DatabricksTrainingSet(training_set, spec)

    def _lookup(self, lookup: FeatureLookup) -> Any:
        return self.lookup_class(
            table_name=feature_table_name(lookup.table_name),
            lookup_key=lookup.keys,
            feature_names=lookup.feature_names,
            rename_outputs=lookup.rename_outputs,
            timestamp_lookup_key=lookup.timestamp_lookup_key,
            lookback_window=lookup.lookback_window,
            default_values=lookup.default_values,
        )

    def _inputs(self, lookup: FeatureLookup) -> list[str]:
        """The model inputs a lookup gives, in order: its features (all non-key columns when it
        names none), renamed."""
        names = lookup.feature_names
        if names is None:
            name = feature_table_name(lookup.table_name)
            keys = set(self.client.get_table(name=name).primary_keys)
            names = [c for c in self.client.read_table(name=name).columns if c not in keys]
        names = [names] if isinstance(names, str) else list(names)
        renames = lookup.rename_outputs or {}
        return [renames.get(n, n) for n in names]

    # -- models ------------------------------------------------------------------------------

    def log_model(
        self,
        *,
        model: Any,
        artifact_path: str,
        flavor: Any,
        training_set: DatabricksTrainingSet,
        registered_model_name: str | None = None,
        output_columns: list[tuple[str, str]] | None = None,
        pip_requirements: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        """Log the raw model through the client, which packs it with its own feature spec.

        ``output_columns`` become the signature's outputs (``output_schema``: the client builds
        the inputs from the feature spec; Unity Catalog refuses a model without a signature).
        ``pip_requirements`` and ``metadata`` go to ``mlflow.pyfunc.save_model`` through the
        client's keyword arguments."""
        from mlflow.types import ColSpec, Schema

        from health_monitor.featurestore.pyfunc import RawScoringModel

        if getattr(flavor, "FLAVOR_NAME", None) != "python_function":
            raise SchemaError(f"log_model: flavor must be mlflow.pyfunc (a packed model), got {flavor!r}")
        if registered_model_name is not None and registered_model_name.count(".") != 2:
            raise ConfigError(
                f"registered model name must be catalog.schema.model on Unity Catalog, got {registered_model_name!r}"
            )
        outputs = output_columns or [("prediction", "double")]
        raw = RawScoringModel(model, training_set.feature_spec.input_columns, outputs)
        return self.client.log_model(
            model=raw,
            artifact_path=artifact_path,
            flavor=flavor,
            training_set=training_set.training_set,
            registered_model_name=registered_model_name,
            output_schema=Schema([ColSpec(mlflow_type(t), n) for n, t in outputs]),
            pip_requirements=pip_requirements,
            metadata=metadata,
        )

    def score_batch(self, *, model_uri: str, df: Any, result_type: str = "double") -> Any:
        """``df``'s columns and the model's output columns (the client also returns the looked-up
        features: they are dropped, as in the embedded home). With several outputs the model
        returns a struct, taken apart here."""
        from pyspark.sql import functions as F

        outputs = model_outputs(model_uri)
        if len(outputs) > 1:
            result_type = "struct<" + ",".join(f"{n}:{t}" for n, t in outputs) + ">"
        elif outputs:
            result_type = outputs[0][1]
        scored = self.client.score_batch(model_uri=model_uri, df=df, result_type=result_type)
        if len(outputs) == 1:
            return scored.select(*df.columns, F.col("prediction").alias(outputs[0][0]))
        return scored.select(*df.columns, *(F.col(f"prediction.{n}").alias(n) for n, _ in outputs))


# Spark type names of output columns <-> MLflow's signature type names.
_MLFLOW_TYPES = {"int": "integer", "bigint": "long"}
_SPARK_TYPES = {v: k for k, v in _MLFLOW_TYPES.items()}


def mlflow_type(spark_type: str) -> str:
    return _MLFLOW_TYPES.get(spark_type, spark_type)


def model_outputs(model_uri: str) -> list[tuple[str, str]]:
    """(name, Spark type) of a registered model's outputs, from its signature."""
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or signature.outputs is None:
        raise SchemaError(f"{model_uri} has no output signature; log it with output_columns")
    return [(c.name, _SPARK_TYPES.get(c.type.name, c.type.name)) for c in signature.outputs.inputs]
