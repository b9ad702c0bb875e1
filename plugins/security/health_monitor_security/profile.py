"""Each user's own activity profile, one row per calendar day, for forecasting the next day."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, latest_stored, prior_days
from health_monitor_security.features import user_audit

PROFILE_DAYS = 28  # the longest window of the profile: the 28 days up to a day


def daily_events(tables: Tables, days_before: int | None = None):
    """Audit events per user on the days they were active (``user_id``, ``event_date``, ``events``);
    with ``days_before``, from that many days before the first day kept (:func:`kept_days`)."""
    audit = user_audit(tables)
    if days_before is not None:
        audit = kept_days(audit, tables, "event_date", days_before)
    return audit.groupBy("user_id", "event_date").agg(F.count(F.lit(1)).alias("events"))


# The all-time figures a daily run goes on from: each user's latest stored row before the days kept.
CARRIED = ["last_active_events", "active_days_total"]


def _dense(daily, starts=None):
    """Every calendar day from each user's start (``starts``: ``user_id``, ``first``; by default
    the user's first active day in ``daily``) to the last day of ``daily``, with the day's events
    (null when inactive)."""
    horizon = daily.agg(F.max("event_date").alias("horizon"))
    if starts is None:
        starts = daily.groupBy("user_id").agg(F.min("event_date").alias("first"))
    grid = starts.crossJoin(horizon).select(
        "user_id", F.explode(F.sequence("first", "horizon")).alias("event_date")
    )
    return grid.join(daily, ["user_id", "event_date"], "left")


def _all_days(tables: Tables):
    """Every calendar day from each user's first active day to the last day seen, with the day's
    events and the all-time figures up to it, over the whole history."""
    upto = Window.partitionBy("user_id").orderBy("event_date").rowsBetween(Window.unboundedPreceding, 0)
    return _dense(daily_events(tables)).select(
        "*",
        F.last("events", ignorenulls=True).over(upto).alias("last_active_events"),
        F.count("events").over(upto).alias("active_days_total"),
    )


def _recent_days(tables: Tables, carried, since: dt.date):
    """What :func:`_all_days` gives from PROFILE_DAYS before ``since`` (the first day kept) on, from those
    days of the audit log and ``carried`` (``featurekit.latest_stored``): a user seen before those
    days (a stored row before them) has a row on every one of them; the all-time figures of the
    days after a user's stored row go on from it. The days up to the stored row (before the first
    day kept) have the window's events only."""
    first = since - dt.timedelta(days=PROFILE_DAYS)
    daily = daily_events(tables, PROFILE_DAYS)
    seen_before = (
        tables.features("user_activity_profile")
        .where(F.col("event_date") < F.lit(first))
        .select("user_id", F.lit(first).alias("first"))
        .distinct()
    )
    starts = (
        daily.groupBy("user_id")
        .agg(F.min("event_date").alias("first"))
        .unionByName(seen_before)
        .groupBy("user_id")
        .agg(F.min("first").alias("first"))
    )
    days = _dense(daily, starts).join(carried, "user_id", "left")
    after = F.col("stored_day").isNull() | (F.col("event_date") > F.col("stored_day"))
    upto = (
        Window.partitionBy("user_id", after).orderBy("event_date").rowsBetween(Window.unboundedPreceding, 0)
    )
    return days.select(
        "user_id",
        "event_date",
        "events",
        F.coalesce(F.last("events", ignorenulls=True).over(upto), F.col("stored_last_active_events")).alias(
            "last_active_events"
        ),
        (F.count("events").over(upto) + F.coalesce("stored_active_days_total", F.lit(0))).alias(
            "active_days_total"
        ),
    )


def user_activity_profile(tables: Tables):
    # Dense: every calendar day from the user's first day to the last day seen, so an as-of lookup
    # at day d - 1 lands on d - 1 itself and "days" count calendar days. The all-time features
    # over every day of the user's history (or going on from the stored ones), then the 7- and
    # 28-day profile only over the days kept and the 28 before them.
    since = tables.rows_from()
    carried = latest_stored(tables, "user_activity_profile", "user_id", "event_date", CARRIED)
    days = _all_days(tables) if carried is None or since is None else _recent_days(tables, carried, since)
    active = F.col("events").isNotNull()
    weekend = F.dayofweek("event_date").isin(1, 7)
    w7 = prior_days("user_id", "event_date", 7, include_today=True)
    w28 = prior_days("user_id", "event_date", 28, include_today=True)
    hist = kept_days(days, tables, "event_date", PROFILE_DAYS).select(
        "user_id",
        "event_date",
        F.coalesce("events", F.lit(0)).alias("events_today"),
        "last_active_events",
        F.avg("events").over(w7).alias("avg_active_events_7d"),
        F.avg("events").over(w28).alias("avg_active_events_28d"),
        F.stddev("events").over(w28).alias("std_active_events_28d"),
        F.expr("percentile_approx(events, 0.5, 100)").over(w28).alias("median_active_events_28d"),
        F.avg(F.when(~weekend, F.col("events"))).over(w28).alias("avg_weekday_events_28d"),
        F.avg(F.when(weekend, F.col("events"))).over(w28).alias("avg_weekend_events_28d"),
        F.avg(active.cast("double")).over(w28).alias("active_share_28d"),
        F.avg(F.when(~weekend, active.cast("double"))).over(w28).alias("weekday_active_share_28d"),
        "active_days_total",
    )
    # The next day's calendar: known in advance, read by a forecast made at the end of this day.
    nxt = F.date_add("event_date", 1)
    next_weekend = F.dayofweek(nxt).isin(1, 7)
    return hist.select(
        "*",
        F.dayofweek(nxt).alias("next_day_of_week"),
        next_weekend.cast("int").alias("next_is_weekend"),
        F.datediff(F.last_day(nxt), nxt).alias("next_days_to_month_end"),
        F.coalesce(
            F.when(next_weekend, F.col("avg_weekend_events_28d")).otherwise(F.col("avg_weekday_events_28d")),
            F.col("avg_active_events_28d"),
        ).alias("next_day_type_avg_28d"),
    )


USER_ACTIVITY_PROFILE = FeatureTable(
    name="user_activity_profile",
    domain="security",
    primary_keys=("user_id", "event_date"),
    timestamp_key="event_date",
    compute=user_activity_profile,
    description=(
        "Each user's audit activity per calendar day with their own 7- and 28-day profile (mean, "
        "median, spread, weekday vs weekend, active share) and the next day's calendar."
    ),
    sources=("fact_audit_logs",),
)
