"""How a table's files are laid out by day: rows filed in contiguous days, so that rewriting the
latest days (``replace_where``) touches only the files that hold them. Spark only (no files of
either home), so the pipelines may use it as well as the lakehouse adapters."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# A table clustered by day is written as files of contiguous days, each of about a week or of at
# least this many rows: replacing the latest days rewrites one such file, not the table.
CLUSTER_FILE_ROWS = 100_000
CLUSTER_FILE_DAYS = 7


@dataclass(frozen=True)
class Span:
    """How many rows a write holds and the days they cover (None: no rows or no dates)."""

    rows: int
    first: dt.date | None
    last: dt.date | None

    @classmethod
    def of(cls, df: DataFrame, day) -> Span:
        """``df``'s rows and the first and last of its dates ``day`` (a column), counted in one job."""
        from pyspark.sql import functions as F

        found = df.agg(F.count(F.lit(1)).alias("rows"), F.min(day).alias("first"), F.max(day).alias("last"))
        row = found.collect()[0]
        return cls(row["rows"], row["first"], row["last"])

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1 if self.first and self.last else 1

    def union(self, other: Span) -> Span:
        firsts = [d for d in (self.first, other.first) if d is not None]
        lasts = [d for d in (self.last, other.last) if d is not None]
        return Span(self.rows + other.rows, min(firsts, default=None), max(lasts, default=None))


def by_day(df: DataFrame, column: str, span: Span | None = None, at_hand: bool = False) -> DataFrame:
    """``df`` arranged so that each of its partitions, written as one file, holds whole and
    contiguous days of ``column`` (a date or timestamp): a range shuffle by day into a partition
    per CLUSTER_FILE_DAYS days or CLUSTER_FILE_ROWS rows, whichever makes fewer, each sorted by
    day. ``span`` is the caller's count of the rows and days when it has one (else one job counts
    them); ``at_hand`` says the rows are cheap to read again (cached, or a few files), so that one
    file's worth is merged in one task without a shuffle."""
    from pyspark.sql import functions as F

    day = F.to_date(F.col(column))
    if span is None:
        span = Span.of(df, day)
    files = max(1, min(math.ceil(span.days / CLUSTER_FILE_DAYS), math.ceil(span.rows / CLUSTER_FILE_ROWS)))
    df = df.coalesce(1) if files == 1 and at_hand else df.repartitionByRange(files, day)
    return df.sortWithinPartitions(day)
