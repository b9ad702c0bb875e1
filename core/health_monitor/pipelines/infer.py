"""Inference pipeline: lookup keys -> the champion model (features joined by the store) ->
``<model>_predictions`` in the standard schema, replaced atomically."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pyspark.sql import functions as F

from health_monitor.errors import SkipItem
from health_monitor.host import Host
from health_monitor.lakehouse.keys import check_primary_key
from health_monitor.lakehouse.spark import cancel_jobs_with_item
from health_monitor.pipelines import refresh
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.pipelines.train import model_base, require_feature_tables
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import Model


def run_infer(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    model: str | None = None,
    progress: bool = True,
    plan: Mapping[str, dt.date | None] | None = None,
    skip: Mapping[str, str] | None = None,
    workers: int = 1,
) -> StageReport:
    """Score the selected models. ``plan`` (the daily run's) names the models to score, each with
    the day to rescore from (None: every key); models it does not name are left as they are.
    ``skip`` names models reported as skipped, each with why (the job's training skipped them).
    ``workers`` models at once, unless the settings name a number."""
    runtime.refuse_if_half_loaded()  # one rule for every pipeline
    runtime.registry.configure()
    selected = host.select_models(domain, model)
    if plan is not None:
        selected = [o for o in selected if o.spec.name in plan]

    def work(spec: Model) -> dict[str, Any]:
        if skip and spec.name in skip:
            raise SkipItem(skip[spec.name])
        return infer_model(runtime, spec, (plan or {}).get(spec.name))

    return run_items(
        "infer",
        selected,
        lambda m: m.name,
        work,
        host,
        runtime.settings,
        progress,
        time_limit=runtime.settings.item_time_limit,
        workers=runtime.settings.workers or workers,
    )


def infer_model(runtime: Runtime, spec: Model, since: dt.date | None = None) -> dict[str, Any]:
    """Score ``spec``'s champion on its base keys and write ``<model>_predictions``: the whole
    table, or with ``since`` only the keys whose time is that day or later (Delta's
    ``replaceWhere``; earlier predictions are kept as they are), built from ``lookback_days`` of
    Gold before ``since`` when the model declares it."""
    settings = runtime.settings
    name = settings.registered_model(spec.name)
    cancel_jobs_with_item()
    require_feature_tables(runtime, spec)  # a model skipped for want of data has no champion either
    champion = runtime.registry.champion(name, spec.name)
    table = settings.predictions(spec.name)
    if since is not None and (not spec.scores_by_day or not runtime.lakehouse.exists(table)):
        since = None  # a key kept from before `since` could come again: rescore every key
    tables = refresh.RecordingTables.from_day(runtime, since, spec.lookback_days)
    looked_up = lookup_versions(runtime, spec)
    keys = model_base(runtime, spec, tables)
    if since is not None:
        keys = keys.filter(F.to_date(F.col(spec.time_column)) >= F.lit(since))
    scored = runtime.feature_store.score_batch(model_uri=champion.uri, df=keys)
    out = (
        scored.withColumn("model_name", F.lit(spec.name))
        .withColumn("model_version", F.lit(champion.version).cast("int"))
        .withColumn("scored_at", F.current_timestamp())
    ).persist()
    description = f"Predictions of {spec.name} v{champion.version} ({spec.problem_type.value})"
    try:
        if since is None:
            check_primary_key(table, out, list(spec.keys))
            info = runtime.lakehouse.write(
                table, out, primary_keys=list(spec.keys), description=description, cluster_by=spec.time_column
            )
        else:  # (the keys checked in the pass that counts the rows)
            info = runtime.lakehouse.replace_where(
                table,
                out,
                column=spec.time_column,
                since=since,
                primary_keys=list(spec.keys),
                description=description,
            )
    finally:
        out.unpersist()
    sources = {**tables.versions, **looked_up, name: champion.version}
    refresh.record_state(runtime, table, sources)
    details = {"table": info.full_name, "rows": info.rows, "version": champion.version}
    if since is not None:
        details.update(since=since.isoformat(), scored=info.written)
    return details


def lookup_versions(runtime: Runtime, spec: Model) -> dict[str, int]:
    """The versions of the feature tables ``spec`` looks up (scoring reads their current ones)."""
    names = {runtime.settings.feature_table(lk.table) for lk in spec.lookups}
    return {name: runtime.lakehouse.version(name) for name in sorted(names)}
