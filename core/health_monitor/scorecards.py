"""What ``health-monitor evaluate`` reports: each model's champion against its baseline.

Everything comes from the MLflow run that trained the champion version (metrics ``test_*`` and
``baseline_*`` on the same test rows, row counts, split, verdict), so it is what training
measured, not a recomputation.
"""

from __future__ import annotations

from typing import Any

from health_monitor.evaluation import HEADLINE
from health_monitor.host import Host
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
        if champion is None or champion.run_id is None:
            cards.append({**card, "status": "not trained"})
            continue
        run = client.get_run(champion.run_id)
        metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
        challenger = registry.version_by_alias(name, CHALLENGER)
        cards.append(
            {
                **card,
                "status": "trained",
                "version": champion.version,
                "challenger_version": challenger.version if challenger else None,
                "metrics": {
                    k.removeprefix("test_"): v for k, v in sorted(metrics.items()) if k.startswith("test_")
                },
                "baseline_metrics": {
                    k.removeprefix("baseline_"): v
                    for k, v in sorted(metrics.items())
                    if k.startswith("baseline_")
                },
                "train_rows": int(params.get("train_rows", 0)),
                "test_rows": int(params.get("test_rows", 0)),
                "split_cutoff": params.get("split_cutoff"),
                "verdict": tags.get("verdict", "not evaluated"),
                "run_id": champion.run_id,
            }
        )
    return cards
