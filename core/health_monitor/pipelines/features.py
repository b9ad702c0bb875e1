"""Feature pipeline: each registered feature table computed from Gold and written with its keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import functions as F

from health_monitor.errors import MissingInputError
from health_monitor.host import Host
from health_monitor.lakehouse import TableInfo
from health_monitor.lakehouse.keys import check_primary_key
from health_monitor.lakehouse.layout import by_day
from health_monitor.lakehouse.spark import cancel_jobs_with_item
from health_monitor.pipelines import refresh
from health_monitor.pipelines.report import StageReport, run_items
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import FeatureTable
from health_monitor.untrusted import message


def run_features(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    model: str | None = None,
    progress: bool = True,
    plan: Mapping[str, dt.date | None] | None = None,
    workers: int = 1,
) -> StageReport:
    """Compute the selected feature tables. ``plan`` (the daily run's) names the tables to compute,
    each with the day to recompute from (None: the whole table); tables it does not name are left
    as they are. ``workers`` tables at once, unless the settings name a number."""
    runtime.refuse_if_half_loaded()  # its Gold tables would come from two different loads
    selected = host.select_feature_tables(domain, model)
    if plan is not None:
        selected = [o for o in selected if o.spec.name in plan]

    def work(table: FeatureTable) -> dict:
        missing = [s for s in table.sources if not runtime.lakehouse.exists(runtime.settings.gold(s))]
        if missing:
            raise MissingInputError(
                ", ".join(runtime.settings.gold(s) for s in missing),
                "not built (`health-monitor gold` builds them when the system tables they come from "
                "are loaded); "
                f"{table.name} and the models that read it are skipped",
            )
        cancel_jobs_with_item()
        name = runtime.settings.feature_table(table.name)
        since = (plan or {}).get(table.name)
        day_column = table.days_by
        if day_column is None or not runtime.lakehouse.exists(name):
            since = None  # no days to replace: the whole table
        tables = refresh.RecordingTables.from_day(runtime, since, table.lookback_days)
        df = table.compute(tables)
        reshaped = since is not None and _columns(df) != _columns(runtime.lakehouse.read(name))
        if reshaped:  # a plugin release changed the table's columns: the rows before `since` would not fit
            since, tables = None, refresh.RecordingTables(runtime)
            df = table.compute(tables)
        if since is not None and day_column is not None:
            df = df.filter(F.to_date(F.col(day_column)) >= F.lit(since))
        df = df.persist()  # checked for key violations, then written
        try:
            if since is None or day_column is None:
                info = write_whole(runtime, name, table, df)
                new_rows: int | None = info.rows
            else:  # (the keys checked in the pass that counts the rows)
                info = runtime.lakehouse.replace_where(
                    name,
                    df,
                    column=day_column,
                    since=since,
                    primary_keys=list(table.primary_keys),
                    description=table.description,
                )
                new_rows = info.written
            # A warning may name an entity (a workspace whose feed stalled): stored text, cleaned.
            rows = df if since is None else runtime.lakehouse.read(name)
            warnings = [message(w) for w in table.warnings(rows)] if table.warnings else []
        finally:
            df.unpersist()
        # Its own rows it read (featurekit.stored_days) are not a source: its next run would
        # otherwise see this write as a change and recompute its days again.
        refresh.record_state(runtime, name, {k: v for k, v in tables.versions.items() if k != name})
        details = {"table": info.full_name, "rows": info.rows, "columns": len(info.columns)}
        if since is not None:
            details.update(since=since.isoformat(), recomputed=new_rows)
        if reshaped:
            details["rewritten"] = "whole: its columns changed since it was written"
        return {**details, "warnings": warnings} if warnings else details

    return run_items(
        "features",
        selected,
        lambda t: t.name,
        work,
        host,
        runtime.settings,
        progress,
        time_limit=runtime.settings.item_time_limit,
        workers=runtime.settings.workers or workers,
    )


def _columns(df) -> list[tuple[str, str]]:
    """Column names and types, nullability aside."""
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def write_whole(runtime: Runtime, name: str, table: FeatureTable, df) -> TableInfo:
    """Write feature table ``name`` whole. The first time through the feature store's
    ``create_table`` (on Databricks it registers the primary key and timeseries column); after that
    through the lakehouse, which replaces the rows atomically and keeps the table's keys: the
    real client's ``create_table`` writes nothing into an existing table, and its ``write_table``
    only merges, which would keep rows the new computation no longer has."""
    keys = list(table.primary_keys)
    if not runtime.lakehouse.exists(name):
        if table.days_by is not None and table.days_by != table.timestamp_key:
            # The store's create_table files a new table's rows by its timestamp key; this one's
            # days come from its day_column, so the rows go to it in files of contiguous days:
            # else the daily run's first replace_where would rewrite the whole table.
            df = by_day(df, table.days_by, at_hand=True)
        runtime.feature_store.create_table(
            name=name,
            primary_keys=keys,
            df=df,
            timeseries_column=table.timestamp_key,
            description=table.description,
        )
        return runtime.lakehouse.describe(name)
    check_primary_key(name, df, keys)
    return runtime.lakehouse.write(
        name,
        df,
        primary_keys=keys,
        timestamp_key=table.timestamp_key,
        description=table.description,
        # Files of contiguous days: the daily run's replace_where rewrites only the latest ones.
        cluster_by=table.days_by,
    )
