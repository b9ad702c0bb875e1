"""Inference pipeline: lookup keys -> the champion model (features joined by the store) ->
``<model>_predictions`` in the standard schema, replaced atomically."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from health_monitor.errors import HealthMonitorError, NoChampionError
from health_monitor.featurestore.keys import check_primary_key
from health_monitor.host import Host
from health_monitor.lakehouse.spark import cancel_jobs_with_item
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.pipelines.train import model_base, require_feature_tables
from health_monitor.registry import CHALLENGER, CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.specs import Model


def run_infer(
    runtime: Runtime, host: Host, domain: str | None = None, model: str | None = None, progress: bool = True
) -> StageReport:
    runtime.refuse_if_half_loaded()  # one rule for every pipeline
    runtime.registry.configure()
    return run_items(
        "infer",
        host.select_models(domain, model),
        lambda m: m.name,
        lambda m: infer_model(runtime, m),
        host,
        runtime.settings,
        progress,
        time_limit=runtime.settings.item_time_limit,
    )


def infer_model(runtime: Runtime, spec: Model) -> dict[str, Any]:
    settings = runtime.settings
    name = settings.registered_model(spec.name)
    cancel_jobs_with_item()
    require_feature_tables(runtime, spec)  # a model skipped for want of data has no champion either
    champion = runtime.registry.version_by_alias(name, CHAMPION)
    if champion is None:
        held = runtime.registry.version_by_alias(name, CHALLENGER)
        if held is not None:
            raise NoChampionError(
                f"model {name} has no '{CHAMPION}': the champion gate held v{held.version} back as "
                f"'{CHALLENGER}' (why: `health-monitor evaluate --model {spec.name}`); promote by hand: "
                f"health-monitor promote --model {spec.name} --version {held.version} --reason TEXT"
            )
        raise HealthMonitorError(
            f"model {name} has no '{CHAMPION}' version; run `health-monitor train --model {spec.name}`"
        )
    keys = model_base(runtime, spec)
    scored = runtime.feature_store.score_batch(champion.uri, keys)
    out = (
        scored.withColumn("model_name", F.lit(spec.name))
        .withColumn("model_version", F.lit(champion.version).cast("int"))
        .withColumn("scored_at", F.current_timestamp())
    ).persist()
    try:
        table = settings.predictions(spec.name)
        check_primary_key(table, out, list(spec.keys))
        info = runtime.lakehouse.write(
            table,
            out,
            primary_keys=list(spec.keys),
            description=f"Predictions of {spec.name} v{champion.version} ({spec.problem_type.value})",
        )
    finally:
        out.unpersist()
    return {"table": info.full_name, "rows": info.rows, "version": champion.version}
