"""Loads: a command that replaces many tables either finishes, or is seen unfinished and refused.

Each table write is atomic (one Delta commit), but ``load-gold``, ``gold``, ``snapshot``,
``simulate`` and ``load-system-tables`` commit their tables one after another: a process killed
between two commits leaves some tables from the new data and some from the old. A *load* wraps
such a command::

    with lakehouse.load("load-gold", names, finish="health-monitor load-gold DIR", undo="...") as load:
        for name in names:
            lakehouse.write(name, ...)

Before the first write, a journal records the command, the tables and each table's version
before the load (written to a temporary file, then linked into place: it is there whole or not
at all). When the block ends normally the journal is removed. When it raises, the tables already
replaced are restored to their earlier versions and the journal removed, so a failed load
changes nothing. When the process dies, the journal stays: the home is *half-loaded*, and
:func:`refuse_if_unfinished` (called by the pipelines) raises :class:`UnfinishedLoadError` naming
the load, the tables already replaced and those not yet, and the two ways out:

* finish it: run the same command again. It *continues* the load (the journal keeps the versions
  from before the first attempt) and removes the journal when it ends;
* undo it: :func:`undo` (``health-monitor recover --undo``) restores every table to its version
  before the load (Delta time travel: a RESTORE commit per table; a table the load created is
  dropped), in the reverse of the load's order, then removes the journal.

A load of another command refuses to start over an unfinished one, with the same message: a
``gold`` must not read a half-loaded ``system`` catalog.

The journal's storage is the lakehouse's: a file beside the tables here (``<root>/_loads/``); a
Unity Catalog home can keep the same record in a table and restore with ``RESTORE TABLE``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from health_monitor.errors import UnfinishedLoadError

if TYPE_CHECKING:
    from health_monitor.lakehouse import Lakehouse

log = logging.getLogger(__name__)

_SHOWN = 6  # table names listed per line of the message before "(+N more)"


@dataclass(frozen=True)
class TableBefore:
    """A table as it was before the load; ``version`` None: the load creates it."""

    name: str
    version: int | None
    primary_keys: list[str] = field(default_factory=list)
    timestamp_key: str | None = None
    description: str = ""


@dataclass(frozen=True)
class LoadRecord:
    """The journal of one load (possibly over several attempts of the same command)."""

    id: str
    command: str
    finish: str  # the command line that finishes the load
    undo: str  # the command line that undoes it
    started_at: str  # ISO, UTC, of the first attempt
    pid: int  # of the latest attempt
    host: str
    tables: list[TableBefore]
    attempts: int = 1
    undoing: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LoadRecord:
        doc = json.loads(text)
        doc["tables"] = [TableBefore(**t) for t in doc["tables"]]
        return cls(**doc)

    def running(self) -> bool:
        """Whether the process of the latest attempt is still alive (on this machine)."""
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class LoadJournal:
    """The unfinished load of a local lakehouse: ``<folder>/unfinished.json``, or none."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / "unfinished.json"

    def read(self) -> LoadRecord | None:
        try:
            return LoadRecord.from_json(self.path.read_text())
        except FileNotFoundError:
            return None

    def create(self, record: LoadRecord) -> bool:
        """Write ``record`` unless a journal exists; False if one does (another load got there)."""
        tmp = self._staged(record)
        try:
            os.link(tmp, self.path)  # atomic, and fails if the journal exists
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True

    def replace(self, record: LoadRecord) -> None:
        os.replace(self._staged(record), self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _staged(self, record: LoadRecord) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{record.id}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w") as f:
            f.write(record.to_json())
            f.flush()
            os.fsync(f.fileno())
        return tmp


# ------------------------------------------------------------------------------------- the load


def _before(lakehouse: Lakehouse, name: str) -> TableBefore:
    if not lakehouse.exists(name):
        return TableBefore(name, None)
    info = lakehouse.describe(name)
    return TableBefore(name, info.version, list(info.primary_keys), info.timestamp_key, info.description)


class JournaledLoads:
    """The three load methods of the lakehouse port, for an adapter that keeps its journal where
    its ``_journal()`` says (a folder in the embedded home, a table on Unity Catalog)."""

    def _journal(self):
        raise NotImplementedError

    def load(self, command: str, tables: list[str], *, finish: str, undo: str):
        """A context manager: the writes of ``tables`` inside it finish together or are undone."""
        lakehouse = cast("Lakehouse", self)  # the mixin is only used by lakehouse adapters
        return journaled_load(lakehouse, self._journal(), command, tables, finish=finish, undo=undo)

    def unfinished_load(self):
        """The :class:`LoadRecord` of a load that has not ended."""
        return self._journal().read()

    def undo_load(self):
        """Put every table of the unfinished load back to its version before it; None if none."""
        return undo(self, self._journal())


@contextmanager
def journaled_load(
    lakehouse: Lakehouse,
    journal: LoadJournal,
    command: str,
    tables: list[str],
    *,
    finish: str,
    undo: str,
) -> Iterator[LoadRecord]:
    """The generic body of ``Lakehouse.load`` for a lakehouse whose journal is a :class:`LoadJournal`."""
    record = _begin(lakehouse, journal, command, list(dict.fromkeys(tables)), finish, undo)
    try:
        yield record
    except GeneratorExit:  # abandoned without ending (not through ``with``): leave it unfinished
        raise
    except BaseException:
        current = journal.read() or record
        if replaced_tables(lakehouse, current):
            try:
                _restore_all(lakehouse, journal, current)
            except Exception:  # the journal stays: the pipelines refuse and say how to finish or undo
                log.exception("load %s failed and could not be undone", current.id)
                raise
            log.warning("load %s failed; its tables were restored to their earlier versions", current.id)
        journal.remove()
        raise
    journal.remove()


def _begin(
    lakehouse: Lakehouse, journal: LoadJournal, command: str, tables: list[str], finish: str, undo: str
) -> LoadRecord:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    while True:
        existing = journal.read()
        if existing is None:
            record = LoadRecord(
                id=f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
                command=command,
                finish=finish,
                undo=undo,
                started_at=now.isoformat(),
                pid=os.getpid(),
                host=socket.gethostname(),
                tables=[_before(lakehouse, name) for name in tables],
            )
            if journal.create(record):
                return record
            continue  # another process started a load at this instant: look at it
        if existing.command != command or existing.running():
            raise UnfinishedLoadError(describe(lakehouse, existing))
        # The same command again: continue the load. The versions from before its first attempt
        # stay the ones an undo goes back to; tables new to this attempt are added.
        known = {t.name for t in existing.tables}
        record = replace(
            existing,
            finish=finish,
            undo=undo,
            pid=os.getpid(),
            host=socket.gethostname(),
            attempts=existing.attempts + 1,
            undoing=False,
            tables=existing.tables + [_before(lakehouse, n) for n in tables if n not in known],
        )
        journal.replace(record)
        return record


def replaced_tables(lakehouse: Lakehouse, record: LoadRecord) -> list[str]:
    """The tables of ``record`` that are no longer as they were before the load."""
    out = []
    for t in record.tables:
        exists = lakehouse.exists(t.name)
        if (t.version is None and exists) or (
            t.version is not None and exists and lakehouse.version(t.name) != t.version
        ):
            out.append(t.name)
    return out


def undo(lakehouse: Lakehouse, journal: LoadJournal) -> LoadRecord | None:
    """Restore every table of the unfinished load to its version before it; None if there is none.

    Refuses (:class:`UnfinishedLoadError`) while the load's process is still running."""
    record = journal.read()
    if record is None:
        return None
    if record.running():
        raise UnfinishedLoadError(describe(lakehouse, record))
    _restore_all(lakehouse, journal, record)
    journal.remove()
    return record


def _restore_all(lakehouse: Lakehouse, journal: LoadJournal, record: LoadRecord) -> None:
    if not record.undoing:
        record = replace(record, undoing=True)
        journal.replace(record)  # killed during the undo: the message says to run the undo again
    changed = set(replaced_tables(lakehouse, record))
    # In reverse order: a load writes its state tables (ops.gold_builds) after the tables they
    # describe, so they are restored first and never claim more than the tables hold.
    for t in reversed(record.tables):
        if t.name not in changed:
            continue
        if t.version is None:
            lakehouse.drop(t.name)
        else:
            lakehouse.restore(
                t.name,
                t.version,
                primary_keys=t.primary_keys,
                timestamp_key=t.timestamp_key,
                description=t.description,
            )


# ---------------------------------------------------------------------------------- the message


def _names(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def describe(lakehouse: Lakehouse, record: LoadRecord) -> str:
    """What :class:`UnfinishedLoadError` says: which load, how far it got, how to finish or undo it."""
    started = record.started_at.replace("T", " ").replace("+00:00", " UTC")
    what = f"`{record.command}` load {record.id} (started {started}"
    what += f", {record.attempts} attempts)" if record.attempts > 1 else ")"
    if record.running():
        return (
            f"{what} is still running (process {record.pid}); its tables are being replaced one by one. "
            "Wait for it to end, then run this again."
        )
    if record.undoing:
        return (
            f"the home is half-loaded: the undo of {what} stopped before it ended.\n"
            f"  finish the undo: {record.undo}\n"
            f"  or load again:   {record.finish}"
        )
    replaced = replaced_tables(lakehouse, record)
    pending = [t.name for t in record.tables if t.name not in set(replaced)]
    return (
        f"the home is half-loaded: {what} stopped after replacing {len(replaced)} of "
        f"{len(record.tables)} tables, so they no longer belong together.\n"
        f"  replaced:        {_names(replaced)}\n"
        f"  not replaced:    {_names(pending)}\n"
        f"  finish the load: {record.finish}\n"
        f"  or undo it:      {record.undo}   (every table back to its version before the load)"
    )


def refuse_if_unfinished(lakehouse: Lakehouse) -> None:
    """Raise :class:`UnfinishedLoadError` if a load of this lakehouse is unfinished or running."""
    record = lakehouse.unfinished_load()
    if record is not None:
        raise UnfinishedLoadError(describe(lakehouse, record))
