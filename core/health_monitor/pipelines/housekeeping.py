"""``health-monitor vacuum``: the disk a home no longer needs.

Every write of a table adds a version and keeps the files of the one it replaced (readers may
still hold it, and time travel reads it); a killed write leaves files no version references.
Neither is ever read again once it is old enough. :func:`vacuum_home` deletes, per table, the
files its current version does not reference and that were removed (or written, for a killed
write) more than ``retain`` ago; with ``models=True`` also the model versions no alias points to
(``champion``, ``challenger``) that are older than ``retain``, with their runs' artifacts.

Refused while a load of many tables is unfinished (its undo reads the versions before it).
Never deleted: a file of a table's current version; a file removed, or written, within the last
hour, whatever ``retain`` says (a reader that started before a replacement, or a write still
running, keeps its files); a model version with an alias.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from health_monitor.errors import ConfigError

MIN_RETAIN = dt.timedelta(hours=1)


@dataclass
class VacuumReport:
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (files, bytes)
    orphans: list[str] = field(default_factory=list)  # folders of killed first writes
    orphan_bytes: int = 0
    models: list[str] = field(default_factory=list)  # "name vN" deleted
    model_bytes: int = 0
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return sum(b for _, b in self.tables.values()) + self.orphan_bytes + self.model_bytes

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = [
            f"{name:<64} {files:>6,} file(s) {_size(size):>10}"
            for name, (files, size) in sorted(self.tables.items())
            if files
        ]
        out += [f"{folder:<64} a killed first write" for folder in self.orphans]
        out += [f"{model:<64} model version without alias" for model in self.models]
        out.append(f"{verb} {_size(self.bytes)} in total")
        return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def vacuum_home(
    runtime, retain: dt.timedelta, *, models: bool = False, dry_run: bool = False, progress: bool = True
) -> VacuumReport:
    if retain < dt.timedelta(0):
        raise ConfigError(f"--retain-days must not be negative, got {retain.total_seconds() / 86400:g}")
    hours = max(int(retain.total_seconds() // 3600), int(MIN_RETAIN.total_seconds() // 3600))
    # An unfinished load's undo needs the versions from before it: nothing is deleted meanwhile.
    runtime.refuse_if_half_loaded()
    report = VacuumReport(dry_run=dry_run)
    lakehouse = runtime.lakehouse
    names = lakehouse.list_tables()
    for name in tqdm(names, desc="vacuum", unit="table", disable=None if progress else True, leave=False):
        report.tables[name] = lakehouse.vacuum(name, hours, dry_run=dry_run)
    for folder in lakehouse.orphans(hours):
        report.orphans.append(str(folder))
        report.orphan_bytes += _folder_bytes(folder)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    if models:
        _vacuum_models(runtime, dt.timedelta(hours=hours), report, dry_run)
    return report


def _vacuum_models(runtime, retain: dt.timedelta, report: VacuumReport, dry_run: bool) -> None:
    client = runtime.registry.client()
    cutoff_ms = (time.time() - retain.total_seconds()) * 1000
    kept_runs: set[str] = set()
    doomed: list = []
    for registered in client.search_registered_models():
        # The registered model's aliases, not the versions': search results leave theirs empty.
        aliased = {str(v) for v in (client.get_registered_model(registered.name).aliases or {}).values()}
        for version in client.search_model_versions(f"name='{registered.name}'"):
            if str(version.version) in aliased or version.creation_timestamp > cutoff_ms:
                kept_runs.add(version.run_id)
            else:
                doomed.append(version)
    for version in doomed:
        report.models.append(f"{version.name} v{version.version}")
        artifacts = _local_artifacts(client, version.run_id) if version.run_id not in kept_runs else None
        if artifacts is not None:
            report.model_bytes += _folder_bytes(artifacts)
        if dry_run:
            continue
        client.delete_model_version(version.name, version.version)
        if artifacts is not None:
            shutil.rmtree(artifacts, ignore_errors=True)
            client.delete_run(version.run_id)
            kept_runs.add(version.run_id)  # its artifacts are gone: never twice


def _local_artifacts(client, run_id: str | None) -> Path | None:
    """The run's artifact folder when it is on this machine's disk (the embedded home)."""
    if not run_id:
        return None
    uri = client.get_run(run_id).info.artifact_uri
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    folder = Path(unquote(parsed.path)).parent  # <experiment>/<run_id>/artifacts -> <run_id>
    return folder if folder.name == run_id and folder.is_dir() else None
