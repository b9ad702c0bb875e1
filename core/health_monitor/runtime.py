"""The composition root: one object that knows which home the code runs in.

Pipelines, the CLI and the agents take a :class:`Runtime` and use its ports (lakehouse,
feature store, model registry). ``Runtime.embedded`` builds the local home; a Databricks home
plugs Unity Catalog, the Feature Engineering client and the UC registry into the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from health_monitor.config import Settings
from health_monitor.errors import MissingInputError, TableNotFoundError
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
        """The embedded default: Delta tables and SQLite MLflow under ``settings.home``."""
        from health_monitor.featurestore.local import LocalFeatureStore
        from health_monitor.lakehouse.local import LocalLakehouse

        lakehouse = LocalLakehouse(settings.lakehouse_dir)
        return cls(
            settings, lakehouse, LocalFeatureStore(lakehouse), ModelRegistry.local(settings.mlflow_dir)
        )

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


class TableReader:
    """The read-only :class:`health_monitor.specs.Tables` that spec functions receive."""

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
                full_name, "not built: its system tables are not loaded (see `health-monitor gold`)"
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
