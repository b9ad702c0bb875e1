"""The local feature store: key enforcement, exact and point-in-time lookups, packed models."""

from __future__ import annotations

import datetime as dt

import mlflow
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from health_monitor.errors import ConfigError, PrimaryKeyError, SchemaError
from health_monitor.featurestore import FeatureLookup
from health_monitor.models.modeling import ScoringModel
from health_monitor.sdk.specs import ProblemType

D = dt.date


@pytest.fixture
def fs(hm_runtime):
    return hm_runtime.feature_store


@pytest.fixture
def daily(spark):
    rows = [("a", D(2026, 1, 1), 1.0), ("a", D(2026, 1, 3), 3.0), ("b", D(2026, 1, 2), 20.0)]
    return spark.createDataFrame(rows, "k string, day date, f double")


def test_duplicate_and_null_keys_are_counted_and_nothing_is_written(fs, spark):
    df = spark.createDataFrame([("a", 1), ("a", 2), ("b", 3), ("b", 4), (None, 5)], "k string, v int")
    with pytest.raises(
        PrimaryKeyError,
        match=r"c.s.f: primary key \['k'\] has 1 row\(s\) with a null key and 2 duplicated key",
    ):
        fs.create_table(name="c.s.f", primary_keys=["k"], df=df)
    assert not fs.lakehouse.exists("c.s.f")


def test_a_bad_write_keeps_the_previous_feature_table(fs, spark):
    fs.create_table(name="c.s.f", primary_keys=["k"], df=spark.createDataFrame([("a", 1)], "k string, v int"))
    with pytest.raises(PrimaryKeyError):
        fs.write_table(name="c.s.f", df=spark.createDataFrame([("c", 1), ("c", 2)], "k string, v int"))
    assert fs.read_table(name="c.s.f").count() == 1


def test_the_real_clients_refusals(fs, spark, daily):
    """What FeatureEngineeringClient refuses, the local store refuses: a positional call, a name
    that is not three-part, a timeseries column outside the keys, a mode other than merge."""
    with pytest.raises(TypeError):
        fs.create_table("c.s.daily", ["k", "day"], daily)
    with pytest.raises(ConfigError, match="catalog.schema.table"):
        fs.create_table(name="daily", primary_keys=["k", "day"], df=daily)
    with pytest.raises(SchemaError, match="must be one of the primary keys"):
        fs.create_table(name="c.s.daily", primary_keys=["k"], df=daily, timeseries_column="day")
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    with pytest.raises(SchemaError, match="must be 'merge'"):
        fs.write_table(name="c.s.daily", df=daily, mode="overwrite")
    with pytest.raises(TypeError):
        fs.write_table(name="c.s.daily", df=daily, timestamp_keys="day")


def test_create_table_on_an_existing_table_writes_nothing(fs, spark, daily):
    """As the real client: same keys and schema, a warning and the table unchanged; other keys, refused."""
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    version = fs.lakehouse.version("c.s.daily")
    with pytest.warns(UserWarning, match="already exists; nothing written"):
        fs.create_table(
            name="c.s.daily", primary_keys=["k", "day"], df=daily.limit(1), timeseries_column="day"
        )
    assert fs.lakehouse.version("c.s.daily") == version and fs.read_table(name="c.s.daily").count() == 3
    with pytest.raises(SchemaError, match="already exists with primary keys"):
        fs.create_table(name="c.s.daily", primary_keys=["k"], df=daily)


def test_merge_upserts_by_key(fs, spark):
    fs.create_table(
        name="c.s.f", primary_keys=["k"], df=spark.createDataFrame([("a", 1), ("b", 2)], "k string, v int")
    )
    fs.write_table(
        name="c.s.f", df=spark.createDataFrame([("b", 20), ("c", 30)], "k string, v int"), mode="merge"
    )
    assert sorted(map(tuple, fs.read_table(name="c.s.f").collect())) == [("a", 1), ("b", 20), ("c", 30)]


def test_as_of_lookup_takes_the_latest_row_at_or_before(fs, spark, daily):
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    base = spark.createDataFrame(
        [
            ("a", D(2025, 12, 31)),
            ("a", D(2026, 1, 1)),
            ("a", D(2026, 1, 2)),
            ("a", D(2026, 1, 9)),
            ("b", D(2026, 1, 5)),
            ("z", D(2026, 1, 5)),
        ],
        "k string, when date",
    )
    lookup = FeatureLookup("c.s.daily", "k", feature_names=["f"], timestamp_lookup_key="when")
    got = (
        fs.create_training_set(df=base, feature_lookups=[lookup], label=None)
        .load_df()
        .toPandas()
        .sort_values(["k", "when"])
    )
    assert got["f"].fillna(-1).tolist() == [-1, 1.0, 1.0, 3.0, 20.0, -1]


def test_as_of_lookup_of_a_later_base_reaches_back_past_its_first_time(fs, spark):
    """A base that starts after a key's rows (a daily run's one day) still finds each key's latest
    row before its first time, and one from the base's own days; the lookback window applies."""
    rows = [
        ("a", D(2026, 1, 1), 1.0),
        ("a", D(2026, 1, 3), 3.0),
        ("a", D(2026, 1, 10), 10.0),
        ("b", D(2026, 1, 2), 20.0),
        ("c", D(2026, 1, 9), 90.0),
        ("c", D(2026, 1, 11), 110.0),
    ]
    fs.create_table(
        name="c.s.later",
        primary_keys=["k", "day"],
        df=spark.createDataFrame(rows, "k string, day date, f double"),
        timeseries_column="day",
    )
    base = spark.createDataFrame(
        [("a", D(2026, 1, 9)), ("a", D(2026, 1, 10)), ("b", D(2026, 1, 9)), ("c", D(2026, 1, 12))],
        "k string, when date",
    )

    def looked_up(**window) -> list[float]:
        lookup = FeatureLookup("c.s.later", "k", feature_names=["f"], timestamp_lookup_key="when", **window)
        got = fs.create_training_set(df=base, feature_lookups=[lookup], label=None).load_df().toPandas()
        return got.sort_values(["k", "when"])["f"].fillna(-1).tolist()

    assert looked_up() == [3.0, 10.0, 20.0, 110.0]
    assert looked_up(lookback_window=dt.timedelta(days=3)) == [-1, 10.0, -1, 110.0]


def test_lookback_window_and_defaults(fs, spark, daily):
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    base = spark.createDataFrame([("a", D(2026, 1, 2)), ("a", D(2026, 1, 9))], "k string, when date")
    lookup = FeatureLookup(
        "c.s.daily",
        "k",
        feature_names=["f"],
        timestamp_lookup_key="when",
        lookback_window=dt.timedelta(days=2),
        rename_outputs={"f": "g"},
        default_values={"g": 0.0},
    )
    got = (
        fs.create_training_set(df=base, feature_lookups=[lookup], label=None)
        .load_df()
        .toPandas()
        .sort_values("when")
    )
    assert got["g"].tolist() == [1.0, 0.0]  # the 9th's latest row (the 3rd) is older than 2 days


def test_exact_lookup_needs_every_primary_key(fs, spark, daily):
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    base = spark.createDataFrame([("a",)], "k string")
    with pytest.raises(SchemaError, match="does not match the table's keys"):
        fs.create_training_set(
            df=base, feature_lookups=[FeatureLookup("c.s.daily", "k", feature_names=["f"])], label=None
        )


def test_unknown_features_and_clashing_outputs_are_named(fs, spark, daily):
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    base = spark.createDataFrame([("a", D(2026, 1, 1), 1.0)], "k string, day date, f double")
    with pytest.raises(SchemaError, match=r"no feature\(s\) \['nope'\]"):
        fs.create_training_set(
            df=base,
            feature_lookups=[FeatureLookup("c.s.daily", ["k", "day"], feature_names=["nope"])],
            label=None,
        )
    with pytest.raises(SchemaError, match="already exist; use rename_outputs"):
        fs.create_training_set(
            df=base,
            feature_lookups=[FeatureLookup("c.s.daily", ["k", "day"], feature_names=["f"])],
            label=None,
        )


def test_logged_model_scores_from_lookup_keys_only(hm_runtime, fs, spark, daily):
    hm_runtime.registry.configure()
    fs.create_table(name="c.s.daily", primary_keys=["k", "day"], df=daily, timeseries_column="day")
    base = spark.createDataFrame(
        [("a", D(2026, 1, 1), 2.0), ("a", D(2026, 1, 3), 6.0), ("b", D(2026, 1, 2), 40.0)],
        "k string, day date, y double",
    )
    training_set = fs.create_training_set(
        df=base,
        feature_lookups=[FeatureLookup("c.s.daily", ["k", "day"], feature_names=["f"])],
        label="y",
        exclude_columns=["k"],
    )
    pdf = training_set.load_df().toPandas()
    assert "k" not in pdf.columns and set(pdf.columns) == {"day", "f", "y"}
    model = ScoringModel.fit(LinearRegression(), ProblemType.REGRESSION, pdf[["f"]], pdf["y"])
    hm_runtime.registry.experiment("/test")
    with mlflow.start_run():
        info = fs.log_model(
            model=model,
            artifact_path="model",
            flavor=mlflow.pyfunc,
            training_set=training_set,
            registered_model_name="c.s.m",
        )
    scored = fs.score_batch(
        model_uri=f"models:/c.s.m/{info.registered_model_version}", df=base.select("k", "day")
    )
    out = scored.toPandas().sort_values(["k", "day"]).reset_index(drop=True)
    assert list(out.columns) == ["k", "day", "prediction"]
    pd.testing.assert_series_equal(
        out["prediction"], pd.Series([2.0, 6.0, 40.0], name="prediction"), atol=1e-6
    )
