"""The two inputs no system table holds: spend commitments and job SLAs, in one user-edited file.

The file is YAML (``account.yaml`` in the home by default; ``--account-file`` or
``HEALTH_MONITOR_ACCOUNT_FILE`` to use another)::

    commitments:                      # the contract and monthly budgets (commit_configurations)
      - commit_id: contract-2025
        commit_type: ACCOUNT_COMMIT   # or WORKSPACE_MONTHLY_BUDGET (then workspace_id is set)
        workspace_id: null
        period_start: 2025-01-01
        period_end: 2025-12-31        # inclusive
        commit_amount_usd: 1200000
        discount_pct: 12              # the contract discount, 0-100, applied to every SKU
        currency_code: USD
    job_slas:                         # the service level agreed per job (dim_job_sla)
      - workspace_id: "1234567890123456"
        job_id: "987654321"
        sla_duration_seconds: 3600
        sla_end_hour_utc: 6           # deadline hour for daily jobs, or null
        sla_owner: data-eng@acme-corp.com

Both lists may be empty or absent: without commitments costs are list costs (no discount) and the
budget models have no budget; without SLAs the SLA model has no labels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from health_monitor.errors import ConfigError

# column -> (type, required)
_COMMITMENT_FIELDS: dict[str, tuple[str, bool]] = {
    "commit_id": ("string", True),
    "account_id": ("string", False),
    "workspace_id": ("string", False),
    "commit_type": ("string", True),
    "period_start": ("date", True),
    "period_end": ("date", True),
    "commit_amount_usd": ("double", True),
    "discount_pct": ("double", True),
    "currency_code": ("string", False),
}
_SLA_FIELDS: dict[str, tuple[str, bool]] = {
    "workspace_id": ("string", True),
    "job_id": ("string", True),
    "sla_duration_seconds": ("bigint", True),
    "sla_end_hour_utc": ("int", False),
    "sla_owner": ("string", True),
}
COMMITMENT_COLUMNS = tuple(_COMMITMENT_FIELDS)
COMMIT_TYPES = ("ACCOUNT_COMMIT", "WORKSPACE_MONTHLY_BUDGET")
_ARROW = {
    "string": pa.string(),
    "date": pa.date32(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "int": pa.int32(),
}


@dataclass(frozen=True)
class AccountInputs:
    """The parsed file: ``commitments`` and ``job_slas`` as Arrow tables (possibly empty)."""

    commitments: pa.Table
    job_slas: pa.Table
    source: str = "(none)"

    @classmethod
    def empty(cls) -> AccountInputs:
        return cls(
            entries_table([], _COMMITMENT_FIELDS, "commitments"), entries_table([], _SLA_FIELDS, "job_slas")
        )

    def to_yaml(self) -> str:
        import yaml

        def rows(table: pa.Table) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]

        header = (
            "# health-monitor account inputs: what no system table holds. Edit and rerun `health-monitor gold`.\n"
            "# Format: docs/gold-contract.md#account-inputs\n"
        )
        body = {"commitments": rows(self.commitments), "job_slas": rows(self.job_slas)}
        return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        tmp.replace(path)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def read_account_inputs(path: Path | None) -> AccountInputs:
    """Parse the file; a missing file means no commitments and no SLAs. Raises ConfigError
    naming the file, the entry and the field on bad input."""
    if path is None or not Path(path).exists():
        return AccountInputs.empty()
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"account file {path}: not valid YAML ({exc})".splitlines()[0]) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"account file {path}: expected a mapping with 'commitments' and 'job_slas'")
    unknown = sorted(set(doc) - {"commitments", "job_slas"})
    if unknown:
        raise ConfigError(
            f"account file {path}: unknown section(s) {unknown}; expected commitments, job_slas"
        )
    commitments = entries_table(doc.get("commitments") or [], _COMMITMENT_FIELDS, f"{path}: commitments")
    for i, kind in enumerate(commitments.column("commit_type").to_pylist()):
        if kind not in COMMIT_TYPES:
            raise ConfigError(
                f"{path}: commitments[{i}].commit_type must be one of {COMMIT_TYPES}, got {kind!r}"
            )
    slas = entries_table(doc.get("job_slas") or [], _SLA_FIELDS, f"{path}: job_slas")
    check_values(commitments, _COMMITMENT_RULES, f"{path}: commitments")
    check_values(slas, _SLA_RULES, f"{path}: job_slas")
    return AccountInputs(commitments, slas, str(path))


# Value rules of the account file: a person wrote it, so a bad value refuses the file.
_COMMITMENT_RULES: tuple[tuple[str, str, Any], ...] = (
    ("discount_pct", "between 0 and 100", lambda r: 0 <= r["discount_pct"] <= 100),
    ("commit_amount_usd", "a positive, finite amount", lambda r: 0 < r["commit_amount_usd"] < float("inf")),
    ("period_end", "on or after period_start", lambda r: r["period_end"] >= r["period_start"]),
)
_SLA_RULES: tuple[tuple[str, str, Any], ...] = (
    ("sla_duration_seconds", "a positive number of seconds", lambda r: r["sla_duration_seconds"] > 0),
    (
        "sla_end_hour_utc",
        "an hour from 0 to 23",
        lambda r: r["sla_end_hour_utc"] is None or 0 <= r["sla_end_hour_utc"] <= 23,
    ),
)


def check_values(table: pa.Table, rules, where: str) -> None:
    for i, row in enumerate(table.to_pylist()):
        for column, expected, ok in rules:
            if not ok(row):
                raise ConfigError(f"{where}[{i}].{column} must be {expected}, got {row[column]!r}")


def entries_table(entries: Any, fields: dict[str, tuple[str, bool]], where: str) -> pa.Table:
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: expected a list of entries")
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}[{i}]: expected a mapping of field: value")
        unknown = sorted(set(entry) - set(fields))
        if unknown:
            raise ConfigError(f"{where}[{i}]: unknown field(s) {unknown}; expected {list(fields)}")
        for name, (type_, required) in fields.items():
            value = entry.get(name)
            if value is None:
                if required:
                    raise ConfigError(f"{where}[{i}].{name} is required")
                columns[name].append(None)
                continue
            columns[name].append(_coerce(value, type_, f"{where}[{i}].{name}"))
    return pa.table(
        {name: pa.array(values, type=_ARROW[fields[name][0]]) for name, values in columns.items()}
    )


def _coerce(value: Any, type_: str, where: str) -> Any:
    try:
        if type_ == "string":
            return str(value)
        if type_ == "date":
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if type_ == "double":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: cannot read {value!r} as {type_}") from None
