"""The model-registry port over MLflow: tracking runs, registered versions and aliases.

The embedded default keeps tracking and registry in one SQLite file under the home; on
Databricks the registry is Unity Catalog (``databricks-uc``). Versions are found through the
``champion`` alias, never through stages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: int
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ModelRegistry:
    def __init__(self, tracking_uri: str, registry_uri: str | None = None, artifact_root: str | None = None):
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_root = artifact_root

    @classmethod
    def local(cls, directory: Path) -> ModelRegistry:
        directory.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{directory.resolve() / 'mlflow.db'}"
        return cls(uri, uri, (directory / "artifacts").resolve().as_uri())

    def configure(self) -> None:
        """Point this process's MLflow at the store. Always sets the URIs: MLflow's are process-wide,
        and another home's registry may have been configured since."""
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
        return RegisteredVersion(name, int(mv.version), mv.run_id, dict(mv.tags or {}))

    def versions(self, name: str) -> list[RegisteredVersion]:
        """Every registered version of ``name``, oldest first; empty if the model is not registered."""
        found = self.client().search_model_versions(f"name = '{name}'")
        return sorted(
            (RegisteredVersion(name, int(mv.version), mv.run_id, dict(mv.tags or {})) for mv in found),
            key=lambda v: v.version,
        )

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.client().set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        self.client().delete_registered_model_alias(name, alias)

    def set_version_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)
