"""Cost labels: spike days (ground truth), spend to come (Gold billing after the fact) and team tags."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import Labels, Tables
from health_monitor.sdk.featurekit import day_number
from health_monitor_cost.job_features import job_usage

SPIKES = ("cost_spike_runaway_job", "cost_spike_forgotten_cluster", "cost_spike_wrong_sku")


def incident_days(tables: Tables, types: tuple[str, ...]):
    """(workspace_id, usage_date) of every day an incident of ``types`` was under way."""
    incidents = tables.ground_truth("incidents").where(F.col("incident_type").isin(*types))
    last_instant = F.greatest(F.col("start_time"), F.col("end_time") - F.expr("INTERVAL 1 MICROSECOND"))
    return (
        incidents.where(F.col("workspace_id").isNotNull())
        .select(
            "workspace_id",
            # end_time is the exclusive bound of the last affected day (midnight after it).
            F.explode(F.sequence(F.to_date("start_time"), F.to_date(last_instant))).alias("usage_date"),
        )
        .distinct()
    )


def cost_anomaly_labels(tables: Tables):
    if not tables.has_ground_truth():
        return None
    keys = tables.features("cost_features").select("workspace_id", "usage_date")
    spikes = incident_days(tables, SPIKES).withColumn("label", F.lit(1))
    return keys.join(spikes, ["workspace_id", "usage_date"], "left").select(
        "workspace_id", "usage_date", F.coalesce("label", F.lit(0)).alias("label")
    )


COST_ANOMALY_LABELS = Labels(
    model="cost_anomaly_detector",
    compute=cost_anomaly_labels,
    incidents={
        "cost_spike_runaway_job": "job",
        "cost_spike_forgotten_cluster": "cluster",
        "cost_spike_wrong_sku": "job",
    },
    description="1 on workspace-days of a known cost spike (runaway job, forgotten cluster, wrong SKU).",
)


def _final_daily_cost(tables: Tables):
    """Final list cost per workspace and usage day: every record type, however late it landed."""
    return (
        tables.gold("fact_usage").groupBy("workspace_id", "usage_date").agg(F.sum("list_cost").alias("cost"))
    )


def _forecast_days(tables: Tables):
    """(workspace_id, forecast_date): the day after each spend_features row."""
    return tables.features("spend_features").select(
        "workspace_id", F.date_add("usage_date", 1).alias("forecast_date")
    )


def budget_labels(tables: Tables):
    """The final list cost of the calendar month a forecast date falls in, for months the data
    covers from their first to their last day."""
    daily = _final_daily_cost(tables)
    span = daily.agg(F.min("usage_date").alias("first"), F.max("usage_date").alias("last"))
    months = (
        daily.groupBy("workspace_id", F.trunc("usage_date", "month").alias("month"))
        .agg(F.sum("cost").alias("label"))
        .crossJoin(span)
        .where((F.col("month") >= F.col("first")) & (F.last_day("month") <= F.col("last")))
        .select("workspace_id", "month", "label")
    )
    return (
        _forecast_days(tables)
        .withColumn("month", F.trunc("forecast_date", "month"))
        .join(months, ["workspace_id", "month"])
        .select("workspace_id", "forecast_date", "label")
    )


BUDGET_LABELS = Labels(
    model="budget_forecaster",
    compute=budget_labels,
    description="Final list cost of the workspace's calendar month (complete months only).",
)

COMMIT_HORIZON_DAYS = 30


def commitment_labels(tables: Tables):
    """The final list cost of the 30 days starting at the forecast date, where all are observed."""
    daily = _final_daily_cost(tables)
    ahead = (
        Window.partitionBy("workspace_id")
        .orderBy(day_number("usage_date"))
        .rangeBetween(0, COMMIT_HORIZON_DAYS - 1)
    )
    last = daily.agg(F.max("usage_date").alias("last"))
    sums = (
        daily.select("workspace_id", "usage_date", F.sum("cost").over(ahead).alias("label"))
        .crossJoin(last)
        .where(F.date_add("usage_date", COMMIT_HORIZON_DAYS - 1) <= F.col("last"))
        .select("workspace_id", F.col("usage_date").alias("forecast_date"), "label")
    )
    return _forecast_days(tables).join(sums, ["workspace_id", "forecast_date"])


COMMITMENT_LABELS = Labels(
    model="commitment_recommender",
    compute=commitment_labels,
    description="Final list cost of the workspace's next 30 days from the forecast date.",
)


def job_cost_labels(tables: Tables):
    """The final list cost of a job on a day it was billed (corrections included)."""
    return (
        job_usage(tables)
        .groupBy("workspace_id", "job_id", F.col("usage_date").alias("forecast_date"))
        .agg(F.sum("list_cost").alias("label"))
        .where(F.col("label") > 0)
    )


JOB_COST_LABELS = Labels(
    model="job_cost_optimizer",
    compute=job_cost_labels,
    description="Final list cost of the job on the forecast day (days it was billed).",
)


def tag_labels(tables: Tables):
    """The team tag of each tagged resource."""
    return (
        tables.features("resource_tag_features")
        .where(F.col("team").isNotNull())
        .select("resource_type", "resource_id", F.col("team").alias("label"))
    )


TAG_LABELS = Labels(
    model="tag_recommender",
    compute=tag_labels,
    description="The team tag on the billing rows of tagged resources.",
)


def chargeback_labels(tables: Tables):
    """The team tag of the resource, on each day of its tagged spend."""
    return (
        tables.features("resource_daily_spend")
        .where(F.col("is_tagged") == 1)
        .join(tag_labels(tables), ["resource_type", "resource_id"])
        .select("resource_type", "resource_id", "usage_date", "label")
    )


CHARGEBACK_LABELS = Labels(
    model="chargeback_attribution",
    compute=chargeback_labels,
    description="The team tag of tagged spend, per resource and day.",
)
