"""What the report shows, read from the home: stored findings, each model's recent predictions
(its finding rule over every day of the window, the series of its top entity), its champion's
training run and the drift since training.

Reads go through the lakehouse's Arrow reader, filtered to the window while reading; nothing is
collected through Spark and nothing is written. The domains and models are the loaded host's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from health_monitor.host import Host
from health_monitor.models.drift import OUTPUT_COLUMN, Drift, model_drift, time_bound
from health_monitor.models.scorecards import scorecards
from health_monitor.registry import CHALLENGER, CHAMPION
from health_monitor.reports.findings import RESOLVED, ranked, read_findings
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import FindingRule, Model, ProblemType
from health_monitor.untrusted import clean_text, message

log = logging.getLogger(__name__)

WINDOW_DAYS = 90  # days of predictions shown, ending on each model's latest day


@dataclass
class Series:
    """One entity's daily series of a model's output: mean per day of the output column, its
    P10-P90 band (regressions) and whether the rule flagged it that day."""

    entity_kind: str
    entity_id: str
    column: str
    days: list[dt.date]
    values: list[float | None]
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    flagged: list[bool] = field(default_factory=list)
    references: dict[str, list[float | None]] = field(default_factory=dict)  # the rule's reference lines


@dataclass
class ModelSection:
    name: str
    domain: str
    problem_type: str
    plugin: str
    description: str
    card: dict[str, Any]
    trained_at: str | None = None
    has_rule: bool = False
    flagged: dict[dt.date, int] = field(default_factory=dict)  # entities flagged per day
    latest_day: dt.date | None = None
    series: Series | None = None
    signals: list[dict[str, Any]] = field(default_factory=list)  # open findings' signals of this model
    drift: Drift = field(default_factory=Drift)
    error: str = ""


@dataclass
class ReportData:
    generated_at: dt.datetime
    findings: list[dict[str, Any]]  # open, ranked
    resolved: int
    models: list[ModelSection]
    domains: list[str]
    catalog: str

    @property
    def as_of(self) -> dt.date | None:
        return max((m.latest_day for m in self.models if m.latest_day), default=None)


def _days(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    return stamps.dt.tz_localize(None).dt.normalize().dt.date


def window_rows(runtime: Runtime, spec: Model) -> pd.DataFrame:
    """The model's prediction rows of its latest ``WINDOW_DAYS`` days (filtered while reading).
    Every column is read: a rule's functions may read any prediction column, and a prediction
    table has a few dozen at most."""
    table = runtime.settings.predictions(spec.name)
    if not runtime.lakehouse.exists(table):
        return pd.DataFrame()
    time = spec.time_column
    times = runtime.lakehouse.read_arrow(table, columns=[time])[time]
    latest = pc.max(times).as_py()
    if latest is None:
        return pd.DataFrame()
    start = pd.Timestamp(latest).tz_localize(None).normalize() - pd.Timedelta(days=WINDOW_DAYS - 1)
    bound = time_bound(times.type, start.to_pydatetime())
    rows = runtime.lakehouse.read_arrow(table, filters=[(time, ">=", bound)]).to_pandas()
    rows["_day"] = _days(rows[time])
    return rows


def _entity(rows: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    return rows[list(columns)].astype(str).agg("/".join, axis=1)


def _flags(rule: FindingRule, rows: pd.DataFrame) -> pd.Series:
    """The rule's ``when`` over every row of the window (rows not judged are not flagged)."""
    judged = rows[rule.judged].notna() if rule.judged else pd.Series(True, index=rows.index)
    mask = pd.Series(np.asarray(rule.when(rows)), index=rows.index).fillna(False).astype(bool)
    return mask & judged


def _series(
    spec: Model,
    rows: pd.DataFrame,
    entity: pd.Series,
    chosen: str,
    flags: pd.Series,
    kind: str,
    references: tuple[str, ...] = (),
) -> Series:
    column = OUTPUT_COLUMN[spec.problem_type]
    mine = rows[entity == chosen]
    band = spec.problem_type is ProblemType.REGRESSION and {"prediction_p10", "prediction_p90"} <= set(rows)
    references = tuple(r for r in references if r in rows.columns and r != column)
    columns = [column] + (["prediction_p10", "prediction_p90"] if band else []) + list(references)
    numbers = mine[columns].apply(pd.to_numeric, errors="coerce")
    numbers["_flag"] = flags.loc[mine.index]
    daily = numbers.groupby(mine["_day"]).agg({**{c: "mean" for c in columns}, "_flag": "any"}).sort_index()

    def listed(name: str) -> list[float | None]:
        return [None if pd.isna(v) else float(v) for v in daily[name]]

    return Series(
        entity_kind=kind,
        entity_id=clean_text(chosen),
        column=column,
        days=list(daily.index),
        values=listed(column),
        low=listed("prediction_p10") if band else None,
        high=listed("prediction_p90") if band else None,
        flagged=[bool(v) for v in daily["_flag"]],
        references={r: listed(r) for r in references},
    )


def _trained_at(runtime: Runtime, spec: Model) -> str | None:
    name = runtime.settings.registered_model(spec.name)
    version = runtime.registry.version_by_alias(name, CHAMPION) or runtime.registry.version_by_alias(
        name, CHALLENGER
    )
    if version is None or version.created_ms is None:
        return None
    return dt.datetime.fromtimestamp(version.created_ms / 1000, tz=dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def model_section(
    runtime: Runtime, host: Host, name: str, card: dict[str, Any], findings: list[dict[str, Any]]
) -> ModelSection:
    owned = host.models[name]
    spec = owned.spec
    section = ModelSection(
        name=name,
        domain=spec.domain,
        problem_type=spec.problem_type.value,
        plugin=owned.plugin.distribution or owned.plugin.name,
        description=spec.description or "",
        card=card,
    )
    for f in findings:
        for s in f["signals"]:
            if s["model"] == name:
                section.signals.append({**s, "entity_kind": f["entity_kind"], "entity_id": f["entity_id"]})
    owned_rule = host.findings.get(name)
    rule = owned_rule.spec if owned_rule is not None else None
    section.has_rule = rule is not None
    try:
        section.trained_at = _trained_at(runtime, spec)
        section.drift = model_drift(runtime, spec, card.get("split_cutoff"))
        rows = window_rows(runtime, spec)
        if rows.empty:
            return section
        section.latest_day = max(rows["_day"].dropna(), default=None)
        if rule is not None:
            entity_columns, kind = (
                rule.entity,
                rule.entity_kind if isinstance(rule.entity_kind, str) else "entity",
            )
            flags = _flags(rule, rows)
        else:
            entity_columns = tuple(k for k in spec.keys if k != spec.time_column) or tuple(spec.keys)
            kind, flags = "entity", pd.Series(False, index=rows.index)
        entity = _entity(rows, entity_columns)
        per_day = entity[flags].groupby(rows.loc[flags, "_day"]).nunique()
        if rule is not None and rule.max_per_day is not None:
            per_day = per_day.clip(upper=rule.max_per_day)
        section.flagged = {cast(dt.date, d): int(n) for d, n in per_day.items()}
        # The entity to plot: the top open finding's (stored ids are cleaned: match them cleaned),
        # else the entity flagged most often in the window, else the one with the most rows.
        cleaned = entity.map(clean_text)
        chosen = next((s["entity_id"] for s in section.signals if (cleaned == s["entity_id"]).any()), None)
        if chosen is not None:
            chosen = entity[cleaned == chosen].iloc[0]
        elif flags.any():
            chosen = entity[flags].value_counts().index[0]
        else:
            chosen = entity.value_counts().index[0]
        section.series = _series(spec, rows, entity, chosen, flags, kind, rule.references if rule else ())
    except Exception as exc:  # one model's problem is shown on its section; the report goes on
        log.warning("report: %s: %s", name, exc, exc_info=True)
        section.error = message(f"{type(exc).__name__}: {exc}")
    return section


def collect(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportData:
    """Everything the pages show, for every loaded model (or one domain's)."""
    owned = host.select_models(domain)
    stored = read_findings(runtime)
    findings = ranked(stored, domain=domain)
    resolved = int((stored["state"] == RESOLVED).sum()) if not stored.empty else 0
    cards = {c["model"]: c for c in scorecards(runtime, host, domain=domain)}
    sections = []
    for o in owned:
        sections.append(model_section(runtime, host, o.spec.name, cards[o.spec.name], findings))
        if progress is not None:
            progress(o.spec.name)
    return ReportData(
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        findings=findings,
        resolved=resolved,
        models=sections,
        domains=sorted({s.domain for s in sections}),
        catalog=runtime.settings.catalog,
    )
