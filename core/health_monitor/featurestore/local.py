"""The embedded feature store: feature tables in the local lakehouse, models in local MLflow.

Same call shapes as ``databricks.feature_engineering.FeatureEngineeringClient``; its code is not
used (it is licensed for Databricks only and needs a workspace).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from pyspark.sql import DataFrame

from health_monitor.deadline import checkpoint
from health_monitor.errors import SchemaError
from health_monitor.featurestore import FeatureLookup, FeatureSpec
from health_monitor.featurestore.joins import apply_lookup, feature_columns
from health_monitor.featurestore.keys import check_primary_key
from health_monitor.featurestore.pyfunc import FeatureStoreModel, load_packed_model
from health_monitor.lakehouse.local import LocalLakehouse


@dataclass
class TrainingSet:
    """Base rows joined with their looked-up features; ``load_df()`` gives the Spark DataFrame."""

    _df: DataFrame
    feature_spec: FeatureSpec

    def load_df(self) -> DataFrame:
        return self._df


# Spark type names of output columns -> MLflow's signature type names.
MLFLOW_TYPES = {"int": "integer", "bigint": "long"}


class LocalFeatureStore:
    def __init__(self, lakehouse: LocalLakehouse):
        self.lakehouse = lakehouse

    # -- feature tables ----------------------------------------------------------------------

    def create_table(
        self,
        name: str,
        primary_keys: list[str] | str,
        df: DataFrame | None = None,
        *,
        timestamp_keys: list[str] | str | None = None,
        description: str = "",
        schema: Any = None,
    ):
        """Create (or replace) a feature table. Keys must be non-null and unique, or nothing is written."""
        keys = [primary_keys] if isinstance(primary_keys, str) else list(primary_keys)
        ts_keys = [timestamp_keys] if isinstance(timestamp_keys, str) else list(timestamp_keys or [])
        if len(ts_keys) > 1:
            raise SchemaError(f"feature table {name}: at most one timestamp key, got {ts_keys}")
        if ts_keys and ts_keys[0] not in keys:
            raise SchemaError(
                f"feature table {name}: timestamp key {ts_keys[0]!r} must be one of the primary keys {keys}"
            )
        if df is None:
            if schema is None:
                raise SchemaError(f"feature table {name}: give df or schema")
            df = self.lakehouse.spark.createDataFrame([], schema)
        check_primary_key(name, df, keys)
        return self.lakehouse.write(
            name,
            df,
            primary_keys=keys,
            timestamp_key=ts_keys[0] if ts_keys else None,
            description=description,
            # Files of contiguous days: the daily run's replace_where rewrites only the latest ones.
            cluster_by=ts_keys[0] if ts_keys else None,
        )

    def write_table(self, name: str, df: DataFrame, mode: str = "overwrite"):
        """Replace a feature table's rows (``merge`` upserts by primary key), keeping its keys."""
        info = self.lakehouse.describe(name)
        keys = info.primary_keys
        if mode == "merge":
            current = self.lakehouse.read(name)
            df = current.join(df.select(*keys), on=keys, how="left_anti").unionByName(
                df, allowMissingColumns=True
            )
        elif mode != "overwrite":
            raise SchemaError(f"write_table mode must be 'overwrite' or 'merge', got {mode!r}")
        check_primary_key(name, df, keys)
        return self.lakehouse.write(
            name, df, primary_keys=keys, timestamp_key=info.timestamp_key, description=info.description
        )

    def read_table(self, name: str) -> DataFrame:
        return self.lakehouse.read(name)

    def get_table(self, name: str):
        return self.lakehouse.describe(name)

    # -- training sets -----------------------------------------------------------------------

    def create_training_set(
        self,
        df: DataFrame,
        feature_lookups: list[FeatureLookup],
        label: str | None,
        exclude_columns: list[str] | None = None,
    ) -> TrainingSet:
        exclude = list(exclude_columns or [])
        if label is not None and label not in df.columns:
            raise SchemaError(f"label column {label!r} is not in the base DataFrame {df.columns}")
        joined = df
        inputs: list[str] = []
        for lookup in feature_lookups:
            info = self.lakehouse.describe(lookup.table_name)
            table = self.lakehouse.read(lookup.table_name)
            joined = apply_lookup(joined, table, lookup, info.primary_keys, info.timestamp_key)
            names = feature_columns(lookup, table.columns, info.primary_keys)
            renames = lookup.rename_outputs or {}
            inputs.extend(renames.get(n, n) for n in names)
        keep = [c for c in joined.columns if c not in exclude]
        spec = FeatureSpec(list(feature_lookups), inputs, label, exclude)
        return TrainingSet(joined.select(*keep), spec)

    # -- models ------------------------------------------------------------------------------

    def log_model(
        self,
        model: Any,
        artifact_path: str = "model",
        *,
        flavor: Any = None,
        training_set: TrainingSet,
        registered_model_name: str | None = None,
        output_columns: list[tuple[str, str]] | None = None,
        pip_requirements: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        """Log ``model`` packed with the training set's feature spec, as an MLflow pyfunc.

        ``output_columns`` (name, type) describe what ``model.predict`` returns; the default is
        one double column ``prediction``. Returns MLflow's ``ModelInfo``.
        """
        checkpoint(f"log and register {registered_model_name or artifact_path}")
        outputs = output_columns or [("prediction", "double")]
        packed = FeatureStoreModel(model, training_set.feature_spec, outputs)
        signature = ModelSignature(
            inputs=Schema([ColSpec("double", c) for c in training_set.feature_spec.input_columns]),
            outputs=Schema([ColSpec(MLFLOW_TYPES.get(t, t), n) for n, t in outputs]),
        )
        # MLflow prints registration chatter straight to stderr; keep the caller's output readable.
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = mlflow.pyfunc.log_model(
                name=artifact_path,
                python_model=packed,
                signature=signature,
                pip_requirements=pip_requirements or [],
                registered_model_name=registered_model_name,
                metadata=metadata,
            )
        mlflow.log_dict(training_set.feature_spec.to_dict(), f"{artifact_path}_feature_spec.json")
        return info

    def score_batch(self, model_uri: str, df: DataFrame, result_type: str = "double") -> DataFrame:
        """Score ``df`` (lookup keys only): join the model's features, then predict on the executors.

        Returns ``df``'s columns plus the model's output columns. The model is broadcast once;
        batches stream through ``mapInPandas``, so nothing is collected to the driver.
        """
        packed = load_packed_model(model_uri)
        spec = packed.feature_spec
        joined = self.create_training_set(df, spec.lookups, label=None).load_df()
        inputs = spec.input_columns
        key_columns = list(df.columns)
        key_ddl = [
            f"`{f.name}` {f.dataType.simpleString()}" for f in joined.select(*key_columns).schema.fields
        ]
        schema = ", ".join(key_ddl + [f"`{n}` {t}" for n, t in packed.output_columns])
        # Ship only the inner model: unpickling the MLflow wrapper would import MLflow in every worker.
        broadcast = joined.sparkSession.sparkContext.broadcast(packed.model)
        output_names = [n for n, _ in packed.output_columns]

        def predict(batches):
            model = broadcast.value
            for batch in batches:
                if batch.empty:
                    continue
                preds = model.predict(batch[inputs])
                if not isinstance(preds, pd.DataFrame):
                    preds = pd.DataFrame({output_names[0]: preds})
                out = batch[key_columns].reset_index(drop=True)
                for name in output_names:
                    out[name] = preds[name].to_numpy()
                yield out

        return joined.select(*key_columns, *inputs).mapInPandas(predict, schema=schema)
