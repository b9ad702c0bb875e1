"""Small Spark helpers for point-in-time features, shared by every plugin.

Windows here are by calendar days (``rangeBetween`` on a day number), so gaps in a series
do not stretch a "7-day" window over weeks, and "prior" windows end the day before the row.
Spark 4 runs ANSI SQL, where division by zero raises: use :func:`ratio`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F


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
