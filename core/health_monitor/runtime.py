"""The composition root: one object that knows which home the code runs in.

Pipelines, the CLI and the agents take a :class:`Runtime` and use its ports (lakehouse,
feature store, model registry). ``Runtime.embedded`` builds the local home; a Databricks home
plugs Unity Catalog, the Feature Engineering client and the UC registry into the same fields.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from health_monitor.config import ENV_DATABRICKS_RUNTIME_VERSION, Settings
from health_monitor.errors import ConfigError, MissingInputError, TableNotFoundError
from health_monitor.featurestore import FeatureStore
from health_monitor.lakehouse import Lakehouse
from health_monitor.registry import ModelRegistry


@dataclass
class Runtime:
    settings: Settings
    lakehouse: Lakehouse
    feature_store: FeatureStore
    registry: ModelRegistry

    @classmethod
    def embedded(cls, settings: Settings) -> Runtime:
        """The embedded default: Delta tables and SQLite MLflow under ``settings.home``. A malformed
        ``HEALTH_MONITOR_SPARK_MASTER`` or ``HEALTH_MONITOR_SPARK_CONF`` raises ConfigError here,
        before any work starts."""
        from health_monitor.featurestore.local import LocalFeatureStore
        from health_monitor.lakehouse.local import LocalLakehouse
        from health_monitor.lakehouse.spark import spark_conf, spark_master

        spark_master()
        spark_conf()
        lakehouse = LocalLakehouse(settings.lakehouse_dir)
        return cls(
            settings, lakehouse, LocalFeatureStore(lakehouse), ModelRegistry.local(settings.mlflow_dir)
        )

    @classmethod
    def databricks(cls, settings: Settings, *, spark: Any = None, client: Any = None) -> Runtime:
        """The Databricks home: Unity Catalog tables through the workspace's Spark session, the
        Feature Engineering client and the UC model registry. Raises ConfigError at once, naming
        what is missing, when there is no workspace to reach or the ``databricks`` extra is not
        installed; nothing here connects to the workspace before the first table is used.
        ``spark``/``client`` are for tests."""
        from health_monitor.featurestore.databricks import DatabricksFeatureStore
        from health_monitor.lakehouse.unity import UnityLakehouse

        if spark is None:
            require_workspace()
        lakehouse = UnityLakehouse(
            (lambda: spark) if spark is not None else workspace_spark,
            ops_schema=f"{settings.catalog}.{settings.schemas.ops}",
        )
        return cls(settings, lakehouse, DatabricksFeatureStore(client), ModelRegistry.databricks())

    @cached_property
    def tables(self) -> TableReader:
        return TableReader(self)

    def has_gold(self) -> bool:
        return bool(self.lakehouse.list_tables(self.settings.catalog, self.settings.schemas.gold))

    def has_system_tables(self) -> bool:
        return bool(self.lakehouse.list_tables(self.settings.source_catalog))

    def load(self, command: str, tables: list[str], *args: str):
        """``lakehouse.load`` for the command ``health-monitor <command> <args>``: the journal says
        how to finish the load (the same command line) and how to undo it, for this home."""
        finish = self.command_line(command, *args)
        return self.lakehouse.load(
            command, tables, finish=finish, undo=self.command_line("recover", "--undo")
        )

    def command_line(self, command: str, *args: str) -> str:
        """``health-monitor <command> <args>`` with the options that point it at this home."""
        import shlex

        from health_monitor.config import DEFAULT_CATALOG, DEFAULT_SOURCE_CATALOG

        s = self.settings
        words = ["health-monitor", command, *args, "--home", str(s.home)]
        if s.catalog != DEFAULT_CATALOG:
            words += ["--catalog", s.catalog]
        if s.source_catalog != DEFAULT_SOURCE_CATALOG:
            words += ["--source-catalog", s.source_catalog]
        if s.account_file is not None:
            words += ["--account-file", str(s.account_file)]
        return shlex.join(words)

    def refuse_if_half_loaded(self) -> None:
        """Raise :class:`UnfinishedLoadError` while a multi-table load is unfinished or running."""
        from health_monitor.lakehouse.loads import refuse_if_unfinished

        refuse_if_unfinished(self.lakehouse)


ENV_DATABRICKS_HOST = "DATABRICKS_HOST"
EXTRA_HINT = "pip install 'health-monitor[databricks]'"


def require_workspace() -> None:
    """Fail fast (no import of the client, no network) unless a workspace can be reached: on a
    Databricks cluster, or with DATABRICKS_HOST and Databricks Connect for the Spark session."""
    if os.environ.get(ENV_DATABRICKS_RUNTIME_VERSION):
        missing = [] if _installed("databricks.feature_engineering") else ["databricks-feature-engineering"]
    elif os.environ.get(ENV_DATABRICKS_HOST):
        missing = [] if _installed("databricks.feature_engineering") else ["databricks-feature-engineering"]
        if not _installed("databricks.connect"):
            raise ConfigError(
                f"the databricks runtime off a cluster ({ENV_DATABRICKS_HOST} is set) needs a Spark session "
                "on the workspace: pip install databricks-connect (it brings its own pyspark: use an "
                "environment of its own), or run on a Databricks cluster"
            )
    else:
        raise ConfigError(
            "the databricks runtime needs a Databricks workspace: this is not a Databricks cluster "
            f"({ENV_DATABRICKS_RUNTIME_VERSION} is not set) and {ENV_DATABRICKS_HOST} is not set "
            "(set it, with DATABRICKS_TOKEN or another Databricks SDK credential, and install "
            "databricks-connect); or run here with --runtime embedded"
        )
    if missing:
        raise ConfigError(f"the databricks runtime needs {', '.join(missing)}: {EXTRA_HINT}")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def workspace_spark():
    """The workspace's Spark session: the cluster's own, or a Databricks Connect session."""
    from pyspark.sql import SparkSession

    from health_monitor.lakehouse import spark as local_spark

    active = SparkSession.getActiveSession()
    if active is None and not os.environ.get(ENV_DATABRICKS_RUNTIME_VERSION):
        from databricks.connect import DatabricksSession

        active = DatabricksSession.builder.getOrCreate()
    elif active is None:
        active = SparkSession.builder.getOrCreate()
    # Everything else that asks for "the" session (job groups of pipeline items) gets this one.
    local_spark.use_session(active)
    return active


class TableReader:
    """The read-only :class:`health_monitor.sdk.specs.Tables` that spec functions receive."""

    def __init__(self, runtime: Runtime):
        self._lakehouse = runtime.lakehouse
        self._settings = runtime.settings

    def _read(self, full_name: str, hint: str):
        if not self._lakehouse.exists(full_name):
            raise TableNotFoundError(full_name, hint)
        return self._lakehouse.read(full_name)

    def gold(self, table: str):
        from health_monitor.gold.contract import GOLD_TABLES

        full_name = self._settings.gold(table)
        if table in GOLD_TABLES and not self._lakehouse.exists(full_name):
            raise MissingInputError(
                full_name,
                "not built: `health-monitor gold` builds the Gold tables the installed plugins declare "
                "in their sources, when their system tables are loaded",
            )
        return self._read(full_name, "not a Gold table of the contract (docs/gold-contract.md)")

    def features(self, table: str):
        full_name = self._settings.feature_table(table)
        if not self._lakehouse.exists(full_name):
            raise MissingInputError(full_name, "not computed: run `health-monitor features` first")
        return self._read(full_name, "")

    def ground_truth(self, table: str):
        return self._read(self._settings.ground_truth(table), "only simulated accounts have ground truth")

    def has_ground_truth(self) -> bool:
        return self._lakehouse.exists(self._settings.ground_truth("incidents"))

    def shared(self, df):
        from health_monitor.lakehouse.shared import shared

        return shared(df)

    def rows_from(self):
        return None  # every row is kept
