"""The MLflow pyfunc a feature-store ``log_model`` writes: the model plus its feature spec.

Scoring needs only lookup keys because the packed :class:`FeatureSpec` says which table, keys
and features each input comes from.
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import pandas as pd

from health_monitor.errors import HealthMonitorError, ModelLoadError, SchemaError
from health_monitor.featurestore import FeatureSpec


class FeatureStoreModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]  # lazy in mlflow
    """``model`` is anything with ``predict(DataFrame) -> DataFrame | array``."""

    def __init__(self, model: Any, feature_spec: FeatureSpec, output_columns: list[tuple[str, str]]):
        self.model = model
        self.feature_spec_dict = feature_spec.to_dict()
        self.output_columns = output_columns

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.feature_spec_dict)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        out = self.model.predict(model_input[self.feature_spec_dict["input_columns"]])
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame({self.output_columns[0][0]: out})
        return out[[name for name, _ in self.output_columns]]


# Where FeatureEngineeringClient.log_model keeps the raw model inside the model it logs.
CLIENT_RAW_MODEL = ("data", "feature_store", "raw_model")


def load_packed_model(model_uri: str) -> FeatureStoreModel:
    """The packed model at ``model_uri``. A model logged by the Databricks client (its own
    package around our :class:`RawScoringModel`) comes back with the raw model's input columns
    and no lookups: enough for the champion gate, which compares inner models on the same rows.
    Missing or unreadable artifacts raise :class:`ModelLoadError` naming the URI."""
    try:
        return _load_packed(model_uri)
    except HealthMonitorError:
        raise
    except Exception as exc:
        shown = re.sub(r"^models:/(.+)/([0-9]+)$", r"\1 v\2", model_uri)  # name vN
        why = f"{type(exc).__name__}: {str(exc)[:300]}"
        raise ModelLoadError(f"model {shown} cannot be loaded from {model_uri}: {why}") from exc


def _load_packed(model_uri: str) -> FeatureStoreModel:
    import os

    # Into a scratch folder: loading a `models:/` URI in place writes `registered_model_meta`
    # into the stored artifacts, and loading must leave the home as it was. The unpickled model
    # is whole in memory, so the copy goes when the load is done.
    with tempfile.TemporaryDirectory(prefix="hm-model-") as scratch:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=scratch)
        raw_path = os.path.join(local, *CLIENT_RAW_MODEL)
        if os.path.isdir(raw_path):
            raw = mlflow.pyfunc.load_model(raw_path).unwrap_python_model()
            if isinstance(raw, RawScoringModel):
                return FeatureStoreModel(raw.model, FeatureSpec([], raw.input_columns), raw.output_columns)
        packed = mlflow.pyfunc.load_model(local).unwrap_python_model()
    if not isinstance(packed, FeatureStoreModel):
        raise SchemaError(f"{model_uri} was not logged by the feature store (no feature spec)")
    return packed


class RawScoringModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]  # lazy in mlflow
    """The raw model the Databricks client packs with its own feature spec: it receives the looked-up
    features and returns the output columns (``score_batch`` joins the features itself)."""

    def __init__(self, model: Any, input_columns: list[str], output_columns: list[tuple[str, str]]):
        self.model = model
        self.input_columns = list(input_columns)
        self.output_columns = list(output_columns)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        out = self.model.predict(model_input[self.input_columns])
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame({self.output_columns[0][0]: out})
        return out[[name for name, _ in self.output_columns]]
