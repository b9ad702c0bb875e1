"""Against a real workspace: skipped unless DATABRICKS_HOST is set (with credentials the Databricks
SDK finds, databricks-connect installed, and HEALTH_MONITOR_TEST_CATALOG naming a catalog whose
``health_monitor_test`` schema may be created and dropped). Never run by the authors: see
docs/databricks.md."""

from __future__ import annotations

import os
import uuid

import pytest

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABRICKS_HOST"), reason="no workspace: DATABRICKS_HOST is not set"
)


@pytest.fixture(scope="module")
def runtime():
    from health_monitor.config import Settings
    from health_monitor.runtime import Runtime

    catalog = os.environ.get("HEALTH_MONITOR_TEST_CATALOG", "main")
    runtime = Runtime.databricks(Settings(home="/tmp/unused", catalog=catalog, runtime="databricks"))
    runtime.lakehouse.spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.health_monitor_test")
    yield runtime
    runtime.lakehouse.spark.sql(f"DROP SCHEMA IF EXISTS `{catalog}`.health_monitor_test CASCADE")


def test_feature_table_round_trip(runtime):
    spark = runtime.lakehouse.spark
    name = f"{runtime.settings.catalog}.health_monitor_test.f_{uuid.uuid4().hex[:8]}"
    df = spark.createDataFrame([("a", 1.0), ("b", 2.0)], "k string, f double")
    runtime.feature_store.create_table(name=name, primary_keys=["k"], df=df, description="test")
    runtime.feature_store.write_table(name=name, df=spark.createDataFrame([("b", 3.0)], "k string, f double"))
    assert sorted(map(tuple, runtime.feature_store.read_table(name=name).collect())) == [
        ("a", 1.0),
        ("b", 3.0),
    ]
    info = runtime.lakehouse.write(name, df, primary_keys=["k"], commit_info={"by": "test"})
    assert info.rows == 2 and runtime.lakehouse.changes(name, info.version - 1) == [{"by": "test"}]
