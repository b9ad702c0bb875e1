"""Small Spark helpers for point-in-time features, shared by every plugin.

Windows here are by calendar days (``rangeBetween`` on a day number), so gaps in a series
do not stretch a "7-day" window over weeks, and "prior" windows end the day before the row.
Spark 4 runs ANSI SQL, where division by zero raises: use :func:`ratio`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

# Result states of a job run that count as a failure (``SUCCEEDED``, ``CANCELLED``, ... do not).
FAILURE_STATES = ("FAILED", "ERROR", "TIMED_OUT")


if TYPE_CHECKING:
    from health_monitor.sdk.specs import Tables


def kept_days(df: DataFrame, tables: Tables, column: str, days_before: int = 0) -> DataFrame:
    """``df``'s rows whose day of ``column`` is the first day the caller keeps
    (``tables.rows_from()``) or later, or at most ``days_before`` days before it (the history
    their windows read); every row when the caller keeps every row."""
    rows_from = tables.rows_from()
    if rows_from is None:
        return df
    return df.where(F.to_date(F.col(column)) >= F.lit(rows_from - dt.timedelta(days=days_before)))


@dataclass(frozen=True, eq=False)
class StoredDays:
    """What :func:`stored_days` found for a table's windows: ``rows``, the table's own stored rows
    of the days before the first day kept (None when there are none to use), and ``gold_days``,
    the days before that day the windows must still read from Gold (0 when ``rows`` holds them)."""

    rows: DataFrame | None
    gold_days: int

    def with_stored(self, daily: DataFrame) -> DataFrame:
        """``daily`` (the days computed from Gold) and the stored days before them, if any."""
        return daily if self.rows is None else daily.unionByName(self.rows, allowMissingColumns=True)


def stored_days(tables: Tables, table: str, column: str, days: int, columns: list[str]) -> StoredDays:
    """Feature table ``table``'s own stored rows of the ``days`` days before the first day the
    caller keeps (``tables.rows_from()``), with ``columns`` (the day's values its windows read).
    They are not used (``rows`` None, ``gold_days`` = ``days``) when every day must be computed
    from Gold: every row is kept, the table is not written yet, or it lacks one of ``columns`` (a
    release changed it).

    A daily run recomputes a table from the first day whose Gold changed: the days before it read
    the same Gold as when they were stored, so their stored values are what computing them again
    would give. A table whose windows read only such per-day values reads ``gold_days`` days of
    Gold for them (:func:`kept_days`) and adds the stored days before its windows
    (:meth:`StoredDays.with_stored`)::

        history = stored_days(tables, "my_features", "event_date", 30, ["user_id", "event_date", "events"])
        daily = kept_days(gold, tables, "event_date", history.gold_days).groupBy(...).agg(...)
        daily = history.with_stored(daily)  # then the windows
    """
    stored, rows_from = _stored_before(tables, table, column, columns)
    if stored is None or rows_from is None:
        return StoredDays(None, days)
    first = F.lit(rows_from - dt.timedelta(days=days))
    return StoredDays(stored.where(F.to_date(F.col(column)) >= first).select(*columns), 0)


def latest_stored(tables: Tables, table: str, key: str, column: str, columns: list[str]) -> DataFrame | None:
    """Each ``key``'s latest stored row of feature table ``table`` before the first day the caller
    keeps (``tables.rows_from()``): ``key``, that row's day of ``column`` as ``stored_day`` and
    ``columns`` as ``stored_<column>``. None when every day must come from Gold (as for
    :func:`stored_days`: every row is kept, the table is not written yet, or it lacks a column).

    What a daily run goes on from: all-time figures (running totals, "days since", the last value
    known) of the days recomputed continue the latest stored ones instead of reading every earlier
    day of Gold, exactly for the reason :func:`stored_days` gives. A key without a stored row
    before that day has no history to carry."""
    stored, _ = _stored_before(tables, table, column, [key, *columns])
    if stored is None:
        return None
    latest = stored.groupBy(key).agg(
        F.max(column).alias("stored_day"), F.max_by(F.struct(*columns), column).alias("_row")
    )
    return latest.select(key, "stored_day", *[F.col("_row")[c].alias(f"stored_{c}") for c in columns])


class AllTime:
    """All-time figures per ``key`` over its days ordered by ``date``: over every day of the key's
    history when ``carried`` is False, else over the days of the frame, going on from the row of
    :func:`latest_stored` joined to it (``stored_day``, ``stored_<name>``). Each method names the
    stored column its figure goes on from."""

    def __init__(self, key: str, date: str, carried: bool):
        order = Window.partitionBy(key).orderBy(date)
        self.upto = order.rowsBetween(Window.unboundedPreceding, 0)
        self._earlier = order.rowsBetween(Window.unboundedPreceding, -1)
        self._date, self.carried = date, carried

    def stored(self, name: str) -> Column:
        return F.col(f"stored_{name}")

    def days_since_stored(self) -> Column:
        """Days from the stored row's day to each row's."""
        return F.datediff(F.col(self._date), F.col("stored_day"))

    def total(self, value: Column, name: str) -> Column:
        """The running sum of ``value`` up to each day, plus the stored ``name``."""
        running = F.sum(value).over(self.upto)
        return running + F.coalesce(self.stored(name), F.lit(0)) if self.carried else running

    def latest(self, value: Column, name: str, before: bool = False) -> Column:
        """The last non-null ``value`` up to each day (``before``: up to the day before), else the
        stored ``name``."""
        known = F.last(value, ignorenulls=True).over(self._earlier if before else self.upto)
        return F.coalesce(known, self.stored(name)) if self.carried else known

    def days_since(self, flag: Column, name: str, cap: int) -> Column:
        """Calendar days from the latest day where ``flag`` is true, at most ``cap`` (also when it
        never was): with nothing in the frame, the stored ``name`` plus the days since it."""
        date = F.col(self._date)
        days = F.datediff(date, F.max(F.when(flag, date)).over(self.upto))
        if self.carried:
            days = F.coalesce(days, self.stored(name) + self.days_since_stored())
        return F.least(F.coalesce(days, F.lit(cap)), F.lit(cap))


def _stored_before(
    tables: Tables, table: str, column: str, columns: list[str]
) -> tuple[DataFrame | None, dt.date | None]:
    """Feature table ``table``'s stored rows whose day of ``column`` is before the first day kept,
    and that day; no rows when the caller keeps every row or the table lacks a column."""
    from health_monitor.errors import TableNotFoundError

    rows_from = tables.rows_from()
    if rows_from is None:
        return None, None
    try:
        stored = tables.features(table)
    except TableNotFoundError:
        return None, rows_from
    if any(c not in stored.columns for c in (column, *columns)):
        return None, rows_from
    return stored.where(F.to_date(F.col(column)) < F.lit(rows_from)), rows_from


def day_number(column: str | Column) -> Column:
    col = F.col(column) if isinstance(column, str) else column
    return F.datediff(col.cast("date"), F.lit("1970-01-01").cast("date"))


def prior_days(
    partition: list[str] | str, date_column: str, days: int, include_today: bool = False
) -> WindowSpec:
    """The ``days`` calendar days before each row's date (ending the day before, or the day itself)."""
    partition = [partition] if isinstance(partition, str) else partition
    end = 0 if include_today else -1
    return (
        Window.partitionBy(*partition)
        .orderBy(day_number(date_column))
        .rangeBetween(-days + (1 if include_today else 0), end)
    )


def ratio(numerator: Column, denominator: Column) -> Column:
    """``numerator / denominator``, null where the denominator is 0 or null."""
    return F.when(denominator.isNull() | (denominator == 0), F.lit(None).cast("double")).otherwise(
        numerator.cast("double") / denominator.cast("double")
    )


def zscore(value: Column, mean: Column, std: Column) -> Column:
    """How many standard deviations ``value`` is from ``mean``; 0 when the history is flat."""
    return (
        F.when(std.isNull(), F.lit(None).cast("double"))
        .when(std == 0, F.lit(0.0))
        .otherwise((value.cast("double") - mean) / std)
    )


def previous(column: str, partition: list[str] | str, order: str, offset: int = 1) -> Column:
    partition = [partition] if isinstance(partition, str) else partition
    return F.lag(column, offset).over(Window.partitionBy(*partition).orderBy(order))


def calendar(date_column: str) -> list[Column]:
    """Day of week (1=Sunday..7), weekend and month-end flags, and the cyclic day-of-week encoding."""
    dow = F.dayofweek(date_column)
    return [
        dow.alias("day_of_week"),
        dow.isin(1, 7).cast("int").alias("is_weekend"),
        (F.dayofmonth(date_column) >= 25).cast("int").alias("is_month_end"),
        F.sin(2 * 3.141592653589793 * dow / 7).alias("dow_sin"),
        F.cos(2 * 3.141592653589793 * dow / 7).alias("dow_cos"),
    ]


def with_next_day(days: DataFrame, key: str, date_column: str, active_within_days: int = 0) -> DataFrame:
    """``days`` (``key``, ``date_column``) plus the day after the latest date for every ``key``
    seen within ``active_within_days`` of it (the day to forecast), each with ``as_of_date``, the
    day before: the timestamp to look features up at."""
    last = days.groupBy(key).agg(F.max(date_column).alias("__last"))
    horizon = days.agg(F.max(date_column).alias("__horizon"))
    upcoming = (
        last.crossJoin(horizon)
        .where(F.col("__last") >= F.date_sub("__horizon", active_within_days))
        .select(key, F.date_add("__horizon", 1).alias(date_column))
    )
    return days.unionByName(upcoming).distinct().withColumn("as_of_date", F.date_sub(date_column, 1))


def version_as_of(
    rows: DataFrame,
    versions: DataFrame,
    key: str,
    date_column: str,
    columns: dict[str, Column],
    version_time: str = "change_time",
    count_as: str | None = None,
) -> DataFrame:
    """For each ``(key, date_column)`` of ``rows``, ``columns`` computed on the latest version in
    ``versions`` (an SCD2 dimension) known by the end of that day: changed at or before the next
    midnight, as :class:`~health_monitor.testing.pointintime.GoldAsOf` sees Gold. A day before the
    first known version gets nulls, never a later version's values. ``count_as`` names an extra
    column counting the versions known by then. Returns ``key``, ``date_column`` and the named
    columns."""
    day_end = F.to_timestamp(F.date_add(F.col(date_column), 1))
    aggs = [F.max_by(column, version_time).alias(name) for name, column in columns.items()]
    if count_as is not None:
        aggs.append(F.count(F.lit(1)).alias(count_as))
    pairs = rows.select(key, date_column).distinct()
    picked = (
        pairs.join(versions, key).where(F.col(version_time) <= day_end).groupBy(key, date_column).agg(*aggs)
    )
    return pairs.join(picked, [key, date_column], "left")


def version_at(
    rows: DataFrame,
    versions: DataFrame,
    key: str,
    at: str,
    row_key: str,
    columns: dict[str, Column | str],
    version_time: str = "change_time",
) -> DataFrame:
    """``rows`` with ``columns`` computed on the version in ``versions`` (an SCD2 dimension keyed by
    ``key``, e.g. ``dim_cluster`` by ``cluster_id``) in force at each row's ``at`` timestamp: the
    latest changed at or before it. A row before its key's first version, or without a key, gets
    nulls. ``row_key`` is unique per row of ``rows``. The columns are computed on the versions
    before the join; each is picked by ``max_by``, so a number is picked by a hash aggregate where
    text would need a sort. :func:`version_as_of` does the same for days."""
    computed = [(F.col(c) if isinstance(c, str) else c).alias(name) for name, c in columns.items()]
    found = (
        rows.select(row_key, key, at)
        .join(versions.select(key, version_time, *computed), key)
        .where(F.col(version_time) <= F.col(at))
        .groupBy(row_key)
        .agg(*(F.max_by(n, version_time).alias(n) for n in columns))
    )
    return rows.join(found, row_key, "left")


def window_median(column: str, window: WindowSpec) -> Column:
    """The median of ``column`` over a framed window (Spark's median cannot take a frame): the
    mean of the two middle values of an even count; null over an empty frame. The frame's values
    (nulls are not collected) are sorted by ``sort_array``, which Spark compiles, not by
    ``array_sort``, whose comparator it interprets row by row (docs/scale.md, session 49)."""
    values = F.sort_array(F.collect_list(column).over(window))
    n = F.size(values)
    lower = F.element_at(values, F.floor((n - 1) / 2).cast("int") + 1)
    upper = F.element_at(values, F.floor(n / 2).cast("int") + 1)
    return F.when(n > 0, (lower + upper) / 2.0)


def dbr_number(column: str) -> Column:
    """A Databricks Runtime version as a number: ``"15.4.x-scala2.12"`` -> 15.4; photon and ML
    variants keep their numeric prefix; null when there is none (serverless) or the text has no
    number (ANSI SQL would raise on casting the empty match)."""
    number = F.regexp_extract(F.col(column), r"^(\d+\.\d+)", 1)
    return F.when(number != "", number.cast("double"))


# The per-run columns :func:`finished_job_runs` keeps: each plugin that reads job runs reads these.
JOB_RUN_COLUMNS = ("termination_code", "trigger_type", "run_type", "cluster_id")
# What is set when a run starts: :func:`timeline_runs` also gives their first slice's value.
RUN_START_COLUMNS = ("trigger_type", "cluster_id")


def timeline_runs(tables: Tables) -> DataFrame:
    """Every job run of Gold's run timeline, finished or still running, rebuilt once a stage for
    every plugin and table that asks (``Tables.shared``: the rebuild sorts every slice of the
    timeline). Returns ``workspace_id``, ``job_id``, ``run_id``, ``start_time`` (of the first
    slice), ``end_time`` (of the last so far), ``result_state`` (null until the run ends),
    :data:`JOB_RUN_COLUMNS` (their non-null value) and, for each of :data:`RUN_START_COLUMNS`,
    ``first_<column>``: its first slice's value."""
    timeline = tables.gold("fact_job_run_timeline")
    first = [F.min_by(c, "period_start_time").alias(f"first_{c}") for c in RUN_START_COLUMNS]
    return tables.shared(_run_slices(timeline, JOB_RUN_COLUMNS, *first))


def finished_job_runs(tables: Tables) -> DataFrame:
    """Every finished job run of Gold's run timeline, as :func:`runs_from_timeline` with
    :data:`JOB_RUN_COLUMNS` gives it, from the runs :func:`timeline_runs` rebuilt once a stage."""
    runs = timeline_runs(tables)
    return _finished(runs.drop(*(f"first_{c}" for c in RUN_START_COLUMNS)))


def _run_slices(timeline: DataFrame, columns: tuple[str, ...], *more: Column) -> DataFrame:
    return timeline.groupBy("workspace_id", "job_id", "run_id").agg(
        F.min("period_start_time").alias("start_time"),
        F.max("period_end_time").alias("end_time"),
        F.max("result_state").alias("result_state"),
        *(F.max(column).alias(column) for column in columns),
        *more,
    )


def _finished(runs: DataFrame) -> DataFrame:
    return (
        runs.where(F.col("result_state").isNotNull())
        .withColumn("duration_sec", F.unix_timestamp("end_time") - F.unix_timestamp("start_time"))
        .withColumn("failed", F.col("result_state").isin(*FAILURE_STATES).cast("int"))
    )


def runs_from_timeline(timeline: DataFrame, *columns: str) -> DataFrame:
    """One row per finished job run, rebuilt from ``fact_job_run_timeline`` (a run is sliced by
    the hour; its ``result_state`` is set on the final slice only, so unfinished runs are left
    out). Returns ``workspace_id``, ``job_id``, ``run_id``, ``start_time`` (of the first slice),
    ``end_time`` (of the last), ``result_state``, the named per-run ``columns`` (their non-null
    value), ``duration_sec`` (whole seconds) and ``failed`` (1 for :data:`FAILURE_STATES`)."""
    return _finished(_run_slices(timeline, columns))
