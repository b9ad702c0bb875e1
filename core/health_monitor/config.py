"""Settings: where the embedded home lives and which catalog and schemas the tables use.

Every setting has a flag on the CLI and an environment variable; flags win over the environment,
the environment over the defaults.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from health_monitor.errors import ConfigError
from health_monitor.sdk.detectors import ALARM_BUDGET_SETTING, check_alarm_budget

ENV_HOME = "HEALTH_MONITOR_HOME"
ENV_CATALOG = "HEALTH_MONITOR_CATALOG"
ENV_SOURCE_CATALOG = "HEALTH_MONITOR_SOURCE_CATALOG"
ENV_ACCOUNT_FILE = "HEALTH_MONITOR_ACCOUNT_FILE"
ENV_ITEM_TIME_LIMIT = "HEALTH_MONITOR_ITEM_TIME_LIMIT"
ENV_RUNTIME = "HEALTH_MONITOR_RUNTIME"
ENV_ALARM_BUDGET = ALARM_BUDGET_SETTING  # named in the SDK, whose detectors check it
ENV_MAX_TRAINING_ROWS = "HEALTH_MONITOR_MAX_TRAINING_ROWS"
ENV_WORKERS = "HEALTH_MONITOR_WORKERS"
# Set by Databricks on its clusters: there the runtime defaults to `databricks`.
ENV_DATABRICKS_RUNTIME_VERSION = "DATABRICKS_RUNTIME_VERSION"
EMBEDDED = "embedded"
DATABRICKS = "databricks"
RUNTIMES = (EMBEDDED, DATABRICKS)
# Seconds one feature table, model training or scoring may take. The slowest item of the medium
# demo takes well under a minute; the seed scale is about three times larger. 0 means no limit.
DEFAULT_ITEM_TIME_LIMIT = 1800.0
# Base rows one model trains and is evaluated on, at most: the training set is fitted on the
# driver. The seed account's largest model has about 625,000.
DEFAULT_MAX_TRAINING_ROWS = 2_000_000
DEFAULT_HOME = Path("~/.health-monitor")
DEFAULT_CATALOG = "health_monitor"
DEFAULT_SOURCE_CATALOG = "system"
ACCOUNT_FILE_NAME = "account.yaml"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a plain SQL identifier, else raise ConfigError naming ``what``."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise ConfigError(
            f"{what} must be a plain identifier (letters, digits, underscore; not starting with a digit), "
            f"got {value!r}"
        )
    return value


def check_max_rows(value: int | str, what: str) -> int:
    """``value`` as a whole number of rows >= 1000, else raise ConfigError naming ``what``."""
    try:
        rows = int(str(value).replace("_", "").replace(",", ""))
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number of rows, got {value!r}") from None
    if rows < 1000:
        raise ConfigError(f"{what} must be at least 1000 rows, got {value!r}")
    return rows


def check_workers(value: int | str, what: str) -> int:
    """``value`` as a whole number from 1 to 64, else raise ConfigError naming ``what``."""
    try:
        workers = int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number from 1 to 64, got {value!r}") from None
    if not 1 <= workers <= 64:
        raise ConfigError(f"{what} must be a whole number from 1 to 64, got {value!r}")
    return workers


def check_time_limit(value: float | str, what: str) -> float:
    """``value`` as seconds (a number >= 0; 0 means no limit), else raise ConfigError naming ``what``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number of seconds (0: no limit), got {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(f"{what} must be a number of seconds >= 0 (0: no limit), got {value!r}")
    return seconds


def default_runtime() -> str:
    """``databricks`` on a Databricks cluster, else ``embedded``."""
    return DATABRICKS if os.environ.get(ENV_DATABRICKS_RUNTIME_VERSION) else EMBEDDED


@dataclass(frozen=True)
class Schemas:
    """The schema names inside the catalog, one per kind of table."""

    gold: str = "gold"
    features: str = "features"
    ml: str = "ml"  # registered models and their prediction tables
    ground_truth: str = "ground_truth"  # simulator incidents; never read by feature code
    ops: str = "ops"  # bookkeeping of the jobs themselves (the Gold build's state)

    def __post_init__(self) -> None:
        for kind, value in self.__dict__.items():
            check_identifier(value, f"schema name for {kind}")


@dataclass(frozen=True)
class Settings:
    """Where a health-monitor deployment keeps its tables and models.

    ``home`` is only used by the embedded default (local lakehouse, SQLite MLflow store).
    """

    home: Path
    catalog: str = DEFAULT_CATALOG
    schemas: Schemas = field(default_factory=Schemas)
    # Where the Databricks system tables are read from: `system` on Databricks and in the embedded
    # home (simulated or loaded with `load-system-tables`); another catalog for a copy of them.
    source_catalog: str = DEFAULT_SOURCE_CATALOG
    # The user-edited file of what no system table holds (commitments, job SLAs); None: in the home.
    account_file: Path | None = None
    # Seconds the plugin code of one pipeline item may run before it is stopped; None: no limit.
    item_time_limit: float | None = DEFAULT_ITEM_TIME_LIMIT
    # Which home: `embedded` (local lakehouse, SQLite MLflow) or `databricks` (Unity Catalog).
    runtime: str = EMBEDDED
    # Alarms per entity per 30 days a calibrated anomaly detector may raise on normal days:
    # training sets it on every estimator with an `alarm_budget` parameter (sdk/detectors.py).
    # None: each detector keeps the budget its spec declares (1 unless the spec says otherwise).
    alarm_budget: float | None = None
    # Base rows a model trains on, at most: above, a sample of entity-days fixed by a hash of their keys.
    max_training_rows: int = DEFAULT_MAX_TRAINING_ROWS
    # Items of the features and infer stages run at once (1: one after the other). None: each
    # command's own, 1 except the daily run's features and inference on a local master (2).
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.alarm_budget is not None:
            object.__setattr__(self, "alarm_budget", check_alarm_budget(self.alarm_budget))
        object.__setattr__(
            self, "max_training_rows", check_max_rows(self.max_training_rows, "max training rows")
        )
        if self.workers is not None:
            object.__setattr__(self, "workers", check_workers(self.workers, "workers"))
        check_identifier(self.catalog, "catalog")
        check_identifier(self.source_catalog, "source catalog")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.item_time_limit is not None:
            limit = check_time_limit(self.item_time_limit, "item time limit")
            object.__setattr__(self, "item_time_limit", limit or None)
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        if self.account_file is not None:
            object.__setattr__(self, "account_file", Path(self.account_file).expanduser().resolve())

    @classmethod
    def from_env(
        cls,
        home: str | os.PathLike | None = None,
        catalog: str | None = None,
        source_catalog: str | None = None,
        account_file: str | os.PathLike | None = None,
        item_time_limit: float | str | None = None,
        runtime: str | None = None,
        alarm_budget: float | str | None = None,
        max_training_rows: int | str | None = None,
        workers: int | str | None = None,
    ) -> Settings:
        home = home or os.environ.get(ENV_HOME) or DEFAULT_HOME
        catalog = catalog or os.environ.get(ENV_CATALOG) or DEFAULT_CATALOG
        source_catalog = source_catalog or os.environ.get(ENV_SOURCE_CATALOG) or DEFAULT_SOURCE_CATALOG
        account_file = account_file or os.environ.get(ENV_ACCOUNT_FILE) or None
        if item_time_limit is None:
            item_time_limit = os.environ.get(ENV_ITEM_TIME_LIMIT) or DEFAULT_ITEM_TIME_LIMIT
        limit = check_time_limit(item_time_limit, f"item time limit ({ENV_ITEM_TIME_LIMIT})")
        runtime = runtime or os.environ.get(ENV_RUNTIME) or default_runtime()
        if runtime not in RUNTIMES:
            raise ConfigError(
                f"runtime must be one of {', '.join(RUNTIMES)} (--runtime or {ENV_RUNTIME}), got {runtime!r}"
            )
        if alarm_budget is None:
            alarm_budget = os.environ.get(ENV_ALARM_BUDGET) or None
        if max_training_rows is None:
            max_training_rows = os.environ.get(ENV_MAX_TRAINING_ROWS) or DEFAULT_MAX_TRAINING_ROWS
        if workers is None:
            workers = os.environ.get(ENV_WORKERS) or None
        if workers is not None:
            workers = check_workers(workers, f"workers (--workers or {ENV_WORKERS})")
        return cls(
            home=Path(home),
            catalog=catalog,
            source_catalog=source_catalog,
            account_file=Path(account_file) if account_file else None,
            item_time_limit=limit or None,
            runtime=runtime,
            alarm_budget=None if alarm_budget is None else check_alarm_budget(alarm_budget),
            max_training_rows=check_max_rows(
                max_training_rows, f"max training rows (--max-training-rows or {ENV_MAX_TRAINING_ROWS})"
            ),
            workers=workers,
        )

    @property
    def on_databricks(self) -> bool:
        return self.runtime == DATABRICKS

    def system(self, table: str) -> str:
        """``billing.usage`` -> ``system.billing.usage`` (in the source catalog)."""
        return f"{self.source_catalog}.{table}"

    @property
    def account_inputs_path(self) -> Path:
        return self.account_file or self.home / ACCOUNT_FILE_NAME

    def ops(self, table: str) -> str:
        return f"{self.catalog}.{self.schemas.ops}.{table}"

    # Three-part names of the tables the core owns.
    def gold(self, table: str) -> str:
        return f"{self.catalog}.{self.schemas.gold}.{table}"

    def feature_table(self, table: str) -> str:
        return f"{self.catalog}.{self.schemas.features}.{table}"

    def ground_truth(self, table: str) -> str:
        return f"{self.catalog}.{self.schemas.ground_truth}.{table}"

    def registered_model(self, model: str) -> str:
        return f"{self.catalog}.{self.schemas.ml}.{model}"

    def predictions(self, model: str) -> str:
        return f"{self.catalog}.{self.schemas.ml}.{model}_predictions"

    @property
    def lakehouse_dir(self) -> Path:
        return self.home / "lakehouse"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"
