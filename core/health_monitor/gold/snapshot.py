"""``health-monitor snapshot``: keep the history the system tables do not keep.

``information_schema.tables`` / ``.columns`` and ``access.workspaces_latest`` show only the
current state. Run daily (on Databricks, before ``gold``), :func:`take_snapshot` reads them through
the snapshot steps of :mod:`health_monitor.gold.build` and appends the day to the Gold history
tables:

* ``information_schema_tables_snapshot`` / ``information_schema_columns_snapshot`` get the day's
  rows; running again the same day replaces that day's rows (never duplicates them);
* ``dim_workspace`` (SCD2) gets a row for a workspace first seen (change_time = its create_time)
  or whose name, status or URL changed since its current row (change_time = the snapshot time),
  and ``is_current`` is recomputed. A workspace gone from ``workspaces_latest`` keeps its last row.

Each table is checked against the contract and replaced in one atomic write; a table whose
source is not loaded is skipped and said so in the report.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_monitor.errors import ConfigError
from health_monitor.gold.build import BuildContext, GoldStep, gold_steps
from health_monitor.gold.build.runner import check_frame, conform_frame
from health_monitor.gold.contract import GOLD_TABLES, GoldContractError
from health_monitor.system.inputs import AccountInputs, read_account_inputs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from health_monitor.runtime import Runtime

# SCD2 snapshot tables: (key columns, columns whose change makes a new version).
SCD2: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dim_workspace": (("workspace_id",), ("workspace_name", "status", "workspace_url")),
}


class SnapshotReport(dict[str, int]):
    """Gold table -> rows the snapshot wrote for the day (for an SCD2 table: its new versions).

    ``skipped`` maps a table that was not touched to the reason (its source is not loaded, or it
    already has versions after the snapshot time); ``failed`` maps a table whose rows broke the
    contract to the error (nothing of it was written).
    """

    def __init__(self, day: dt.date, at: dt.datetime):
        super().__init__()
        self.day = day
        self.at = at
        self.skipped: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.failed

    def messages(self) -> list[str]:
        return [f"{t}: skipped, {why}" for t, why in self.skipped.items()] + [
            f"{t}: failed, {err}" for t, err in self.failed.items()
        ]


def take_snapshot(
    runtime: Runtime, snapshot_date: dt.date | None = None, *, at: dt.datetime | None = None
) -> SnapshotReport:
    """Append the snapshot of ``snapshot_date`` (default: today, UTC) to the Gold history tables.

    ``at`` is when the snapshot is taken (default: now). A snapshot dated before ``at``'s day
    replays a past day: its time is the last instant of that day.
    """
    now = (at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    day = snapshot_date or now.date()
    if day > now.date():
        raise ConfigError(f"snapshot date {day} is in the future (today is {now.date()} UTC)")
    if day < now.date():
        now = dt.datetime.combine(day, dt.time.max, tzinfo=dt.timezone.utc)
    settings, lakehouse = runtime.settings, runtime.lakehouse
    report = SnapshotReport(day, now)
    steps = [s for s in gold_steps().values() if s.snapshot]
    # Finished by running it again: the day's rows replace themselves, unchanged keys add no version.
    with runtime.load("snapshot", [settings.gold(s.table) for s in steps], "--date", day.isoformat()):
        for step in steps:
            missing = [settings.system(s) for s in step.sources if not lakehouse.exists(settings.system(s))]
            if missing:
                report.skipped[step.table] = (
                    f"{', '.join(missing)} is not loaded, so {step.table} has no snapshot for {day}"
                )
                continue
            try:
                rows = conform_frame(step.table, step.build(_context(runtime, step, day)))
                if step.table in SCD2:
                    written = _append_versions(runtime, step.table, rows, day, now)
                else:
                    written = _append_day(runtime, step.table, rows, day)
            except GoldContractError as exc:
                report.failed[step.table] = str(exc)
                continue
            if written is None:
                report.skipped[step.table] = (
                    f"it already has versions after {now.isoformat()}; a snapshot cannot go before them"
                )
            else:
                report[step.table] = written
    return report


def _context(runtime: Runtime, step: GoldStep, day: dt.date) -> BuildContext:
    settings, lakehouse = runtime.settings, runtime.lakehouse

    def read_system(name: str) -> DataFrame:
        if name not in step.sources:
            raise RuntimeError(f"snapshot step {step.table} reads {name} but does not list it in its sources")
        return lakehouse.read(settings.system(name))

    return BuildContext(
        spark=lakehouse.spark,
        since=None,
        today=day,
        inputs=read_account_inputs(settings.account_inputs_path) if step.inputs else AccountInputs.empty(),
        _read_system=read_system,
        _read_gold=lambda table: lakehouse.read(settings.gold(table)),
        _has_system=lambda name: lakehouse.exists(settings.system(name)),
    )


def _write(runtime: Runtime, table: str, data: DataFrame) -> None:
    spec = GOLD_TABLES[table]
    runtime.lakehouse.write(
        runtime.settings.gold(table), data, primary_keys=list(spec.primary_key), description=spec.description
    )


def _history(runtime: Runtime, table: str) -> DataFrame | None:
    name = runtime.settings.gold(table)
    if not runtime.lakehouse.exists(name):
        return None
    return conform_frame(table, runtime.lakehouse.read(name))


def _append_day(runtime: Runtime, table: str, rows: DataFrame, day: dt.date) -> int:
    """The day's rows replace whatever the table held for that day."""
    from pyspark.sql import functions as F

    written, _ = check_frame(table, rows, None)
    history = _history(runtime, table)
    if history is not None:
        rows = history.where(F.col("snapshot_date") != F.lit(day)).unionByName(rows)
    _write(runtime, table, rows)
    return written


def _append_versions(
    runtime: Runtime, table: str, current: DataFrame, day: dt.date, at: dt.datetime
) -> int | None:
    """New SCD2 versions for the keys whose tracked columns changed; None when the table already
    has versions after ``at`` (a past day cannot be inserted into the middle of the history)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keys, tracked = SCD2[table]
    when = F.lit(at).cast("timestamp")
    history = _history(runtime, table)
    if history is None:
        history = current.limit(0)
    # Versions written by an earlier snapshot of the same day are recomputed, not kept.
    kept = history.where(F.to_date("change_time") != F.lit(day))
    latest = (
        kept.withColumn(
            "__rank", F.row_number().over(Window.partitionBy(*keys).orderBy(F.col("change_time").desc()))
        )
        .where(F.col("__rank") == 1)
        .select(*keys, F.lit(True).alias("__seen"), *[F.col(c).alias(f"__was_{c}") for c in tracked])
    )
    changed = F.col("__seen").isNull()
    for c in tracked:
        changed = changed | ~F.col(c).eqNullSafe(F.col(f"__was_{c}"))
    new = conform_frame(
        table,
        current.join(latest, list(keys), "left")
        .where(changed)
        .withColumn(
            "change_time",
            F.when(F.col("__seen").isNull(), F.coalesce("create_time", when)).otherwise(when),
        ),
    )
    # One job: how many versions are new, and whether the history already goes past the snapshot.
    stats = (
        history.select("change_time", F.lit(0).alias("__new"))
        .unionByName(new.select("change_time", F.lit(1).alias("__new")))
        .agg(
            F.sum("__new").alias("added"),
            F.sum(((F.col("__new") == 0) & (F.col("change_time") > when)).cast("long")).alias("later"),
        )
        .collect()[0]  # a global aggregate: exactly one row
    )
    if stats["later"]:
        return None
    versions = conform_frame(
        table,
        kept.unionByName(new).withColumn(
            "is_current", F.col("change_time") == F.max("change_time").over(Window.partitionBy(*keys))
        ),
    )
    check_frame(table, versions, None)
    _write(runtime, table, versions)
    return int(stats["added"] or 0)
