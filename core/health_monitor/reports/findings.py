"""Findings: what needs attention today, from every model's latest predictions.

A plugin declares, per model, when a prediction is a finding (:class:`~health_monitor.sdk.specs.
FindingRule`, the ``register_findings`` hook). :func:`update_findings` then

1. reads each model's latest day of predictions (Arrow, filtered to that day while reading);
2. evaluates its rule on those rows: the flagged rows become *signals* (model, entity, severity,
   score, reason, action), each reason followed by the prediction's top features when the
   champion can explain it;
3. merges the signals about one entity (kind and id) into one finding: severity is the highest
   signal's, the reasons are listed per signal;
4. merges the day's findings with ``<catalog>.ml.findings``: an entity flagged again keeps its
   open finding (same id, ``last_seen`` moves on); a newly flagged entity opens a finding whose id
   is a hash of its kind, id and first day; an open finding whose entity is no longer flagged is
   ``resolved``. An entity flagged again after it was resolved opens a new episode (a new id), so
   it is announced again. The table is written (atomically) only when something changed: a second
   update on the same predictions writes nothing.

Stored text (user e-mails, table and team names) is cleaned before it is kept or printed
(:mod:`health_monitor.untrusted`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.errors import SchemaError
from health_monitor.featurestore import FeatureSpec
from health_monitor.host import Host
from health_monitor.lakehouse import Lakehouse
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import SEVERITIES, FindingRule, Model
from health_monitor.untrusted import MAX_MESSAGE, clean_text, message

log = logging.getLogger(__name__)

FINDINGS_TABLE = "findings"
OPEN, RESOLVED = "open", "resolved"
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
TOP_DRIVERS = 3  # features of the explanation appended to a signal's reason

SCHEMA = pa.schema(
    [
        ("finding_id", pa.string()),
        ("entity_kind", pa.string()),
        ("entity_id", pa.string()),
        ("state", pa.string()),
        ("severity", pa.string()),
        ("score", pa.float64()),
        ("domains", pa.list_(pa.string())),
        ("models", pa.list_(pa.string())),
        ("reason", pa.string()),
        ("action", pa.string()),
        ("signals", pa.string()),  # JSON: one object per model that flagged the entity
        ("first_seen", pa.date32()),
        ("last_seen", pa.date32()),
        ("resolved_on", pa.date32()),
    ]
)
COLUMNS = SCHEMA.names
SIGNAL_COLUMNS = [
    "model",
    "domain",
    "day",
    "entity_kind",
    "entity_id",
    "severity",
    "score",
    "reason",
    "action",
]

if TYPE_CHECKING:
    from health_monitor.serving.scoring import Champions


@dataclass
class FindingsReport:
    """What one update found. ``findings`` are today's open findings, ranked (severity, then
    score), as JSON-ready dicts; ``opened``/``resolved`` are the ids that changed state."""

    as_of: dt.date | None
    findings: list[dict[str, Any]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    written: bool = False  # False when the stored table already said the same
    errors: dict[str, str] = field(default_factory=dict)  # model -> why its rule could not run
    days: dict[str, str] = field(default_factory=dict)  # model -> the latest day judged


def findings_table(runtime: Runtime) -> str:
    s = runtime.settings
    return f"{s.catalog}.{s.schemas.ml}.{FINDINGS_TABLE}"


# -- 1. the latest day of a model's predictions -------------------------------------------------


def latest_rows(runtime: Runtime, spec: Model, rule: FindingRule | None = None) -> pd.DataFrame:
    """The prediction rows of the model's latest day (of its ``time_column``; with
    ``rule.judged``, the latest day that has rows where that column is set). Only that day is
    read: the time column first, then the day's rows through a filter."""
    table = runtime.settings.predictions(spec.name)
    if not runtime.lakehouse.exists(table):
        return pd.DataFrame()
    time = spec.time_column
    judged = rule.judged if rule is not None else None
    times = runtime.lakehouse.read_arrow(table, columns=[time] + ([judged] if judged else []))
    column = times[time]
    if judged:
        column = column.filter(pc.is_valid(times[judged]))
    latest = pc.max(column).as_py() if len(column) else None
    if latest is None:
        return pd.DataFrame()
    if isinstance(latest, dt.datetime):
        start = latest.replace(hour=0, minute=0, second=0, microsecond=0)
        filters = [(time, ">=", start), (time, "<", start + dt.timedelta(days=1))]
    else:
        filters = [(time, "=", latest)]
    rows = runtime.lakehouse.read_arrow(table, filters=filters).to_pandas()
    if judged:
        rows = rows[rows[judged].notna()]
    return rows.reset_index(drop=True)


def day_of(value: Any) -> dt.date:
    stamp = pd.Timestamp(value)
    return stamp.date()


# -- 2. a rule on the day's rows -> signals -------------------------------------------------------


def _per_row(value: Any, rows: pd.DataFrame, what: str) -> pd.Series:
    if callable(value):
        out = value(rows)
        if np.ndim(out) == 0:
            return pd.Series([out] * len(rows), index=rows.index)
        out = pd.Series(np.asarray(out, dtype=object) if not isinstance(out, pd.Series) else out.to_numpy())
        if len(out) != len(rows):
            raise SchemaError(f"{what} returned {len(out)} values for {len(rows)} rows")
        out.index = rows.index
        return out
    if isinstance(value, str) and what.endswith("score") and value in rows.columns:
        return rows[value]
    return pd.Series([value] * len(rows), index=rows.index, dtype=object)


def _default_score(rows: pd.DataFrame) -> pd.Series:
    for column in ("anomaly_score", "probability"):
        if column in rows.columns:
            return rows[column]
    return pd.Series(1.0, index=rows.index)


def evaluate_rule(spec: Model, rule: FindingRule, rows: pd.DataFrame) -> pd.DataFrame:
    """The signals of one model's rows: one row per flagged prediction, columns
    :data:`SIGNAL_COLUMNS` plus ``base`` (the prediction's base columns, for explanations)."""
    what = f"finding rule of {spec.name}"
    if rows.empty:
        return pd.DataFrame(columns=[*SIGNAL_COLUMNS, "base"])
    needed = list(dict.fromkeys([*rule.entity, *rule.columns, *rule.references, spec.time_column]))
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise SchemaError(
            f"{what}: the predictions have no column(s) {missing}; they have {sorted(rows.columns)}"
        )
    mask = pd.Series(rule.when(rows)).to_numpy()
    if len(mask) != len(rows):
        raise SchemaError(f"{what}: when returned {len(mask)} values for {len(rows)} rows")
    flagged = rows[pd.Series(mask).fillna(False).to_numpy(dtype=bool)]
    if flagged.empty:
        return pd.DataFrame(columns=[*SIGNAL_COLUMNS, "base"])
    severity = _per_row(rule.severity, flagged, f"{what}: severity").astype(str)
    unknown = sorted(set(severity) - set(SEVERITIES))
    if unknown:
        raise SchemaError(f"{what}: severity must be one of {SEVERITIES}, got {unknown}")
    score = _default_score(flagged) if rule.score is None else _per_row(rule.score, flagged, f"{what}: score")
    entity = flagged[list(rule.entity)].astype(str).agg("/".join, axis=1)
    signals = pd.DataFrame(
        {
            "model": spec.name,
            "domain": spec.domain,
            "day": [day_of(v) for v in flagged[spec.time_column]],
            "entity_kind": _per_row(rule.entity_kind, flagged, f"{what}: entity_kind").astype(str),
            "entity_id": entity,
            "severity": severity,
            "score": pd.to_numeric(score, errors="coerce").fillna(0.0).astype(float),
            "reason": _per_row(rule.reason, flagged, f"{what}: reason").astype(str),
            "action": _per_row(rule.action, flagged, f"{what}: action").astype(str),
            "base": flagged[[c for c in _base_columns(spec) if c in flagged.columns]].to_dict("records"),
        },
        index=flagged.index,
    )
    signals["rank"] = signals["severity"].map(SEVERITY_RANK)
    signals = signals.sort_values(["rank", "score"], ascending=False, kind="stable").drop(columns="rank")
    if rule.max_per_day is not None and len(signals) > rule.max_per_day:
        # A person reads the strongest few; the reason says how many more the model flagged.
        flagged_count = len(signals)
        signals = signals.head(rule.max_per_day).copy()
        signals["reason"] = signals["reason"] + (
            f" (one of the {rule.max_per_day} strongest of {flagged_count} flagged that day)"
        )
    # Several rows about one entity (a job's failed runs): its strongest signal speaks for it.
    signals = signals.drop_duplicates(["entity_kind", "entity_id"])
    return signals.reset_index(drop=True)


def collect_signals(
    runtime: Runtime, host: Host, explain: bool = True
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """Every rule on its model's latest day: (signals, the day judged per model, errors per model).
    A rule that raises is reported by model; the others go on."""
    frames, days, errors = [], {}, {}
    explainer = _Explainer(runtime, host) if explain else None
    for model, owned in sorted(host.findings.items()):
        spec, rule = host.models[model].spec, owned.spec
        try:
            rows = latest_rows(runtime, spec, rule)
            if rows.empty:
                continue
            days[model] = day_of(rows[spec.time_column].max()).isoformat()
            signals = evaluate_rule(spec, rule, rows)
        except Exception as exc:
            errors[model] = message(f"{type(exc).__name__}: {exc}")
            log.warning("finding rule of %s failed: %s", model, errors[model])
            continue
        if signals.empty:
            continue
        if explainer is not None:
            signals["reason"] = explainer.with_drivers(spec, signals)
        frames.append(signals.drop(columns="base"))
    if not frames:
        return pd.DataFrame(columns=SIGNAL_COLUMNS), days, errors
    return pd.concat(frames, ignore_index=True), days, errors


class _Explainer:
    """Appends the top features of each flagged prediction to its reason, in words: the
    feature, its value and its typical value (the median over the model's training rows). Best effort: a model that
    cannot be loaded or explained keeps its rule's reason alone."""

    def __init__(self, runtime: Runtime, host: Host):
        import os

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in a report
        self.runtime, self.host = runtime, host
        self._champions: Champions | None = None

    def with_drivers(self, spec: Model, signals: pd.DataFrame) -> list[str]:
        reasons = list(signals["reason"])
        try:
            from health_monitor.models.explain import contributions
            from health_monitor.serving.online import OnlineStore

            if self._champions is None:
                from health_monitor.serving.scoring import Champions

                self._champions = Champions(self.runtime, self.host)
            champion = self._champions.get(spec.name)
            # Only the flagged entities' rows of the tables the champion looks up, not whole tables.
            read = rows_reader(self.runtime.lakehouse, champion.feature_spec, signals["base"])
            self._champions.store = OnlineStore(self.runtime.lakehouse, read=read)
            medians = getattr(champion.model, "medians", {})
            for i, base in enumerate(signals["base"]):
                _, found = contributions(self._champions, spec.name, base, TOP_DRIVERS)
                drivers = [_driver(c, medians.get(c.feature)) for c in found if c.weight]
                if drivers:
                    reasons[i] = f"{reasons[i]}; drivers: {', '.join(drivers)}"
        except Exception as exc:  # the rule's reason stands on its own
            log.info("no explanation for %s findings: %s", spec.name, exc)
        return reasons


def rows_reader(
    lakehouse: Lakehouse, spec: FeatureSpec, bases: Iterable[Mapping[str, Any]]
) -> Callable[[str], pa.Table]:
    """Reads, of a table ``spec`` looks up, only the rows the base rows ``bases`` join: those whose
    equality key columns each hold one of the bases' values, compared as text as the online store
    compares them (each column is read alone, and its typed values whose text is wanted are the
    filter). A table looked up on different columns is restricted on the columns they share."""
    from health_monitor.serving.online import as_text, equality_keys

    bases, wanted = list(bases), dict[str, dict[str, set[str]]]()
    for lookup in spec.lookups:
        columns = equality_keys(lakehouse.describe(lookup.table_name), lookup)
        these = {tk: {str(b[bk]) for b in bases} for tk, bk in zip(columns, lookup.keys, strict=True)}
        seen = wanted.setdefault(lookup.table_name, these)
        wanted[lookup.table_name] = {c: seen[c] | these[c] for c in seen if c in these}

    def read(name: str) -> pa.Table:
        filters = []
        for column, texts in wanted.get(name, {}).items():
            typed = lakehouse.read_arrow(name, columns=[column]).column(column)
            keep = pd.Series(as_text(typed.to_pandas())).isin(texts).to_numpy()
            chosen = pc.unique(typed.filter(pa.array(keep, pa.bool_()))).to_pylist()
            if not chosen:  # no row: the schema, from the rows of one value (Arrow refuses `in []`)
                some = typed.drop_null()[:1].to_pylist()
                return lakehouse.read_arrow(name, filters=[(column, "in", some)] if some else None)[:0]
            filters.append((column, "in", chosen))
        return lakehouse.read_arrow(name, filters=filters or None)

    return read


def _base_columns(spec: Model) -> list[str]:
    """The columns scoring (and so explaining) needs: keys, time column, lookup keys."""
    cols = [*spec.keys, spec.time_column]
    for lk in spec.lookups:
        cols += [*lk.lookup_key, *([lk.timestamp_lookup_key] if lk.timestamp_lookup_key else [])]
    return list(dict.fromkeys(cols))


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    value = float(value)
    if value == int(value) and abs(value) < 1e6:
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _driver(contribution, usual: float | None) -> str:
    words = contribution.feature.replace("_", " ")
    typical = f" (typical {_number(usual)})" if usual is not None else ""
    return f"{words} {_number(contribution.value)}{typical}"


# -- 3. signals about one entity -> one finding ---------------------------------------------------


def merge_signals(signals: pd.DataFrame) -> pd.DataFrame:
    """One row per entity (kind, id): its signals (JSON), severity (the highest), score (the
    highest), domains, models, reasons listed per signal, actions de-duplicated, first and last day."""
    if signals.empty:
        return pd.DataFrame(
            columns=[
                "entity_kind",
                "entity_id",
                "severity",
                "score",
                "domains",
                "models",
                "reason",
                "action",
                "signals",
                "first_day",
                "last_day",
            ]
        )
    ordered = signals.assign(rank=signals["severity"].map(SEVERITY_RANK)).sort_values(
        ["rank", "score", "model"], ascending=[False, False, True], kind="stable"
    )
    out = []
    for (kind, entity), group in ordered.groupby(["entity_kind", "entity_id"], sort=True):
        top = group.iloc[0]
        out.append(
            {
                "entity_kind": kind,
                "entity_id": entity,
                "severity": top["severity"],
                "score": float(top["score"]),
                "domains": sorted(set(group["domain"])),
                "models": list(group["model"]),
                "reason": "; ".join(
                    f"{m}: {r}" for m, r in zip(group["model"], group["reason"], strict=True)
                ),
                "action": "; ".join(dict.fromkeys(group["action"])),
                "signals": json.dumps(
                    [
                        {
                            "model": s["model"],
                            "domain": s["domain"],
                            "day": s["day"].isoformat(),
                            "severity": s["severity"],
                            "score": round(float(s["score"]), 6),
                            "reason": s["reason"],
                            "action": s["action"],
                        }
                        for s in group.to_dict("records")
                    ],
                    sort_keys=True,
                ),
                "first_day": min(group["day"]),
                "last_day": max(group["day"]),
            }
        )
    return pd.DataFrame(out)


def finding_id(kind: str, entity: str, first_seen: dt.date) -> str:
    """Stable across runs: the entity and the first day of its episode."""
    text = f"{kind}\x1f{entity}\x1f{first_seen.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- 4. today's findings against the stored ones --------------------------------------------------


def _clean_findings(today: pd.DataFrame) -> pd.DataFrame:
    today = today.copy()
    for column in ("entity_kind", "entity_id", "action"):
        today[column] = today[column].map(clean_text)
    today["reason"] = today["reason"].map(lambda t: clean_text(t, MAX_MESSAGE))
    today["signals"] = today["signals"].map(lambda t: json.dumps(_clean_json(json.loads(t)), sort_keys=True))
    return today


def _clean_json(value: Any) -> Any:
    from health_monitor.untrusted import clean

    return clean(value, MAX_MESSAGE)


def reconcile(stored: pd.DataFrame, today: pd.DataFrame, as_of: dt.date) -> tuple[pd.DataFrame, list, list]:
    """The findings table after today: (rows, opened ids, resolved ids)."""
    stored = stored.copy() if not stored.empty else pd.DataFrame(columns=COLUMNS)
    open_by_entity = {
        (k, e): i
        for i, (k, e, s) in enumerate(
            zip(stored["entity_kind"], stored["entity_id"], stored["state"], strict=True)
        )
        if s == OPEN
    }
    rows = cast(list[dict[str, Any]], stored.to_dict("records"))
    by_id = {r["finding_id"]: i for i, r in enumerate(rows)}
    opened, resolved, flagged = [], [], set()
    for f in today.to_dict("records"):
        key = (f["entity_kind"], f["entity_id"])
        flagged.add(key)
        fields = {c: f[c] for c in ("severity", "score", "domains", "models", "reason", "action", "signals")}
        if key in open_by_entity:
            kept = rows[open_by_entity[key]]
            kept.update(fields, last_seen=max(kept["last_seen"], f["last_day"]))
            continue
        fid = finding_id(key[0], key[1], f["first_day"])
        row: dict[str, Any] = {
            "finding_id": fid,
            "entity_kind": key[0],
            "entity_id": key[1],
            "state": OPEN,
            **fields,
            "first_seen": f["first_day"],
            "last_seen": f["last_day"],
            "resolved_on": None,
        }
        if fid in by_id:  # the same episode, resolved earlier on the same data: reopen it
            rows[by_id[fid]].update(row)
        else:
            by_id[fid] = len(rows)
            rows.append(row)
        opened.append(fid)
    for key, i in open_by_entity.items():
        if key not in flagged:
            rows[i].update(state=RESOLVED, resolved_on=as_of)
            resolved.append(rows[i]["finding_id"])
    return pd.DataFrame(rows, columns=COLUMNS), opened, resolved


def read_findings(runtime: Runtime, state: str | None = None) -> pd.DataFrame:
    """The stored findings (empty when none were ever written); with ``state``, only those in
    it, filtered while reading (resolved findings accumulate, open ones do not)."""
    table = findings_table(runtime)
    if not runtime.lakehouse.exists(table):
        return pd.DataFrame(columns=COLUMNS)
    filters = [("state", "=", state)] if state is not None else None
    frame = runtime.lakehouse.read_arrow(table, filters=filters).to_pandas()
    for column in ("first_seen", "last_seen", "resolved_on"):
        frame[column] = [None if pd.isna(v) else day_of(v) for v in frame[column]]
    for column in ("domains", "models"):
        frame[column] = [list(v) if v is not None else [] for v in frame[column]]
    return frame


def _comparable(frame: pd.DataFrame) -> list[tuple]:
    """The rows as sorted tuples, lists as tuples and missing values as None: equal when the
    table would not change."""

    def plain(v: Any) -> Any:
        if isinstance(v, list | tuple | np.ndarray):
            return tuple(v)
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else v

    return sorted(tuple(plain(v) for v in r.values()) for r in frame[COLUMNS].to_dict("records"))


def update_findings(runtime: Runtime, host: Host, explain: bool = True) -> FindingsReport:
    """Evaluate every finding rule on its model's latest predictions, merge with the stored
    findings and write ``<catalog>.ml.findings`` if anything changed. Call it after ``infer``
    (the daily run does); it reads predictions only, never trains or scores."""
    signals, days, errors = collect_signals(runtime, host, explain=explain)
    as_of = max((dt.date.fromisoformat(d) for d in days.values()), default=None)
    today = _clean_findings(merge_signals(signals)) if not signals.empty else merge_signals(signals)
    stored = read_findings(runtime)
    report = FindingsReport(as_of=as_of, errors=errors, days=days)
    if as_of is None and stored.empty:
        return report
    updated, report.opened, report.resolved = reconcile(stored, today, as_of or dt.date.today())
    if stored.empty or _comparable(updated) != _comparable(stored):
        table = pa.Table.from_pandas(updated[COLUMNS], schema=SCHEMA, preserve_index=False)
        runtime.lakehouse.write(
            findings_table(runtime),
            table,
            primary_keys=["finding_id"],
            description="What needs attention: findings merged per entity from the models' latest predictions",
        )
        report.written = True
    report.findings = ranked(updated)
    return report


# -- reading and printing -------------------------------------------------------------------------


def ranked(
    frame: pd.DataFrame,
    *,
    include_resolved: bool = False,
    domain: str | None = None,
    since: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Findings as JSON-ready dicts, highest severity first, then score; open ones unless
    ``include_resolved``; ``domain`` and ``since`` (``last_seen`` on or after) filter."""
    if frame.empty:
        return []
    keep = np.ones(len(frame), dtype=bool)
    if not include_resolved:
        keep &= (frame["state"] == OPEN).to_numpy()
    if domain is not None:
        keep &= np.array([domain in d for d in frame["domains"]], dtype=bool)
    if since is not None:
        keep &= np.array([v is not None and v >= since for v in frame["last_seen"]], dtype=bool)
    chosen = frame[keep]
    if chosen.empty:
        return []
    chosen = chosen.assign(rank=chosen["severity"].map(SEVERITY_RANK))
    chosen = chosen.sort_values(
        ["state", "rank", "score", "entity_kind", "entity_id"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    out: list[dict[str, Any]] = []
    records = cast(list[dict[str, Any]], chosen.drop(columns="rank").to_dict("records"))
    for r in records:
        r["signals"] = json.loads(r["signals"]) if r["signals"] else []
        for column in ("first_seen", "last_seen", "resolved_on"):
            r[column] = r[column].isoformat() if r[column] is not None else None
        r["domains"], r["models"] = list(r["domains"]), list(r["models"])
        out.append(r)
    return out


def finding_lines(findings: list[dict[str, Any]], limit: int | None = None) -> list[str]:
    """Readable lines: one header per finding, then a line per signal and the action."""
    lines = []
    for f in findings[:limit]:
        since = f"since {f['first_seen']}" + (
            f", resolved {f['resolved_on']}" if f["state"] == RESOLVED else ""
        )
        signals = f["signals"]
        lines.append(
            f"  [{f['severity'].upper()}] {f['entity_kind']} {f['entity_id']!r}  "
            f"({', '.join(f['domains'])}; {len(signals)} signal{'s' if len(signals) != 1 else ''}; {since}; "
            f"id {f['finding_id']})"
        )
        for s in signals:
            lines.append(f"      {s['model']} [{s['severity']}]: {s['reason']}")
        lines.append(f"      action: {f['action']}")
    if limit is not None and len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more (health-monitor findings)")
    return lines
