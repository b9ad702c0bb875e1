"""Billing as it was known on a day.

Billing rows land after the usage they bill (``fact_usage.ingestion_date``): about 70% on the
usage day, the rest the day after, and corrections (RETRACTION/RESTATEMENT) up to a week later.
A feature row of day ``d`` may only sum rows ingested by the end of ``d``. Two views of a day
``u`` keep every window point-in-time without a range join over ingestion dates:

- *same-day*: the rows of ``u`` ingested on ``u``: what the row of ``u`` itself can see;
- *settled*: the rows of ``u`` ingested by ``u + 1`` (every original record): what any later
  row sees of ``u``. Corrections that land later are left out of features (~0.4% of records,
  netting to about zero); labels, read after the fact, include them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def known_same_day() -> Column:
    """True on rows ingested on their usage day."""
    return F.col("ingestion_date") <= F.col("usage_date")


def known_next_day() -> Column:
    """True on rows ingested by the day after their usage day."""
    return F.col("ingestion_date") <= F.date_add(F.col("usage_date"), 1)


def same_day(value: Column) -> Column:
    """``value`` on rows ingested on their usage day, else 0 (to sum)."""
    return F.when(known_same_day(), value).otherwise(F.lit(0.0))


def settled(value: Column) -> Column:
    """``value`` on rows ingested by the day after their usage day, else 0 (to sum)."""
    return F.when(known_next_day(), value).otherwise(F.lit(0.0))


def dense_days(usage: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``usage_date`` for every calendar day from the key's first billed day known
    (its first ingestion) to the latest usage day of the whole table, so that lags and windows
    count calendar days and the row set up to any cutoff does not depend on later rows."""
    first = usage.groupBy(*keys).agg(F.min("ingestion_date").alias("__first"))
    last = usage.agg(F.max("usage_date").alias("__last"))
    return first.crossJoin(last).select(*keys, F.explode(F.sequence("__first", "__last")).alias("usage_date"))


def team_tag() -> Column:
    """The ``team`` tag of a billing row (null when untagged or without one)."""
    return F.element_at(F.col("custom_tags"), F.lit("team"))
