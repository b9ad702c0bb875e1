"""Model cards: one Markdown page per model from its spec and what training measured.

``health-monitor model-cards --out docs/model-cards --home H`` writes ``<model>.md`` for every
model plus an ``index.md``. Everything on a card comes from the model's spec (purpose, keys,
features, label, algorithm, baseline, notes) or from the MLflow run of its champion on home
``H`` (metrics, baseline metrics on the same test rows, their 95% intervals, row counts, verdict;
for a model the champion gate held back, its challenger's), so regenerating
the cards on a new measurement keeps them true. An anomaly detector's recall per incident type
and its false-alarm rate come from the JSON file of ``benchmarks/bench_incidents.py``
(``--incident-benchmark FILE``, repeatable: e.g. one file per domain): several simulated
accounts pooled, enough incidents per type.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from health_monitor.host import Host
from health_monitor.models.scorecards import scorecards
from health_monitor.runtime import Runtime
from health_monitor.sdk.detectors import budget_is_a_ceiling
from health_monitor.sdk.specs import Model

# Metrics shown first on a card, in this order, when measured.
LEAD_METRICS = (
    "f1",
    "precision",
    "recall",
    "pr_auc",
    "roc_auc",
    "accuracy",
    "mape",
    "median_abs_pct_error",
    "mae",
    "rmse",
    "r2",
    "coverage_p10_p90",
    "interval_ratio_p90_p10_median",
    "positive_rate",
)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _algorithm(spec: Model) -> str:
    estimator = spec.estimator()
    text = repr(estimator).replace("\n", " ")
    text = re.sub(r" at 0x[0-9a-f]+>", ">", " ".join(text.split()))  # no addresses: cards are diffed
    return text if len(text) <= 300 else text[:297] + "..."


def _verdict_reason(card: dict[str, Any]) -> str:
    """Why the verdict: the difference and its interval, or why there is no interval."""
    reason = card.get("verdict_reason") or "measured before verdicts had intervals"
    return reason + ("; model minus baseline, positive is better" if card.get("difference_ci95") else "")


def _difference(card: dict[str, Any]) -> str:
    ci = card.get("difference_ci95")
    if not ci:
        return "n/a"
    return f"{card['difference']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _budget_lines(budget: dict[str, float] | None) -> list[str]:
    """What a calibrated detector's alarm budget allows, and what days like its normal ones let
    it spend."""
    if not budget:
        return []
    allowed, reachable = budget["per_1000"], budget["reachable_per_1000"]
    line = f"Alarm budget: {allowed:.3g} false alarms per 1,000 normal entity-days"
    if budget_is_a_ceiling(allowed, reachable):
        line += (
            f", a ceiling it cannot spend: only {reachable:.1f} per 1,000 of its held-out normal "
            "days score above the least unusual (the others tie there), so on days like them it "
            "raises at most that many"
        )
    else:
        line += f"; {reachable:.1f} per 1,000 of its held-out normal days score above the least unusual"
    return [line + ".", ""]


def load_incident_benchmark(paths: Path | list[Path] | None) -> dict[str, Any] | None:
    """The JSON files ``benchmarks/bench_incidents.py evaluate --json FILE`` wrote, merged by
    model, or None. A file may cover some domains only (one benchmark per domain): each model
    keeps its own file's alarm budget, folds and command, and a model in several files takes the
    figures of the last one given."""
    if paths is None:
        return None
    models: dict[str, Any] = {}
    for path in [paths] if isinstance(paths, Path | str) else paths:
        bench = dict(json.loads(Path(path).read_text()))
        head = {k: bench[k] for k in ("alarm_budget", "folds", "command")}
        models.update({name: {**head, **m} for name, m in bench.get("models", {}).items()})
    return {"models": models}


def incident_section(spec: Model, bench: dict[str, Any] | None) -> list[str]:
    """The card's "Incidents by type" section: the model as specified (candidate ``spec``) and its
    baseline, pooled over the benchmark's accounts; nothing when the file does not cover it."""
    measured = (bench or {}).get("models", {}).get(spec.name)
    if not measured:
        return []
    model, baseline = measured["candidates"]["spec"], measured["candidates"]["baseline"]
    kinds = sorted(set(model["per_type"]) | set(baseline["per_type"]))

    def recall(who: dict[str, Any], kind: str) -> str:
        t = who["per_type"].get(kind)
        return "n/a" if t is None else f"{t['recall']:.3f} ({t['found']}/{t['windows']})"

    budget = float(measured["alarm_budget"])
    return [
        "## Incidents by type",
        "",
        f"Rolling-origin backtest on {measured['accounts']} simulated accounts "
        f"({measured['entity_days']:,} predicted entity-days, {measured['folds']} folds each; "
        f"`{measured['command']}`); alarm budget {budget:g} per entity per 30 days "
        f"({1000 * budget / 30:.1f} false alarms per 1,000 normal entity-days). Recall is the share "
        "of incident windows with at least one alarm.",
        "",
        "| incident type | model recall | baseline recall |",
        "|---|---|---|",
        *[f"| {kind} | {recall(model, kind)} | {recall(baseline, kind)} |" for kind in kinds],
        "",
        "| pooled | model | baseline |",
        "|---|---|---|",
        *[
            f"| {label} | {_fmt(model.get(key))} | {_fmt(baseline.get(key))} |"
            for key, label in (
                ("false_alarms_per_1000", "false alarms per 1,000 normal entity-days"),
                ("window_precision", "window precision"),
                ("window_recall", "window recall"),
                ("pa_f1", "point-adjusted F1"),
            )
        ],
        "",
    ]


def render_card(
    spec: Model, host: Host, card: dict[str, Any], measured_on: str, bench: dict[str, Any] | None = None
) -> str:
    labels = host.labels.get(spec.name)
    plugin = host.models[spec.name].plugin
    lookups = "\n".join(
        f"- `{lk.table}` by {', '.join(f'`{k}`' for k in lk.lookup_key)}"
        + (f" as of `{lk.timestamp_lookup_key}`" if lk.timestamp_lookup_key else " (exact)")
        + ": "
        + ", ".join(f"`{n}`" + (" (context)" if n in spec.context else "") for n in lk.output_names)
        for lk in spec.lookups
    )
    label = labels.spec.description if labels else "none: trained without labels"
    lines = [
        f"# {spec.name}",
        "",
        f"*{spec.domain} domain, {plugin.distribution or plugin.name} {plugin.version or ''}*".rstrip(),
        "",
        spec.description or "(no description)",
        "",
        "| | |",
        "|---|---|",
        f"| Problem type | {spec.problem_type.value} |",
        f"| Keys (one prediction per) | {', '.join(f'`{k}`' for k in spec.keys)} |",
        f"| Time column (split and as-of) | `{spec.time_column}` |",
        f"| Label | {label} |",
        f"| Algorithm | `{_algorithm(spec)}` |",
        f"| Baseline | {spec.baseline_name} |",
        f"| Test set | latest {spec.test_fraction:.0%} of distinct `{spec.time_column}` values |",
        f"| Prediction table | `{spec.prediction_table}` |",
        f"| Own output columns | {', '.join(f'`{n}` ({t})' for n, t in spec.outputs) or 'none'} |",
        "",
        "## Features",
        "",
        lookups,
        "",
        f"## Evaluation ({measured_on})",
        "",
    ]
    if card.get("status") not in ("trained", "no champion"):
        lines += ["Not trained on the measured home.", ""]
    else:
        metrics, baseline = card["metrics"], card["baseline_metrics"]
        names = [m for m in LEAD_METRICS if m in metrics or m in baseline]
        names += sorted((set(metrics) | set(baseline)) - set(names))
        headline = card["headline_metric"]
        shown = (
            f"champion v{card['version']}"
            if card["status"] == "trained"
            else f"no champion: v{card['challenger_version']} held back as challenger ({card.get('alias_reason')})"
        )

        def cell(m: str, value: Any, ci: list[float] | None) -> str:
            return _fmt(value) + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if m == headline and ci else "")

        lines += [
            f"Train {card['train_rows']:,} rows, test {card['test_rows']:,} rows (test from "
            f"{card['split_cutoff']}); {shown}. Headline metric: **{headline}** "
            f"({'higher' if card['higher_is_better'] else 'lower'} is better; 95% bootstrap interval "
            "in brackets).",
            "",
            "| metric | model | baseline |",
            "|---|---|---|",
            *[
                f"| {'**' + m + '**' if m == headline else m} | {cell(m, metrics.get(m), card.get('model_ci95'))} "
                f"| {cell(m, baseline.get(m), card.get('baseline_ci95'))} |"
                for m in names
            ],
            "",
            f"**Verdict: {card['verdict']}** ({_verdict_reason(card)})."
            if metrics
            else "**Not evaluated** (no labels on this account).",
            "",
            *_budget_lines(card.get("alarm_budget")),
        ]
    lines += incident_section(spec, bench)
    if spec.notes:
        lines += ["## Notes", "", spec.notes.strip(), ""]
    return "\n".join(lines)


def write_cards(
    runtime: Runtime,
    host: Host,
    out: Path,
    measured_on: str,
    incident_benchmark: Path | list[Path] | None = None,
) -> list[Path]:
    """Write one card per model and an index into ``out``; returns the files written.
    ``incident_benchmark``: the detectors' per-incident-type figures, one file or several
    (:func:`load_incident_benchmark`, :func:`incident_section`)."""
    bench = load_incident_benchmark(incident_benchmark)
    out.mkdir(parents=True, exist_ok=True)
    cards = {c["model"]: c for c in scorecards(runtime, host)}
    written = []
    index = [
        "# Model cards",
        "",
        f"Measured on {measured_on}. Regenerate with `health-monitor model-cards --out docs/model-cards`",
        "on a home after `health-monitor demo` (see each card for the details).",
        "",
        "The difference is the model's headline metric minus the baseline's, signed so that positive",
        "means better, with its 95% paired-bootstrap interval; the verdict is `beats baseline` only",
        "when the whole interval is above zero (docs/plugins.md, Evaluation).",
        "",
        "| model | domain | problem | headline | model | baseline | difference [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, owned in sorted(host.models.items(), key=lambda kv: (kv[1].spec.domain, kv[0])):
        spec, card = owned.spec, cards[name]
        path = out / f"{name}.md"
        path.write_text(render_card(spec, host, card, measured_on, bench))
        written.append(path)
        headline = card.get("headline_metric", "")
        index.append(
            f"| [{name}]({name}.md) | {spec.domain} | {spec.problem_type.value} | {headline} | "
            f"{_fmt(card.get('metrics', {}).get(headline))} | {_fmt(card.get('baseline_metrics', {}).get(headline))} | "
            f"{_difference(card)} | {card.get('verdict', card.get('status'))}"
            + (" (no champion)" if card.get("status") == "no champion" else "")
            + " |"
        )
    (out / "index.md").write_text("\n".join(index) + "\n")
    return [*written, out / "index.md"]
