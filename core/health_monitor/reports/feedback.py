"""What the people who handled the findings said of them: true or false alarm.

``health-monitor labels import FILE`` takes, besides known incidents (system/labels.py), a file
of verdicts on findings::

    finding_id,verdict,by,note
    3f1c9a0b7d2e4c61,true,oncall@acme.com,phished; tokens revoked
    9a7e03d4c5b21f88,false,,a planned backfill

(or YAML: a list under ``feedback:``). Each verdict is kept in
``<catalog>.ground_truth.finding_feedback`` with the finding's models and entity, merged by
finding id (a later verdict on the same finding replaces the earlier one). ``evaluate`` then
shows, per model, how many of its judged findings were true alarms: the precision of its alarms
on this account, measured by its people rather than by a simulator.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from health_monitor.errors import ConfigError
from health_monitor.reports.findings import read_findings
from health_monitor.runtime import Runtime
from health_monitor.system.labels import csv_entries, yaml_entries

TABLE = "finding_feedback"
FIELDS = ("finding_id", "verdict", "by", "note")
TRUE_WORDS = ("true", "yes", "1", "tp", "true alarm")
FALSE_WORDS = ("false", "no", "0", "fp", "false alarm")
SCHEMA = pa.schema(
    [
        ("finding_id", pa.string()),
        ("verdict", pa.bool_()),
        ("models", pa.list_(pa.string())),
        ("entity_kind", pa.string()),
        ("entity_id", pa.string()),
        ("first_seen", pa.date32()),
        ("by", pa.string()),
        ("note", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


def is_feedback_file(path: Path) -> bool:
    """Whether ``path`` holds verdicts on findings (a ``finding_id`` column, or a ``feedback:``
    list) rather than known incidents. Unreadable files are left to the incident reader's
    errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if Path(path).suffix.lower() == ".csv":
        header = next(csv.reader(text.splitlines()[:1]), [])
        return "finding_id" in [h.strip() for h in header]
    return any(line.startswith("feedback:") for line in text.splitlines())


def _entries(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    """The file's verdicts, every value as stripped text (a YAML finding id may parse as a number)."""
    if path.suffix.lower() == ".csv":
        entries = csv_entries(path, FIELDS, "feedback file", noun="column")
    else:
        entries = yaml_entries(path, "feedback", FIELDS, "feedback file")
    return [(where, {k: None if v is None else str(v).strip() for k, v in e.items()}) for where, e in entries]


def _verdict(value: Any, where: str) -> bool:
    word = str(value).strip().lower() if value is not None else ""
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{where}: verdict must be true (a real problem) or false (a false alarm), got {value!r}"
    )


@dataclass(frozen=True)
class FeedbackResult:
    table: str
    imported: int
    replaced: int
    true_alarms: int
    false_alarms: int


def import_feedback(runtime: Runtime, path: Path, *, replace: bool = False) -> FeedbackResult:
    """Check the verdicts of ``path`` against the stored findings and merge them by finding id
    into ``<catalog>.ground_truth.finding_feedback`` in one atomic write; a bad row (an unknown
    finding, a verdict that is not true or false) refuses the whole file."""
    path = Path(path)
    entries = _entries(path)
    if not entries:
        raise ConfigError(f"feedback file {path}: no verdicts in it")
    findings = read_findings(runtime).set_index("finding_id")
    if findings.empty:
        raise ConfigError("no findings are stored yet (health-monitor findings): there is nothing to judge")
    now = dt.datetime.now(dt.timezone.utc)
    rows: list[dict[str, Any]] = []
    for where, entry in entries:
        finding = entry.get("finding_id")
        if not finding:
            raise ConfigError(f"{where}: finding_id is required")
        if finding not in findings.index:
            raise ConfigError(
                f"{where}: finding_id {finding!r} is not a stored finding (health-monitor findings --all --json lists them)"
            )
        if entry.get("verdict") is None:
            raise ConfigError(f"{where}: verdict is required (true or false)")
        stored = findings.loc[finding]
        rows.append(
            {
                "finding_id": finding,
                "verdict": _verdict(entry["verdict"], where),
                "models": list(stored["models"]),
                "entity_kind": stored["entity_kind"],
                "entity_id": stored["entity_id"],
                "first_seen": stored["first_seen"],
                "by": entry.get("by"),
                "note": entry.get("note"),
                "recorded_at": now,
            }
        )
    twice = sorted(i for i, n in Counter(r["finding_id"] for r in rows).items() if n > 1)
    if twice:
        raise ConfigError(f"feedback file {path}: finding(s) {twice[:5]} judged more than once")
    new = pa.Table.from_pylist(rows, schema=SCHEMA)
    name = runtime.settings.ground_truth(TABLE)
    lakehouse = runtime.lakehouse
    replaced = 0
    merged = new
    if not replace and lakehouse.exists(name):
        old = lakehouse.read_arrow(name).select(SCHEMA.names).cast(SCHEMA)
        ids = set(new.column("finding_id").to_pylist())
        keep = [i not in ids for i in old.column("finding_id").to_pylist()]
        replaced = len(keep) - sum(keep)
        merged = pa.concat_tables([old.filter(pa.array(keep, pa.bool_())), new])
    info = lakehouse.write(
        name,
        merged,
        primary_keys=["finding_id"],
        description="Verdicts on findings by the people who handled them (health-monitor labels import).",
        commit_info={"operation": "labels import", "file": str(path), "replace": replace},
    )
    if info.rows != merged.num_rows:
        raise RuntimeError(f"{name}: wrote {info.rows} rows, expected {merged.num_rows}")
    true_alarms = sum(r["verdict"] for r in rows)
    return FeedbackResult(name, len(rows), replaced, true_alarms, len(rows) - true_alarms)


def feedback_by_model(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Per model, the verdicts on the findings it signalled: ``{"true_alarms", "false_alarms",
    "precision"}``; {} when nobody judged a finding yet."""
    name = runtime.settings.ground_truth(TABLE)
    if not runtime.lakehouse.exists(name):
        return {}
    table = runtime.lakehouse.read_arrow(name, columns=["verdict", "models"]).to_pylist()
    counts: dict[str, Counter] = {}
    for row in table:
        for model in row["models"] or []:
            counts.setdefault(model, Counter())[bool(row["verdict"])] += 1
    return {
        model: {
            "true_alarms": c[True],
            "false_alarms": c[False],
            "precision": c[True] / (c[True] + c[False]),
        }
        for model, c in sorted(counts.items())
    }
