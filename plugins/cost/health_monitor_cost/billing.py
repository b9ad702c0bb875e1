"""Billing as it was known on a day, whatever the lag of the billing feed.

Billing rows land after the usage they bill (``fact_usage.ingestion_date``): on the simulated
account about 70% on the usage day and the rest the day after; on real accounts the feed is
often a day or more late (the docs promise 12 hours); corrections (RETRACTION/RESTATEMENT) come
up to a week later. A feature row known at the end of day ``d`` may only sum rows ingested by
the end of ``d``.

- The **billing lag** of a workspace on day ``d`` (:func:`billing_lag`, column
  ``billing_lag_days``, 0 to :data:`MAX_LAG_DAYS`) is how many days after its usage day at
  least half of a day's original records have landed, measured over the records ingested in
  the :data:`LAG_WINDOW_DAYS` days up to ``d``. Only rows ingested by ``d`` are read.
- A usage day ``u`` is **judged** (:func:`judged_days`) on the first day ``d`` by which the lag
  makes it known (``d - lag >= u``) and some billing row of the account for ``u`` or later has
  landed, at lag ``k = d - u``: with a feed one day late, Monday is judged on Tuesday with the
  rows that landed by Tuesday. When the whole account's feed falls behind, days are held back
  at once; when one workspace's feed falls behind the others', its days are judged at the old
  lag (on what has landed) until the lag measured turns, after about half the window.
- A day ``d`` of a table that forecasts from what is known (spend, job cost) is **anchored**
  (:func:`anchored_days`) to ``d - lag``: billing is known up to there.

At lag ``k`` two views of a usage day keep every window point-in-time without a range join
over ingestion dates (:func:`lag_views` repeats the rows once per lag in use):

- *first report*: the rows of ``u`` ingested within ``k`` days (by ``u + k``);
- *settled*: the rows of ``u`` ingested within ``k + 1`` days (every original record on the
  simulated account): what any later day sees of ``u`` at that lag. Corrections that land
  later are left out of features (~0.4% of records, netting to about zero); labels, read after
  the fact, include them.

With a lag of 0 this is the same-day / next-day split of a feed that lands on time.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from health_monitor.sdk.featurekit import day_number

LAG = "billing_lag_days"
MAX_LAG_DAYS = 3  # a usage day not known this many days after it is never judged
LAG_WINDOW_DAYS = 14  # ingestion days the lag is measured over


def _delay() -> Column:
    return F.datediff("ingestion_date", "usage_date")


def in_first_report() -> Column:
    """True on rows ingested within the row's ``billing_lag_days`` of their usage day."""
    return _delay() <= F.col(LAG)


def first_report(value: Column) -> Column:
    """``value`` on rows of the first report (see :func:`in_first_report`), else 0 (to sum)."""
    return F.when(in_first_report(), value).otherwise(F.lit(0.0))


def settled(value: Column) -> Column:
    """``value`` on rows ingested within ``billing_lag_days + 1`` days of their usage day, else 0
    (to sum)."""
    return F.when(_delay() <= F.col(LAG) + 1, value).otherwise(F.lit(0.0))


def billing_lag(usage: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``as_of_date`` + ``billing_lag_days`` + ``__latest_usage`` for every day from
    the key's first ingestion to the table's last. The lag is the fewest days (at most
    :data:`MAX_LAG_DAYS`) within which at least half of the key's original records ingested over
    the last :data:`LAG_WINDOW_DAYS` days landed; a window with none keeps the previous lag.
    ``__latest_usage`` is the latest usage day of any row (any key) ingested by ``as_of_date``."""
    original = F.col("record_type") == "ORIGINAL"
    ingested = usage.groupBy(*keys, F.col("ingestion_date").alias("as_of_date")).agg(
        F.count(F.when(original, True)).alias("__all"),
        *[
            F.count(F.when(original & (_delay() <= k), True)).alias(f"__within_{k}")
            for k in range(MAX_LAG_DAYS)
        ],
        F.max("usage_date").alias("__u"),
    )
    # Every key's days start at the account's first ingestion, so that the running maximum of
    # the latest usage day sees the whole account; days before the key's own first are dropped.
    account = ingested.groupBy("as_of_date").agg(F.max("__u").alias("__u_all"))
    span = ingested.agg(F.min("as_of_date").alias("__a"), F.max("as_of_date").alias("__b"))
    firsts = ingested.groupBy(*keys).agg(F.min("as_of_date").alias("__first"))
    days = firsts.crossJoin(span).select(
        *keys, "__first", F.explode(F.sequence("__a", "__b")).alias("as_of_date")
    )
    ordered = Window.partitionBy(*keys).orderBy(day_number("as_of_date"))
    recent = ordered.rangeBetween(-(LAG_WINDOW_DAYS - 1), 0)
    total = F.sum("__all").over(recent)
    lag = F.lit(MAX_LAG_DAYS)
    for k in reversed(range(MAX_LAG_DAYS)):
        lag = F.when(F.sum(f"__within_{k}").over(recent) * 2 >= total, F.lit(k)).otherwise(lag)
    upto = ordered.rowsBetween(Window.unboundedPreceding, 0)
    measured = (
        days.join(ingested.drop("__u"), [*keys, "as_of_date"], "left")
        .join(account, "as_of_date", "left")
        .select(
            *keys,
            "as_of_date",
            "__first",
            F.when(total > 0, lag).alias("__lag"),
            F.max("__u_all").over(upto).alias("__latest_usage"),
        )
    )
    return (
        measured.select(
            *keys,
            "as_of_date",
            F.coalesce(F.last("__lag", ignorenulls=True).over(upto), F.lit(0)).alias(LAG),
            "__latest_usage",
            "__first",
        )
        .where(F.col("as_of_date") >= F.col("__first"))
        .drop("__first")
    )


STALL_REPORT_DAYS = 30  # a workspace quiet for longer than this is taken as gone, not late


def lag_warnings(rows: DataFrame) -> list[str]:
    """What a user should know of the billing feed, from judged rows (``workspace_id``,
    ``usage_date``, ``as_of_date``, ``billing_lag_days``): each workspace whose billing lands
    late on the latest day, and each whose usage days stopped being judged recently (its feed
    stalled past :data:`MAX_LAG_DAYS`, or it has had no usage). One row per workspace is collected."""
    latest = Window.partitionBy("workspace_id").orderBy(F.col("as_of_date").desc())
    per_workspace = (
        rows.select(
            "workspace_id",
            F.first(LAG).over(latest).alias("lag"),
            F.max("usage_date").over(Window.partitionBy("workspace_id")).alias("last_judged"),
            F.max("usage_date").over(Window.partitionBy()).alias("account_last"),
        )
        .groupBy("workspace_id")
        .agg(
            F.first("lag").alias("lag"),
            F.first("last_judged").alias("last"),
            F.first("account_last").alias("end"),
        )
        .orderBy("workspace_id")
        # driver-read: one row per workspace
        .collect()
    )
    out = []
    for r in per_workspace:
        behind = (r["end"] - r["last"]).days
        if MAX_LAG_DAYS < behind <= STALL_REPORT_DAYS:
            out.append(
                f"workspace {r['workspace_id']}: no usage day judged after {r['last']} ({behind} days behind the "
                f"account); its billing stopped arriving or it had no usage. A day not known within "
                f"{MAX_LAG_DAYS} days is never judged"
            )
        elif r["lag"]:
            out.append(
                f"workspace {r['workspace_id']}: billing lands {r['lag']} day(s) after usage; its days are "
                f"judged {r['lag']} day(s) late"
            )
    return out


def anchored_days(lags: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``as_of_date`` + ``billing_lag_days`` + ``usage_date``: each day ``d`` of
    :func:`billing_lag` with the usage day its billing is known to, ``d - lag`` (the *anchor*);
    days whose anchor has no billing row of any key yet (past the end of the data) are left out."""
    anchor = F.date_sub("as_of_date", F.col(LAG))
    return lags.where(anchor <= F.col("__latest_usage")).select(
        *keys, "as_of_date", LAG, anchor.alias("usage_date")
    )


def judged_days(lags: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``usage_date`` + ``as_of_date`` + ``billing_lag_days``: every usage day once,
    on the first day ``d`` by which the lag makes it known (``d - lag >= usage_date``, and some
    row of that usage day or later has landed), at lag ``d - usage_date``. Usage days not reached
    within :data:`MAX_LAG_DAYS` (the feed stalled longer) are skipped."""
    frontier = F.least(F.date_sub("as_of_date", F.col(LAG)), F.col("__latest_usage"))
    ordered = Window.partitionBy(*keys).orderBy(day_number("as_of_date"))
    reached = lags.select(
        *keys,
        "as_of_date",
        F.max(frontier).over(ordered.rowsBetween(Window.unboundedPreceding, 0)).alias("__reached"),
        F.max(frontier).over(ordered.rowsBetween(Window.unboundedPreceding, -1)).alias("__before"),
    )
    after = F.coalesce(F.date_add("__before", 1), F.col("__reached"))
    start = F.greatest(after, F.date_sub("as_of_date", MAX_LAG_DAYS))
    days = F.when(start <= F.col("__reached"), F.sequence(start, F.col("__reached")))
    return reached.select(*keys, "as_of_date", F.explode(days).alias("usage_date")).select(
        *keys, "usage_date", "as_of_date", F.datediff("as_of_date", "usage_date").alias(LAG)
    )


def lags_in_use(rows: DataFrame) -> list[int]:
    """The billing lags ``rows`` hold (a few small ints). Collected at once, so that the lag
    views need not carry the lag measurement in every branch of their plan."""
    # driver-read: distinct billing lags, a few small integers
    found = sorted(r[0] for r in rows.select(LAG).distinct().collect())
    return found or [0]


def lag_views(usage: DataFrame, lags: list[int]) -> DataFrame:
    """The rows of ``usage`` once for each lag of ``lags`` (column ``billing_lag_days``) at
    which they are settled (ingested within lag + 1 days)."""
    each = F.explode(F.array(*[F.lit(k) for k in lags])).alias(LAG)
    return usage.where(_delay() <= max(lags) + 1).select("*", each).where(_delay() <= F.col(LAG) + 1)


def view_days(usage: DataFrame, lags: list[int], keys: list[str]) -> DataFrame:
    """``keys`` + ``billing_lag_days`` + ``usage_date`` for each lag of ``lags`` and every
    calendar day from the key's first ingestion minus the lag (the first usage day that lag can
    judge) to the latest usage day of the table, so that lags and windows count calendar days
    and the row set up to any cutoff does not depend on later rows."""
    first = usage.groupBy(*keys).agg(F.min("ingestion_date").alias("__first"))
    last = usage.agg(F.max("usage_date").alias("__last"))
    each = F.explode(F.array(*[F.lit(k) for k in lags])).alias(LAG)
    start = F.date_sub("__first", F.col(LAG))
    days = F.when(start <= F.col("__last"), F.sequence(start, F.col("__last")))
    return (
        first.crossJoin(last)
        .select(*keys, "__first", "__last", each)
        .select(*keys, LAG, F.explode(days).alias("usage_date"))
    )


def dense_days(usage: DataFrame, keys: list[str]) -> DataFrame:
    """``keys`` + ``usage_date`` for every calendar day from the key's first billed day known
    (its first ingestion) to the last ingestion of the whole table: the days a row can be known
    on, whatever the lag."""
    first = usage.groupBy(*keys).agg(F.min("ingestion_date").alias("__first"))
    last = usage.agg(F.max("ingestion_date").alias("__last"))
    return first.crossJoin(last).select(*keys, F.explode(F.sequence("__first", "__last")).alias("usage_date"))


def team_tag() -> Column:
    """The ``team`` tag of a billing row (null when untagged or without one)."""
    return F.element_at(F.col("custom_tags"), F.lit("team"))
