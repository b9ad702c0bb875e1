"""The Databricks adapters against the real client's signatures, with no workspace.

``create_autospec(FeatureEngineeringClient, instance=True)`` refuses a call that does not fit
the installed ``databricks-feature-engineering`` (a positional argument, an unknown keyword on a
method without ``**kwargs``). Most of its methods do take ``**kwargs`` (some old names, such as
``timestamp_keys``, are still accepted there), so :func:`fits` is stricter: every keyword the
adapter passes must be a named parameter of the real method, or, for ``log_model``, one the
client hands to ``mlflow.pyfunc.save_model`` or reads itself (``output_schema``).
"""

from __future__ import annotations

import datetime as dt
import inspect
from unittest import mock

import pytest

fe = pytest.importorskip(
    "databricks.feature_engineering",
    reason="databricks-feature-engineering is not installed (the `databricks` extra; scripts/bootstrap installs it)",
)

import mlflow  # noqa: E402
from mlflow.types import ColSpec, Schema  # noqa: E402

from health_monitor.config import Settings  # noqa: E402
from health_monitor.errors import ConfigError, SchemaError  # noqa: E402
from health_monitor.featurestore import FeatureLookup, FeatureSpec  # noqa: E402
from health_monitor.featurestore.databricks import DatabricksFeatureStore, DatabricksTrainingSet  # noqa: E402
from health_monitor.featurestore.pyfunc import RawScoringModel  # noqa: E402
from health_monitor.registry import ModelRegistry  # noqa: E402
from health_monitor.runtime import Runtime  # noqa: E402

Client = fe.FeatureEngineeringClient
# Keywords the real log_model reads from its **kwargs itself, besides mlflow.pyfunc.save_model's.
LOG_MODEL_OWN = {"output_schema", "params", "feature_spec_path"}


def fits(method: str, call: mock._Call) -> None:
    """``call`` binds to the real method's named parameters (keyword-only: no positional args)."""
    args, kwargs = call.args, call.kwargs
    assert not args, f"{method} called with positional arguments {args}"
    params = inspect.signature(getattr(Client, method)).parameters
    named = {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD and n != "self"}
    extra = set(kwargs) - named
    if method == "log_model":
        extra -= LOG_MODEL_OWN | set(inspect.signature(mlflow.pyfunc.save_model).parameters)
    assert not extra, f"{method} was given {sorted(extra)}, which the real {method} does not name"
    missing = [
        n for n, p in params.items() if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
    ]
    assert not set(missing) - set(kwargs), f"{method} misses required {set(missing) - set(kwargs)}"


@pytest.fixture
def client():
    return mock.create_autospec(Client, instance=True)


@pytest.fixture
def store(client):
    return DatabricksFeatureStore(client, lookup_class=fe.FeatureLookup)


def test_create_write_and_read_table_use_the_real_names(store, client):
    df = object()
    store.create_table(
        name="c.features.f", primary_keys=["k", "day"], df=df, timeseries_column="day", description="d"
    )
    store.write_table(name="c.features.f", df=df, mode="merge")
    store.read_table(name="c.features.f")
    for method in ("create_table", "write_table", "read_table"):
        fits(method, getattr(client, method).call_args)
    assert client.create_table.call_args.kwargs == {
        "name": "c.features.f",
        "primary_keys": ["k", "day"],
        "df": df,
        "timeseries_column": "day",
        "schema": None,
        "description": "d",
        "tags": None,
    }
    assert client.write_table.call_args.kwargs == {"name": "c.features.f", "df": df, "mode": "merge"}


def test_what_the_real_client_refuses_is_refused_before_it_is_called(store, client):
    with pytest.raises(SchemaError, match="must be 'merge'"):
        store.write_table(name="c.s.f", df=None, mode="overwrite")
    with pytest.raises(SchemaError, match="must be one of the primary keys"):
        store.create_table(name="c.s.f", primary_keys=["k"], timeseries_column="day")
    with pytest.raises(ConfigError, match="catalog.schema.table"):
        store.read_table(name="f")
    with pytest.raises(TypeError):
        store.create_table("c.s.f", ["k"])
    assert client.method_calls == []


def test_a_renamed_argument_fails_the_contract(client):
    """The check that guards every call above: an argument renamed fails it."""
    with pytest.raises(TypeError):  # no **kwargs on write_table: autospec itself refuses
        client.write_table(table_name="c.s.f", df=None, mode="merge")
    with pytest.raises(TypeError):  # positional, as the pipelines used to call
        client.create_table("c.s.f", ["k"])
    # create_table takes **kwargs, so autospec lets an old name through; fits() does not.
    client.create_table(name="c.s.f", primary_keys=["k"], timestamp_keys=["day"])
    with pytest.raises(AssertionError, match=r"\['timestamp_keys'\]"):
        fits("create_table", client.create_table.call_args)
    with pytest.raises(TypeError):  # df renamed: the required df is missing
        client.score_batch(model_uri="models:/c.s.m/1", dataframe=None)
    client.score_batch(model_uri="models:/c.s.m/1", df=None, result_types="double")
    with pytest.raises(AssertionError, match=r"\['result_types'\]"):
        fits("score_batch", client.score_batch.call_args)


def test_training_set_lookups_are_the_real_feature_lookups(store, client):
    lookups = [
        FeatureLookup(
            "c.features.daily",
            ["k"],
            feature_names=["f", "g"],
            rename_outputs={"g": "g2"},
            timestamp_lookup_key="when",
            lookback_window=dt.timedelta(days=3),
            default_values={"f": 0.0},
        )
    ]
    training_set = store.create_training_set(df="base", feature_lookups=lookups, label="y")
    fits("create_training_set", client.create_training_set.call_args)
    kwargs = client.create_training_set.call_args.kwargs
    assert (kwargs["df"], kwargs["label"], kwargs["exclude_columns"]) == ("base", "y", [])
    (real,) = kwargs["feature_lookups"]
    assert isinstance(real, fe.FeatureLookup)
    assert (real.table_name, real.lookup_key, real.feature_names) == ("c.features.daily", ["k"], ["f", "g"])
    assert (real.timestamp_lookup_key, real.lookback_window) == ("when", dt.timedelta(days=3))
    assert (real._rename_outputs, real.default_values) == ({"g": "g2"}, {"f": 0.0})  # no public getter
    assert training_set.feature_spec.input_columns == ["f", "g2"]
    assert training_set.load_df() is client.create_training_set.return_value.load_df.return_value


def test_log_model_passes_a_signature_and_a_three_level_name(store, client):
    spec = FeatureSpec([], ["f", "g2"], "y")
    real_set = client.create_training_set.return_value
    outputs = [("prediction", "double"), ("probability", "double")]
    store.log_model(
        model="inner",
        artifact_path="model",
        flavor=mlflow.pyfunc,
        training_set=DatabricksTrainingSet(real_set, spec),
        registered_model_name="c.ml.m",
        output_columns=outputs,
        pip_requirements=["scikit-learn==1.7"],
        metadata={"model": "m"},
    )
    fits("log_model", client.log_model.call_args)
    kwargs = client.log_model.call_args.kwargs
    assert kwargs["training_set"] is real_set and kwargs["registered_model_name"] == "c.ml.m"
    assert kwargs["flavor"] is mlflow.pyfunc and kwargs["artifact_path"] == "model"
    # The client builds the signature's inputs from the feature spec and takes its outputs from here.
    assert kwargs["output_schema"] == Schema(
        [ColSpec("double", "prediction"), ColSpec("double", "probability")]
    )
    raw = kwargs["model"]
    assert (
        isinstance(raw, RawScoringModel)
        and raw.input_columns == ["f", "g2"]
        and raw.output_columns == outputs
    )
    with pytest.raises(ConfigError, match="catalog.schema.model"):
        store.log_model(
            model="inner",
            artifact_path="model",
            flavor=mlflow.pyfunc,
            training_set=DatabricksTrainingSet(real_set, spec),
            registered_model_name="m",
        )


def test_score_batch_asks_for_the_outputs_and_takes_the_struct_apart(store, client, spark, monkeypatch):
    outputs = [("prediction", "double"), ("probability", "double")]
    monkeypatch.setattr("health_monitor.featurestore.databricks.model_outputs", lambda uri: outputs)
    keys = spark.createDataFrame([("a",)], "k string")
    client.score_batch.return_value = spark.createDataFrame(
        [("a", 1.5, (1.0, 0.8))],
        "k string, f double, prediction struct<prediction:double,probability:double>",
    )
    got = store.score_batch(model_uri="models:/c.ml.m/3", df=keys)
    fits("score_batch", client.score_batch.call_args)
    assert (
        client.score_batch.call_args.kwargs["result_type"] == "struct<prediction:double,probability:double>"
    )
    assert got.columns == ["k", "prediction", "probability"]
    assert [tuple(r) for r in got.collect()] == [("a", 1.0, 0.8)]


def test_the_registry_is_unity_catalog_with_three_level_names(monkeypatch):
    registry = ModelRegistry.databricks()
    assert (registry.tracking_uri, registry.registry_uri) == ("databricks", "databricks-uc")
    monkeypatch.setattr(ModelRegistry, "configure", lambda self: None)  # MLflow's URIs are process-wide
    client = mock.create_autospec(mlflow.MlflowClient, instance=True)
    client.get_experiment_by_name.return_value = None
    monkeypatch.setattr(ModelRegistry, "client", lambda self: client)
    monkeypatch.setattr(mlflow, "set_experiment", mock.create_autospec(mlflow.set_experiment))
    registry.set_alias("c.ml.m", "champion", 3)
    registry.version_by_alias("c.ml.m")
    registry.experiment("/health-monitor/cost")
    client.set_registered_model_alias.assert_called_once_with("c.ml.m", "champion", "3")
    client.get_model_version_by_alias.assert_called_once_with("c.ml.m", "champion")
    client.create_experiment.assert_called_once_with("/Shared/health-monitor/cost", artifact_location=None)


def test_runtime_databricks_wires_the_adapters_without_touching_a_workspace(client, spark, tmp_path):
    runtime = Runtime.databricks(Settings(home=tmp_path, runtime="databricks"), spark=spark, client=client)
    assert type(runtime.lakehouse).__name__ == "UnityLakehouse" and runtime.lakehouse.spark is spark
    assert runtime.feature_store.client is client
    assert runtime.registry.registry_uri == "databricks-uc"
    assert client.method_calls == []


def test_the_champion_gate_reads_a_model_the_real_client_packed(tmp_path):
    """The real client keeps the raw model under data/feature_store/raw_model of the model it
    logs; load_packed_model finds our RawScoringModel there (the layout, not the client, is tested)."""
    from health_monitor.featurestore.pyfunc import CLIENT_RAW_MODEL, load_packed_model

    model_dir = tmp_path / "model"
    raw = RawScoringModel({"inner": 1}, ["f", "g2"], [("prediction", "double")])
    mlflow.pyfunc.save_model(
        str(model_dir.joinpath(*CLIENT_RAW_MODEL)), python_model=raw, pip_requirements=[]
    )
    packed = load_packed_model(str(model_dir))
    assert packed.model == {"inner": 1} and packed.feature_spec.input_columns == ["f", "g2"]
