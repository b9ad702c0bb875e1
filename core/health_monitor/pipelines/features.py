"""Feature pipeline: each registered feature table computed from Gold and written with its keys."""

from __future__ import annotations

from health_monitor.errors import MissingInputError
from health_monitor.host import Host
from health_monitor.lakehouse.spark import cancel_jobs_with_item
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.runtime import Runtime
from health_monitor.specs import FeatureTable
from health_monitor.untrusted import message


def run_features(
    runtime: Runtime, host: Host, domain: str | None = None, model: str | None = None, progress: bool = True
) -> StageReport:
    runtime.refuse_if_half_loaded()  # its Gold tables would come from two different loads

    def work(table: FeatureTable) -> dict:
        missing = [s for s in table.sources if not runtime.lakehouse.exists(runtime.settings.gold(s))]
        if missing:
            raise MissingInputError(
                ", ".join(runtime.settings.gold(s) for s in missing),
                "not built (the system tables they come from are not loaded); "
                f"{table.name} and the models that read it are skipped",
            )
        cancel_jobs_with_item()
        df = table.compute(runtime.tables).persist()  # checked for key violations, then written
        try:
            info = runtime.feature_store.create_table(
                runtime.settings.feature_table(table.name),
                primary_keys=list(table.primary_keys),
                df=df,
                timestamp_keys=[table.timestamp_key] if table.timestamp_key else None,
                description=table.description,
            )
            # A warning may name an entity (a workspace whose feed stalled): stored text, cleaned.
            warnings = [message(w) for w in table.warnings(df)] if table.warnings else []
        finally:
            df.unpersist()
        details = {"table": info.full_name, "rows": info.rows, "columns": len(info.columns)}
        return {**details, "warnings": warnings} if warnings else details

    return run_items(
        "features",
        host.select_feature_tables(domain, model),
        lambda t: t.name,
        work,
        host,
        runtime.settings,
        progress,
        time_limit=runtime.settings.item_time_limit,
    )
