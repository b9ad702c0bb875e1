"""The model-registry port over MLflow: tracking runs, registered versions and aliases.

The embedded default keeps tracking and registry in one SQLite file under the home; on
Databricks the registry is Unity Catalog (``databricks-uc``). Versions are found through the
``champion`` alias, never through stages.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from health_monitor.deadline import checkpoint
from health_monitor.errors import HealthMonitorError, NoChampionError

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT_PREFIX = "/health-monitor/"  # this project's experiments: /health-monitor/<domain>
# Who runs an MLflow run: set when it starts, so a later process can tell a run whose process
# was killed (left RUNNING for ever) from one still being trained.
PID_TAG = "health_monitor.pid"
HOST_TAG = "health_monitor.host"
CLOSED_TAG = "health_monitor.closed"
DATABRICKS_EXPERIMENT_ROOT = "/Shared"  # workspace folder of /health-monitor/<domain> on Databricks


def run_owner_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: int
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    created_ms: int | None = field(default=None, compare=False)  # when it was registered (epoch ms)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ModelRegistry:
    def __init__(
        self,
        tracking_uri: str,
        registry_uri: str | None = None,
        artifact_root: str | None = None,
        experiment_root: str = "",
    ):
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_root = artifact_root
        # Prefixed to experiment names: a workspace keeps experiments in folders that must exist.
        self.experiment_root = experiment_root.rstrip("/")
        self._directory: Path | None = None

    @classmethod
    def local(cls, directory: Path) -> ModelRegistry:
        uri = f"sqlite:///{directory.resolve() / 'mlflow.db'}"
        registry = cls(uri, uri, (directory / "artifacts").resolve().as_uri())
        registry._directory = directory  # created on first use, not by commands that never use it
        return registry

    @classmethod
    def databricks(cls, experiment_root: str = DATABRICKS_EXPERIMENT_ROOT) -> ModelRegistry:
        """Tracking in the workspace, models in Unity Catalog (three-part names, aliases, and a
        signature on every version). Experiments go under ``experiment_root``, which must exist."""
        return cls("databricks", "databricks-uc", None, experiment_root)

    def configure(self) -> None:
        """Point this process's MLflow at the store. Always sets the URIs: MLflow's are process-wide,
        and another home's registry may have been configured since."""
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            _follow_a_move(self._directory, self.artifact_root)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)

    def client(self):
        self.configure()
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri, self.registry_uri)

    def experiment(self, name: str) -> str:
        """Create (with the home's artifact root) or reuse an experiment; returns its id."""
        self.configure()
        import mlflow

        name = self.experiment_root + name
        client = self.client()
        found = client.get_experiment_by_name(name)
        experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(name, artifact_location=self._artifacts(name))
        )
        mlflow.set_experiment(experiment_id=experiment_id)
        return experiment_id

    def _artifacts(self, name: str) -> str | None:
        if not self.artifact_root:
            return None
        return f"{self.artifact_root}/{name.strip('/').replace('/', '_')}"

    def version_by_alias(self, name: str, alias: str = CHAMPION) -> RegisteredVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client().get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return RegisteredVersion(name, int(mv.version), mv.run_id, dict(mv.tags or {}), mv.creation_timestamp)

    def champion(self, name: str, model: str) -> RegisteredVersion:
        """The ``champion`` version of registered model ``name`` (``model``'s); else
        :class:`NoChampionError` when the champion gate held a version back as ``challenger``
        (saying how to see why and promote it), or HealthMonitorError saying to train it."""
        current = self.version_by_alias(name, CHAMPION)
        if current is not None:
            return current
        held = self.version_by_alias(name, CHALLENGER)
        if held is not None:
            raise NoChampionError(
                f"model {name} has no '{CHAMPION}': the champion gate held v{held.version} back as "
                f"'{CHALLENGER}' (why: `health-monitor evaluate --model {model}`); promote by hand: "
                f"health-monitor promote --model {model} --version {held.version} --reason TEXT"
            )
        raise HealthMonitorError(
            f"model {name} has no '{CHAMPION}' version; run `health-monitor train --model {model}`"
        )

    def versions(self, name: str) -> list[RegisteredVersion]:
        """Every registered version of ``name``, oldest first; empty if the model is not registered."""
        found = self.client().search_model_versions(f"name = '{name}'")
        return sorted(
            (
                RegisteredVersion(
                    name, int(mv.version), mv.run_id, dict(mv.tags or {}), mv.creation_timestamp
                )
                for mv in found
            ),
            key=lambda v: v.version,
        )

    def set_alias(self, name: str, alias: str, version: int) -> None:
        checkpoint(f"set alias {alias} of {name}")
        self.client().set_registered_model_alias(name, alias, str(version))

    def close_abandoned_runs(self, older_than: float | None = None) -> list[tuple[str, str]]:
        """Close as FAILED the RUNNING runs of this project's experiments that nobody runs any more.

        A run is abandoned when its process (tags ``health_monitor.pid`` and ``.host``) no longer
        exists on this host, or when it started more than ``older_than`` seconds ago (an item's
        time limit: no item runs longer). Returns ``(run_id, reason)`` per closed run.
        """
        client = self.client()
        experiments = client.search_experiments(
            filter_string=f"name LIKE '{self.experiment_root}{EXPERIMENT_PREFIX}%'"
        )
        if not experiments:
            return []
        here, now_ms = socket.gethostname(), time.time() * 1000
        closed, token = [], None
        while True:
            page = client.search_runs(
                [e.experiment_id for e in experiments],
                filter_string="attributes.status = 'RUNNING'",
                max_results=1000,
                page_token=token,
            )
            for run in page:
                tags, pid = run.data.tags, run.data.tags.get(PID_TAG, "")
                if tags.get(HOST_TAG) == here and pid.isdigit() and not _alive(int(pid)):
                    reason = f"its process {pid} on {here} is gone"
                elif older_than is not None and now_ms - run.info.start_time > older_than * 1000:
                    reason = f"it started more than {older_than:g} s ago (the item time limit)"
                else:
                    continue
                client.set_tag(run.info.run_id, CLOSED_TAG, reason)
                client.set_terminated(run.info.run_id, "FAILED")
                closed.append((run.info.run_id, reason))
            token = page.token
            if not token:
                return closed

    def delete_alias(self, name: str, alias: str) -> None:
        self.client().delete_registered_model_alias(name, alias)

    def set_version_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)


_PLACE = "home.json"  # where the store was when its artifact locations were written
# The columns of MLflow's SQLite store that hold artifact locations (absolute file URIs).
_LOCATIONS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def _follow_a_move(directory: Path, artifact_root: str | None) -> None:
    """MLflow keeps absolute artifact locations: after the home is moved or copied they point to
    the old place (``No such artifact``). When the store is found somewhere else than it was
    written, its locations are rewritten to the new place, once, in one SQLite transaction."""
    import json
    import sqlite3

    if artifact_root is None:
        return
    marker, db = directory / _PLACE, directory / "mlflow.db"
    was = json.loads(marker.read_text()).get("artifact_root") if marker.exists() else None
    if was == artifact_root:
        return
    if was is not None and db.exists():
        with sqlite3.connect(db) as conn:  # one transaction: all locations move, or none
            known = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
            for table, column in _LOCATIONS:
                if table in known:
                    conn.execute(
                        f"update {table} set {column} = ? || substr({column}, ?) where {column} like ? escape '!'",
                        (artifact_root, len(was) + 1, _like_prefix(was)),
                    )
    tmp = marker.with_name(f".{_PLACE}.tmp")
    tmp.write_text(json.dumps({"artifact_root": artifact_root}))
    tmp.replace(marker)


def _like_prefix(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
