"""Cost feature tables: daily spend per workspace with point-in-time history."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.featurekit import calendar, previous, prior_days, ratio, zscore
from health_monitor.specs import FeatureTable, Tables

# Jobs compute lists at roughly 0.15-0.30 USD/DBU against 0.40-0.55 for all-purpose compute:
# moving a job off an all-purpose cluster saves about this share of its cost.
JOB_CLUSTER_SAVINGS_SHARE = 0.6


def cost_features(tables: Tables):
    usage = tables.gold("fact_usage")
    # Usage on all-purpose compute carries no job_id (as in Databricks): a job running there is
    # found through the run timeline, on clusters not created by the job scheduler.
    interactive = (
        tables.gold("dim_cluster").where(F.col("cluster_source") != "JOB").select("cluster_id").distinct()
    )
    job_clusters = (
        tables.gold("fact_job_run_timeline")
        .select("cluster_id", F.to_date("period_start_time").alias("usage_date"))
        .join(interactive, "cluster_id")
        .distinct()
        .withColumn("runs_jobs", F.lit(True))
    )
    usage = usage.join(job_clusters, ["cluster_id", "usage_date"], "left")
    # Corrections (RETRACTION with negative quantities, RESTATEMENT) are summed in: the net is the bill.
    all_purpose = F.col("sku_name").contains("ALL_PURPOSE")
    daily = usage.groupBy("workspace_id", "usage_date").agg(
        F.sum("usage_quantity").alias("daily_dbu"),
        F.sum("list_cost").alias("daily_cost"),
        F.sum("effective_cost").alias("daily_effective_cost"),
        F.countDistinct("sku_name").alias("sku_count"),
        F.countDistinct("cluster_id").alias("active_cluster_count"),
        F.countDistinct("job_id").alias("job_count"),
        F.sum(F.when(F.col("product_features_is_serverless"), F.col("list_cost")).otherwise(0.0)).alias(
            "serverless_cost"
        ),
        F.sum(F.when(~F.col("is_tagged"), F.col("list_cost")).otherwise(0.0)).alias("untagged_cost"),
        F.sum(F.when(all_purpose, F.col("list_cost")).otherwise(0.0)).alias("all_purpose_cost"),
        F.sum(F.when(all_purpose & F.col("runs_jobs").isNotNull(), F.col("list_cost")).otherwise(0.0)).alias(
            "jobs_on_all_purpose_cost"
        ),
    )
    w7 = prior_days("workspace_id", "usage_date", 7)
    w30 = prior_days("workspace_id", "usage_date", 30)
    cost_per_dbu = ratio(F.col("daily_cost"), F.col("daily_dbu"))
    hist = daily.select(
        "*",
        F.avg("daily_dbu").over(w7).alias("avg_dbu_7d"),
        F.stddev("daily_dbu").over(w7).alias("std_dbu_7d"),
        F.avg("daily_cost").over(w7).alias("avg_cost_7d"),
        F.stddev("daily_cost").over(w7).alias("std_cost_7d"),
        F.avg("daily_dbu").over(w30).alias("avg_dbu_30d"),
        F.avg("daily_cost").over(w30).alias("avg_cost_30d"),
        F.avg(cost_per_dbu).over(w7).alias("avg_cost_per_dbu_7d"),
        F.avg("sku_count").over(w7).alias("avg_sku_count_7d"),
        previous("daily_dbu", "workspace_id", "usage_date").alias("dbu_lag_1d"),
        previous("daily_dbu", "workspace_id", "usage_date", 7).alias("dbu_lag_7d"),
    )
    return hist.select(
        "workspace_id",
        "usage_date",
        "daily_dbu",
        "daily_cost",
        "daily_effective_cost",
        "sku_count",
        "active_cluster_count",
        "job_count",
        "avg_dbu_7d",
        "avg_dbu_30d",
        "avg_cost_7d",
        "std_cost_7d",
        "dbu_lag_1d",
        "dbu_lag_7d",
        zscore(F.col("daily_cost"), F.col("avg_cost_7d"), F.col("std_cost_7d")).alias("z_score_7d"),
        ratio(F.col("daily_dbu") - F.col("dbu_lag_1d"), F.col("dbu_lag_1d")).alias("dbu_change_pct_1d"),
        ratio(F.col("daily_dbu") - F.col("avg_dbu_7d"), F.col("avg_dbu_7d")).alias("dbu_change_pct_7d"),
        ratio(F.col("daily_cost"), F.col("avg_cost_30d")).alias("cost_vs_30d_ratio"),
        ratio(cost_per_dbu, F.col("avg_cost_per_dbu_7d")).alias("cost_per_dbu_vs_7d"),
        (F.col("sku_count") - F.col("avg_sku_count_7d")).alias("sku_count_change_7d"),
        ratio(F.col("serverless_cost"), F.col("daily_cost")).alias("serverless_adoption_ratio"),
        ratio(F.col("untagged_cost"), F.col("daily_cost")).alias("untagged_cost_pct"),
        ratio(F.col("all_purpose_cost"), F.col("daily_cost")).alias("all_purpose_share"),
        F.col("jobs_on_all_purpose_cost"),
        ratio(F.col("jobs_on_all_purpose_cost"), F.col("all_purpose_cost")).alias(
            "all_purpose_inefficiency_ratio"
        ),
        (F.col("jobs_on_all_purpose_cost") * JOB_CLUSTER_SAVINGS_SHARE).alias(
            "potential_job_cluster_savings"
        ),
        *calendar("usage_date"),
    )


COST_FEATURES = FeatureTable(
    name="cost_features",
    primary_keys=("workspace_id", "usage_date"),
    timestamp_key="usage_date",
    compute=cost_features,
    description="Daily DBUs and list cost per workspace, with 7/30-day history that ends the day before.",
    sources=("fact_usage", "dim_cluster", "fact_job_run_timeline"),
)
