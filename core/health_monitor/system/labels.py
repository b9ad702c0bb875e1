"""The user's own labels: known incidents of a real account, for evaluating its detectors.

A simulated account comes with its ground truth; a real one has none, so its detectors are
trained but not evaluated. ``health-monitor labels import FILE`` reads the incidents the people
who run the account know of and writes them to ``<catalog>.ground_truth.incidents``, the table
the detectors' labels read (``Labels.incidents`` declares which types each model reads). The
next ``train`` evaluates those detectors against them and logs the metrics ``evaluate`` shows.

The file is CSV (a header row) or YAML (a list under ``incidents:``), one incident a row::

    type,entity,start,end,workspace_id,severity,description
    compromised_user,alice@acme.com,2026-10-03,2026-10-05,1234567890123456,high,phished
    cost_spike_runaway_job,987654321,2026-11-02,,1234567890123456,,

- ``type``: an incident type an installed model reads (``health-monitor labels types`` lists them).
- ``entity``: the id of what it happened to, of the kind the type names: a user's email, a job,
  cluster or warehouse id, a workspace id, a table's full name.
- ``start``: the first day (``YYYY-MM-DD``) or instant (ISO 8601, UTC) of the incident.
- ``end`` (optional): the last day, inclusive, or the instant it ended, exclusive; none: the
  start day only.
- ``workspace_id``: required for job, cluster and warehouse incidents; a workspace incident's
  entity is its workspace.
- ``severity`` (optional: ``low``, ``medium`` (default), ``high``), ``description`` (optional),
  ``id`` (optional: a stable id, so importing a corrected file replaces the row; default: made
  from type, entity and start).

Importing merges by id into what the table holds (the simulator's incidents too);
``--replace`` drops the table's previous rows first. A bad row refuses the whole file, naming
the row and the field; nothing is written then.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from health_monitor.errors import ConfigError

TABLE = "incidents"
SEVERITIES = ("low", "medium", "high")
# The file's fields: (required, what it holds); every other field is refused.
FIELDS: dict[str, tuple[bool, str]] = {
    "type": (True, "an incident type an installed model reads"),
    "entity": (True, "the id of the user, job, cluster, warehouse, workspace or table"),
    "start": (True, "the first day (YYYY-MM-DD) or instant (ISO 8601, UTC)"),
    "end": (False, "the last day, inclusive, or the instant it ended"),
    "workspace_id": (False, "the workspace (required for job, cluster and warehouse incidents)"),
    "severity": (False, "low, medium or high"),
    "description": (False, "free text"),
    "id": (False, "a stable id; default: made from type, entity and start"),
}
NEEDS_WORKSPACE = ("job", "cluster", "warehouse")
# The ground-truth table's schema: the simulator writes the same (simulate/incidents.py).
SCHEMA = pa.schema(
    [
        ("incident_id", pa.string()),
        ("incident_type", pa.string()),
        ("domain", pa.string()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("workspace_id", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("end_time", pa.timestamp("us", tz="UTC")),
        ("severity", pa.string()),
        ("description", pa.string()),
    ]
)


@dataclass(frozen=True)
class IncidentType:
    """An incident type some installed model reads: its entity kind, domain and readers."""

    name: str
    entity_kind: str
    domain: str
    models: tuple[str, ...]


def incident_types(host: Any) -> dict[str, IncidentType]:
    """Every incident type the installed models' labels read (``Labels.incidents``), by name."""
    found: dict[str, dict[str, Any]] = {}
    for model, owned in sorted(host.labels.items()):
        domain = host.models[model].spec.domain  # labels of unknown models were dropped on load
        for name, kind in owned.spec.incidents.items():
            entry = found.setdefault(name, {"kinds": set(), "domain": domain, "models": []})
            entry["kinds"].add(kind)
            entry["models"].append(model)
    types = {}
    for name, entry in sorted(found.items()):
        if len(entry["kinds"]) > 1:  # two plugins disagree: refuse rather than guess
            raise ConfigError(
                f"incident type {name!r} is read as {sorted(entry['kinds'])} by {entry['models']}: "
                "the plugins must agree on its entity kind"
            )
        types[name] = IncidentType(name, entry["kinds"].pop(), entry["domain"], tuple(entry["models"]))
    return types


def read_labels_file(path: Path, types: dict[str, IncidentType]) -> pa.Table:
    """Parse and check ``path`` (CSV or YAML) into rows of the ground-truth table's schema.
    Raises ConfigError naming the file, the row and the field on any bad value."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"labels file {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        entries = csv_entries(path, list(FIELDS), "labels file")
    elif suffix in (".yaml", ".yml"):
        entries = yaml_entries(path, "incidents", list(FIELDS), "labels file")
    else:
        raise ConfigError(
            f"labels file {path}: expected a .csv, .yaml or .yml file, got {suffix or 'no suffix'!r}"
        )
    if not entries:
        raise ConfigError(f"labels file {path}: no incidents in it")
    if not types:
        raise ConfigError(
            "no installed model reads incidents (Labels.incidents): nothing would use these labels"
        )
    rows = [_row(entry, where, types) for where, entry in entries]
    ids = Counter(r["incident_id"] for r in rows)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        raise ConfigError(f"labels file {path}: incident id(s) {twice[:5]} appear more than once")
    return pa.Table.from_pylist(rows, schema=SCHEMA)


Entries = list[tuple[str, dict[str, Any]]]  # (where, for errors; field -> value or None)


def csv_entries(path: Path, fields: Sequence[str], what: str, noun: str = "field") -> Entries:
    """The rows of a CSV file with a header, blank cells as None and blank rows skipped. Raises
    ConfigError on a header naming other than ``fields`` (``noun`` says what a header name is),
    a row with more cells than the header, or text that is not UTF-8 or not CSV; ``what`` names
    the file (``labels file``)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None:
                return []
            header = f"{what} {path}: header" if noun == "field" else f"{what} {path}"
            _check_fields([n.strip() for n in reader.fieldnames], fields, header, noun)
            out = []
            for row in reader:
                if None in row:  # more cells than the header names
                    raise ConfigError(
                        f"{path}, line {reader.line_num}: more cells than the header has fields"
                    )
                entry = {
                    k.strip(): (v.strip() if v is not None and v.strip() else None) for k, v in row.items()
                }
                if any(v is not None for v in entry.values()):
                    out.append((f"{path}, line {reader.line_num}", entry))
            return out
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ConfigError(f"{what} {path}: not valid CSV ({exc})") from None


def yaml_entries(path: Path, key: str, fields: Sequence[str], what: str) -> Entries:
    """The entries of a YAML file holding one list under ``key``, blank values as None."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: not valid YAML ({exc})".splitlines()[0]) from None
    if not isinstance(doc, dict) or set(doc) != {key} or not isinstance(doc[key], list):
        raise ConfigError(f"{what} {path}: expected a mapping with one key, '{key}', holding a list")
    out = []
    for i, entry in enumerate(doc[key]):
        where = f"{path}: {key}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping of field: value")
        _check_fields(list(entry), fields, where)
        out.append((where, {k: (None if v is None or str(v).strip() == "" else v) for k, v in entry.items()}))
    return out


def _check_fields(names: list[str], fields: Sequence[str], where: str, noun: str = "field") -> None:
    unknown = sorted(set(names) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown {noun}(s) {unknown}; expected {list(fields)}")


def _row(entry: dict[str, Any], where: str, types: dict[str, IncidentType]) -> dict[str, Any]:
    for name, (required, _) in FIELDS.items():
        if required and entry.get(name) is None:
            raise ConfigError(f"{where}: {name} is required ({FIELDS[name][1]})")
    kind_name = str(entry["type"]).strip()
    if kind_name not in types:
        raise ConfigError(
            f"{where}: type {kind_name!r} is not an incident type an installed model reads; "
            f"known: {sorted(types)}"
        )
    kind = types[kind_name]
    entity = str(entry["entity"]).strip()
    start, start_is_day = _instant(entry["start"], f"{where}: start")
    if entry.get("end") is None:
        end = start + dt.timedelta(days=1) if start_is_day else start + dt.timedelta(microseconds=1)
    else:
        end, end_is_day = _instant(entry["end"], f"{where}: end")
        end = end + dt.timedelta(days=1) if end_is_day else end  # a day is inclusive
        if end <= start:
            raise ConfigError(
                f"{where}: end must be on or after start, got {entry['end']!r} < {entry['start']!r}"
            )
    workspace = entry.get("workspace_id")
    workspace = str(workspace).strip() if workspace is not None else None
    if kind.entity_kind == "workspace":
        if workspace is not None and workspace != entity:
            raise ConfigError(
                f"{where}: workspace_id {workspace!r} differs from the workspace entity {entity!r}"
            )
        workspace = entity
    elif kind.entity_kind in NEEDS_WORKSPACE and workspace is None:
        raise ConfigError(
            f"{where}: workspace_id is required for a {kind.entity_kind} incident ({kind_name})"
        )
    severity = str(entry.get("severity") or "medium").strip().lower()
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}: severity must be one of {SEVERITIES}, got {entry['severity']!r}")
    given_id = entry.get("id")
    incident_id = (
        str(given_id).strip()
        if given_id is not None
        else "LBL-" + hashlib.sha1(f"{kind_name}|{entity}|{start.isoformat()}".encode()).hexdigest()[:12]
    )
    return {
        "incident_id": incident_id,
        "incident_type": kind_name,
        "domain": kind.domain,
        "entity_type": kind.entity_kind,
        "entity_id": entity,
        "workspace_id": workspace,
        "start_time": start,
        "end_time": end,
        "severity": severity,
        "description": str(entry["description"]) if entry.get("description") is not None else None,
    }


def _instant(value: Any, where: str) -> tuple[dt.datetime, bool]:
    """``value`` as a UTC instant, and whether it was a whole day (a date)."""
    if isinstance(value, dt.datetime):
        parsed, is_day = value, False
    elif isinstance(value, dt.date):
        parsed, is_day = dt.datetime.combine(value, dt.time()), True
    else:
        text = str(value).strip()
        try:
            if len(text) == 10:
                parsed, is_day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time()), True
            else:
                parsed, is_day = dt.datetime.fromisoformat(text.replace("Z", "+00:00")), False
        except ValueError:
            raise ConfigError(
                f"{where}: cannot read {value!r} as a day (YYYY-MM-DD) or an ISO 8601 instant"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc), is_day


@dataclass(frozen=True)
class ImportResult:
    table: str
    imported: int
    replaced: int  # rows of the table whose id the file held again
    kept: int  # rows of the table the import left as they were
    by_type: dict[str, int]
    models: tuple[str, ...]  # the models whose labels read the imported types


def import_labels(runtime: Any, host: Any, path: Path, *, replace: bool = False) -> ImportResult:
    """Check ``path`` and merge its incidents by id into ``<catalog>.ground_truth.incidents``
    (or, with ``replace``, make them the table's only rows), in one atomic write."""
    types = incident_types(host)
    new = read_labels_file(path, types)
    name = runtime.settings.ground_truth(TABLE)
    lakehouse = runtime.lakehouse
    old = None if replace or not lakehouse.exists(name) else lakehouse.read_arrow(name)
    replaced = kept = 0
    merged = new
    if old is not None:
        missing = [c for c in SCHEMA.names if c not in old.column_names]
        if missing:
            raise ConfigError(
                f"{name}: the table lacks column(s) {missing}; import with --replace to rebuild it"
            )
        old = old.select(SCHEMA.names).cast(SCHEMA)
        ids = set(new.column("incident_id").to_pylist())
        keep = [i not in ids for i in old.column("incident_id").to_pylist()]
        replaced = len(keep) - sum(keep)
        old = old.filter(pa.array(keep, pa.bool_()))
        kept = old.num_rows
        merged = pa.concat_tables([old, new])
    merged = merged.sort_by([("start_time", "ascending"), ("incident_id", "ascending")])
    info = lakehouse.write(
        name,
        merged,
        primary_keys=["incident_id"],
        description="Known incidents: the simulator's ground truth and/or the user's own labels "
        "(health-monitor labels import).",
        commit_info={"operation": "labels import", "file": str(path), "replace": replace},
    )
    if info.rows != merged.num_rows:  # a write never reports success for data it did not store
        raise RuntimeError(f"{name}: wrote {info.rows} rows, expected {merged.num_rows}")
    by_type = Counter(new.column("incident_type").to_pylist())
    models = sorted({m for t in by_type for m in types[t].models})
    return ImportResult(name, new.num_rows, replaced, kept, dict(sorted(by_type.items())), tuple(models))
