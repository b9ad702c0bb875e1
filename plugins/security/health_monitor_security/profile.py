"""Each user's own activity profile, one row per calendar day, for forecasting the next day."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, prior_days
from health_monitor_security.features import user_audit

PROFILE_DAYS = 28  # the longest window of the profile: the 28 days up to a day


def daily_events(tables: Tables):
    """Audit events per user on the days they were active (``user_id``, ``event_date``, ``events``)."""
    return user_audit(tables).groupBy("user_id", "event_date").agg(F.count(F.lit(1)).alias("events"))


def user_activity_profile(tables: Tables):
    daily = daily_events(tables)
    # Dense: every calendar day from the user's first day to the last day seen, so an as-of lookup
    # at day d - 1 lands on d - 1 itself and "days" count calendar days.
    horizon = daily.agg(F.max("event_date").alias("horizon"))
    grid = (
        daily.groupBy("user_id")
        .agg(F.min("event_date").alias("first"))
        .crossJoin(horizon)
        .select("user_id", F.explode(F.sequence("first", "horizon")).alias("event_date"))
    )
    days = grid.join(daily, ["user_id", "event_date"], "left")
    active = F.col("events").isNotNull()
    weekend = F.dayofweek("event_date").isin(1, 7)
    w7 = prior_days("user_id", "event_date", 7, include_today=True)
    w28 = prior_days("user_id", "event_date", 28, include_today=True)
    upto = Window.partitionBy("user_id").orderBy("event_date").rowsBetween(Window.unboundedPreceding, 0)
    # The all-time features over every day of the user's history, then the 7- and 28-day
    # profile only over the days kept and the 28 before them.
    days = days.select(
        "*",
        F.last("events", ignorenulls=True).over(upto).alias("last_active_events"),
        F.count("events")
        .over(Window.partitionBy("user_id").orderBy("event_date"))
        .alias("active_days_total"),
    )
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
