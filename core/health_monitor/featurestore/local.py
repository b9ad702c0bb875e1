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
from health_monitor.featurestore import (
    FeatureLookup,
    FeatureSpec,
    check_create_table,
    check_write_mode,
    feature_table_name,
)
from health_monitor.featurestore.joins import apply_lookup, feature_columns
from health_monitor.featurestore.pyfunc import FeatureStoreModel, load_packed_model
from health_monitor.lakehouse import TableInfo
from health_monitor.lakehouse.keys import check_primary_key
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
    # Keyword-only, with the names and refusals of FeatureEngineeringClient (see the port).

    def create_table(
        self,
        *,
        name: str,
        primary_keys: str | list[str],
        df: DataFrame | None = None,
        timeseries_column: str | None = None,
        schema: Any = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> TableInfo:
        """Create a feature table. Keys must be non-null and unique, or nothing is written.

        An existing table is left as it is, as the real client does: returned unchanged when its
        keys and schema are the ones given (a warning says to use ``write_table``), refused
        otherwise."""
        name = feature_table_name(name)
        keys = check_create_table(name, primary_keys, timeseries_column)
        if df is None:
            if schema is None:
                raise SchemaError(f"feature table {name}: give df or schema")
            df = self.lakehouse.spark.createDataFrame([], schema)
        if self.lakehouse.exists(name):
            return self._existing(name, keys, timeseries_column, df)
        check_primary_key(name, df, keys)
        return self.lakehouse.write(
            name,
            df,
            primary_keys=keys,
            timestamp_key=timeseries_column,
            description=description or "",
            # Files of contiguous days: the daily run's replace_where rewrites only the latest ones.
            cluster_by=timeseries_column,
        )

    def _existing(
        self, name: str, keys: list[str], timeseries_column: str | None, df: DataFrame
    ) -> TableInfo:
        info = self.lakehouse.describe(name)
        wanted = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
        same_schema = [n for n, _ in info.columns] == [n for n, _ in wanted]
        if info.primary_keys != keys or info.timestamp_key != timeseries_column or not same_schema:
            raise SchemaError(
                f"feature table {name} already exists with primary keys {info.primary_keys}, "
                f"timeseries column {info.timestamp_key!r} and columns {[n for n, _ in info.columns]}; "
                f"create_table was given {keys}, {timeseries_column!r} and {[n for n, _ in wanted]}"
            )
        warnings.warn(
            f"feature table {name} already exists; nothing written (use write_table to merge rows)",
            stacklevel=3,
        )
        return info

    def write_table(self, *, name: str, df: DataFrame, mode: str = "merge") -> TableInfo:
        """Upsert ``df`` into the feature table by its primary key, in one atomic write."""
        name = feature_table_name(name)
        check_write_mode(mode)
        info = self.lakehouse.describe(name)
        keys = info.primary_keys
        current = self.lakehouse.read(name)
        merged = current.join(df.select(*keys), on=keys, how="left_anti").unionByName(
            df, allowMissingColumns=True
        )
        check_primary_key(name, merged, keys)
        return self.lakehouse.write(
            name,
            merged,
            primary_keys=keys,
            timestamp_key=info.timestamp_key,
            description=info.description,
            cluster_by=info.timestamp_key,
        )

    def read_table(self, *, name: str) -> DataFrame:
        return self.lakehouse.read(feature_table_name(name))

    def get_table(self, *, name: str) -> TableInfo:
        return self.lakehouse.describe(feature_table_name(name))

    # -- training sets -----------------------------------------------------------------------

    def create_training_set(
        self,
        *,
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
            info = self.lakehouse.describe(feature_table_name(lookup.table_name))
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
        *,
        model: Any,
        artifact_path: str,
        flavor: Any,
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
        if getattr(flavor, "FLAVOR_NAME", None) != mlflow.pyfunc.FLAVOR_NAME:
            raise SchemaError(f"log_model: flavor must be mlflow.pyfunc (a packed model), got {flavor!r}")
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

    def score_batch(self, *, model_uri: str, df: DataFrame, result_type: str = "double") -> DataFrame:
        """Score ``df`` (lookup keys only): join the model's features, then predict on the executors.

        Returns ``df``'s columns plus the model's output columns. The model is broadcast once;
        batches stream through ``mapInPandas``, so nothing is collected to the driver.
        """
        packed = load_packed_model(model_uri)
        spec = packed.feature_spec
        joined = self.create_training_set(df=df, feature_lookups=spec.lookups, label=None).load_df()
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
