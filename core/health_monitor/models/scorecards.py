"""What ``health-monitor evaluate`` reports: each model's champion against its baseline.

Everything comes from the MLflow run that trained the champion version (metrics ``test_*`` and
``baseline_*`` on the same test rows, the headline metric's 95% bootstrap intervals, row counts,
split, verdict), so it is what training measured, not a recomputation. A model whose versions
the champion gate held back shows its challenger's run, with ``status: no champion``.
"""

from __future__ import annotations

from typing import Any

from health_monitor.host import Host
from health_monitor.models.evaluation import HEADLINE
from health_monitor.models.verdicts import NOT_EVALUATED, SECONDARY
from health_monitor.registry import CHALLENGER, CHAMPION
from health_monitor.runtime import Runtime


def scorecards(
    runtime: Runtime, host: Host, domain: str | None = None, model: str | None = None
) -> list[dict[str, Any]]:
    registry = runtime.registry
    client = registry.client()
    cards = []
    for owned in host.select_models(domain, model):
        spec = owned.spec
        name = runtime.settings.registered_model(spec.name)
        headline, higher = HEADLINE[spec.problem_type]
        card: dict[str, Any] = {
            "model": spec.name,
            "domain": spec.domain,
            "problem_type": spec.problem_type.value,
            "headline_metric": headline,
            "higher_is_better": higher,
            "baseline": spec.baseline_name,
        }
        champion = registry.version_by_alias(name, CHAMPION)
        challenger = registry.version_by_alias(name, CHALLENGER)
        shown = champion or challenger  # with no champion, what the gate held back and why
        if shown is None or shown.run_id is None:
            cards.append({**card, "status": "not trained"})
            continue
        run = client.get_run(shown.run_id)
        cards.append(
            {
                **card,
                "status": "trained" if champion is not None else "no champion",
                "version": champion.version if champion else None,
                "challenger_version": challenger.version if challenger else None,
                **from_run(headline, run.data.metrics, run.data.params, run.data.tags),
                "promotion": {
                    k.removeprefix("promotion."): v
                    for k, v in shown.tags.items()
                    if k.startswith("promotion.")
                }
                or None,
                "run_id": shown.run_id,
            }
        )
    return cards


def _pair(metrics: dict[str, float], prefix: str) -> list[float] | None:
    low, high = metrics.get(f"{prefix}_ci95_low"), metrics.get(f"{prefix}_ci95_high")
    return None if low is None or high is None else [low, high]


def from_run(headline: str, metrics: dict[str, float], params: dict[str, str], tags: dict[str, str]) -> dict:
    """A training run's evaluation: metrics of model and baseline, the headline figures with their
    95% intervals (``difference_ci95`` signed so that positive means the model is better), the
    verdict and the alias the gate gave. Runs logged before the intervals existed give None there."""
    is_interval = ("_ci95_low", "_ci95_high")
    return {
        "metrics": {
            k.removeprefix("test_"): v
            for k, v in sorted(metrics.items())
            if k.startswith("test_") and not k.endswith(is_interval)
        },
        "baseline_metrics": {
            k.removeprefix("baseline_"): v
            for k, v in sorted(metrics.items())
            if k.startswith("baseline_") and not k.endswith(is_interval)
        },
        "model_value": metrics.get(f"test_{headline}"),
        "baseline_value": metrics.get(f"baseline_{headline}"),
        "model_ci95": _pair(metrics, f"test_{headline}"),
        "baseline_ci95": _pair(metrics, f"baseline_{headline}"),
        "difference": metrics.get("difference"),
        "difference_ci95": _pair(metrics, "difference"),
        # A regression's MAE and median APE against the baseline's, same draws, positive is better.
        **(
            {
                "secondary": {
                    m: {
                        "difference": metrics[f"difference_{m}"],
                        "difference_ci95": _pair(metrics, f"difference_{m}"),
                    }
                    for m in SECONDARY
                    if f"difference_{m}" in metrics
                }
            }
            if any(f"difference_{m}" in metrics for m in SECONDARY)
            else {}
        ),
        "bootstrap": {
            "unit": params["bootstrap_unit"],
            "units": int(params["bootstrap_units"]),
            "resamples": int(params["bootstrap_resamples"]),
            "valid": int(params["bootstrap_valid_resamples"]),
        }
        if "bootstrap_unit" in params
        else None,
        # A calibrated detector's budget and the most it can spend on days like its normal ones.
        "alarm_budget": {
            "per_1000": metrics["alarm_budget_per_1000"],
            "reachable_per_1000": metrics["alarms_reachable_per_1000"],
        }
        if "alarm_budget_per_1000" in metrics
        else None,
        "train_rows": int(params.get("train_rows", 0)),
        "test_rows": int(params.get("test_rows", 0)),
        "split_cutoff": params.get("split_cutoff"),
        "verdict": tags.get("verdict", NOT_EVALUATED),
        "verdict_reason": tags.get("verdict_reason", ""),
        "alias_reason": tags.get("alias_reason", ""),
    }
