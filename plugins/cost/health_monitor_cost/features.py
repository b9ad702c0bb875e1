"""Workspace-day cost feature tables, each row as known at the end of its day.

A billing feed can land days late (see billing.py): ``cost_features`` judges each usage day on
the day its billing is known (``as_of_date``); ``spend_features`` describes each day's spend up
to the last usage day known. Both say the lag they were computed at (``billing_lag_days``).
"""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import calendar, previous, prior_days, ratio, window_median, zscore
from health_monitor_cost.billing import (
    LAG,
    anchored_days,
    billing_lag,
    first_report,
    in_first_report,
    judged_days,
    lag_views,
    lag_warnings,
    lags_in_use,
    settled,
    view_days,
)
from health_monitor_cost.outputs import JOB_CLUSTER_SAVINGS_SHARE

TYPICAL_DAYS = 28  # a job's typical billed day: the median of its days over this many before


def _jobs_on_all_purpose(tables: Tables):
    """(cluster_id, usage_date) of all-purpose clusters that ran a job that day. Usage on
    all-purpose compute carries no job_id (as in Databricks): the run timeline finds them."""
    interactive = (
        tables.gold("dim_cluster").where(F.col("cluster_source") != "JOB").select("cluster_id").distinct()
    )
    return (
        tables.gold("fact_job_run_timeline")
        .select("cluster_id", F.to_date("period_start_time").alias("usage_date"))
        .join(interactive, "cluster_id")
        .distinct()
        .withColumn("runs_jobs", F.lit(True))
    )


def _resource_spikes(reported):
    """Per workspace-day (and lag), the largest change of one job's cost and of one all-purpose
    cluster's billed hours against their own recent days (first reports): a runaway job or a
    cluster left running is a small part of a workspace's bill but a large change of its own.
    A job's ratio is to its typical day, the median of its billed days over the 28 before: a
    week of runs that failed early (each billing a fraction of a run) does not make the next
    full run a spike, as a ratio to the week's mean did."""
    keys = ["workspace_id", LAG, "usage_date"]
    jobs = (
        reported.where(F.col("job_id").isNotNull())
        .groupBy(*keys, "job_id")
        .agg(F.sum("list_cost").alias("c"))
    )
    job_days = ["workspace_id", LAG, "job_id"]
    week, month = prior_days(job_days, "usage_date", 7), prior_days(job_days, "usage_date", TYPICAL_DAYS)
    jobs = (
        jobs.select(
            *keys,
            (F.col("c") - F.coalesce(F.avg("c").over(week), F.col("c"))).alias("up"),
            ratio(F.col("c"), window_median("c", month)).alias("r"),
        )
        .groupBy(*keys)
        .agg(F.max("up").alias("max_job_cost_increase"), F.max("r").alias("max_job_cost_vs_typical"))
    )
    hours = (F.unix_timestamp("usage_end_time") - F.unix_timestamp("usage_start_time")) / 3600.0
    clusters = (
        reported.where(
            F.col("sku_name").contains("ALL_PURPOSE")
            & (F.col("record_type") == "ORIGINAL")
            & F.col("cluster_id").isNotNull()
        )
        .groupBy(*keys, "cluster_id")
        .agg(F.sum(hours).alias("h"))
    )
    w = prior_days(["workspace_id", LAG, "cluster_id"], "usage_date", 7)
    clusters = (
        clusters.select(*keys, "h", (F.col("h") - F.coalesce(F.avg("h").over(w), F.col("h"))).alias("up"))
        .groupBy(*keys)
        .agg(F.max("h").alias("max_cluster_hours"), F.max("up").alias("max_cluster_extra_hours"))
    )
    return jobs.join(clusters, keys, "full")


def cost_features(tables: Tables):
    usage = tables.gold("fact_usage")
    ws = ["workspace_id"]
    # The lag per workspace-day, measured once: the lags in use are collected from it before the
    # table's own job reads it again (kept, it is not computed twice from Gold).
    judged = judged_days(tables.shared(billing_lag(usage, ws)), ws)
    lags = lags_in_use(judged)
    # A day is judged by its first report (rows ingested within the lag: ~70% of its bill on a
    # feed that lands on time) and compared with the first reports of earlier days at the same
    # lag: like with like, and known on the day it is judged. Corrections that land within the
    # lag are summed in. Each lag in use is its own series (``billing_lag_days``).
    views = lag_views(usage, lags)
    keys = ["workspace_id", LAG, "usage_date"]
    api = (
        tables.gold("dim_cluster")
        .where(F.col("cluster_source") == "API")
        .select("cluster_id", F.lit(True).alias("api_cluster"))
        .distinct()
    )
    reported = (
        views.where(in_first_report())
        .join(_jobs_on_all_purpose(tables), ["cluster_id", "usage_date"], "left")
        .join(api, "cluster_id", "left")
    )
    all_purpose = F.col("sku_name").contains("ALL_PURPOSE")
    daily = reported.groupBy(*keys).agg(
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
        F.sum(F.when(F.col("billing_origin_product") == "JOBS", F.col("list_cost")).otherwise(0.0)).alias(
            "jobs_cost"
        ),
        F.sum(F.when(F.col("api_cluster").isNotNull(), F.col("list_cost")).otherwise(0.0)).alias(
            "api_cluster_cost"
        ),
        F.sum(F.when(all_purpose & F.col("runs_jobs").isNotNull(), F.col("list_cost")).otherwise(0.0)).alias(
            "jobs_on_all_purpose_cost"
        ),
    )
    # What the day after adds: a day's bill as known one day after it was judged (every
    # original record), for the days before the row's.
    settled_daily = views.groupBy(*keys).agg(F.sum(settled(F.col("list_cost"))).alias("settled_cost"))
    daily = (
        view_days(usage, lags, ws)
        .join(daily, keys, "left")
        .join(settled_daily, keys, "left")
        .fillna(0)
        .join(_resource_spikes(reported), keys, "left")
    )
    series = ["workspace_id", LAG]
    w7 = prior_days(series, "usage_date", 7)
    w30 = prior_days(series, "usage_date", 30)
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
        F.avg("settled_cost").over(w7).alias("avg_settled_cost_7d"),
        F.avg("jobs_cost").over(w7).alias("__jobs_avg_7d"),
        F.stddev("jobs_cost").over(w7).alias("__jobs_std_7d"),
        F.avg("all_purpose_cost").over(w7).alias("__ap_avg_7d"),
        F.stddev("all_purpose_cost").over(w7).alias("__ap_std_7d"),
        previous("daily_dbu", series, "usage_date").alias("dbu_lag_1d"),
        previous("daily_dbu", series, "usage_date", 7).alias("dbu_lag_7d"),
        previous("settled_cost", series, "usage_date").alias("prev_day_cost"),
    ).join(judged, keys)
    return hist.select(
        "workspace_id",
        "usage_date",
        "as_of_date",
        LAG,
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
        "prev_day_cost",
        "avg_settled_cost_7d",
        zscore(F.col("daily_cost"), F.col("avg_cost_7d"), F.col("std_cost_7d")).alias("z_score_7d"),
        zscore(F.col("jobs_cost"), F.col("__jobs_avg_7d"), F.col("__jobs_std_7d")).alias("jobs_cost_z_7d"),
        zscore(F.col("all_purpose_cost"), F.col("__ap_avg_7d"), F.col("__ap_std_7d")).alias(
            "all_purpose_cost_z_7d"
        ),
        ratio(F.col("jobs_on_all_purpose_cost"), F.col("daily_cost")).alias("jobs_on_all_purpose_share"),
        F.coalesce(ratio(F.col("max_job_cost_increase"), F.col("avg_cost_7d")), F.lit(0.0)).alias(
            "max_job_increase_vs_7d"
        ),
        F.coalesce("max_job_cost_vs_typical", F.lit(1.0)).alias("max_job_cost_vs_typical"),
        F.coalesce("max_cluster_hours", F.lit(0.0)).alias("max_cluster_hours"),
        ratio(F.col("api_cluster_cost"), F.col("daily_cost")).alias("api_cluster_cost_share"),
        F.coalesce("max_cluster_extra_hours", F.lit(0.0)).alias("max_cluster_extra_hours"),
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
    domain="cost",
    primary_keys=("workspace_id", "usage_date", "as_of_date"),
    timestamp_key="as_of_date",
    # A day's row reads first reports of the 30 usage days before its own (at most 3 days
    # before as_of_date) and the 14 ingestion days that measure the lag: 34 days of ingestion.
    lookback_days=34,
    compute=cost_features,
    description=(
        "Daily DBUs and list cost per workspace and usage day, judged on as_of_date, the first day "
        "the billing feed's lag (billing_lag_days = as_of_date - usage_date, 0 when billing lands on "
        "the usage day) makes the day known: as first reported (billing rows ingested within the "
        "lag), with 7/30-day history of first reports at the same lag that ends the day before; "
        "prev_day_cost and avg_settled_cost_7d are earlier days as known on as_of_date."
    ),
    sources=("fact_usage", "dim_cluster", "fact_job_run_timeline"),
    warnings=lag_warnings,
)


def _commits(tables: Tables):
    """The account commit and the monthly budgets, or None when the table is absent."""
    try:
        return tables.gold("commit_configurations")
    except Exception:  # an account without commit data: commit outputs stay null
        return None


def spend_features(tables: Tables):
    """Per workspace and day ``d``: spend as known at the end of ``d``, about the month that
    ``d + 1`` falls in (the month a forecast made that evening is for).

    With a billing lag of ``k`` days, what ``d`` knows ends at its anchor ``d - k``: the anchor
    as first reported, earlier days settled (both at lag ``k``). Month-to-date counts the days
    of the month up to the anchor (``days_elapsed``); the days after it are the rest of the
    month (``days_remaining``), as the day itself is with a feed that lands on time."""
    usage = tables.gold("fact_usage")
    ws = ["workspace_id"]
    # The lag per workspace-day, from all of the billing: measured once a stage (job_cost_features too).
    rows = anchored_days(tables.shared(billing_lag(usage, ws)), ws)
    lags = lags_in_use(rows)
    views = lag_views(usage, lags)
    series = ["workspace_id", LAG]
    keys = [*series, "usage_date"]
    daily = views.groupBy(*keys).agg(
        F.sum(first_report(F.col("list_cost"))).alias("cost_same"),
        F.sum(settled(F.col("list_cost"))).alias("cost_settled"),
        F.sum(first_report(F.col("effective_cost"))).alias("eff_same"),
        F.sum(settled(F.col("effective_cost"))).alias("eff_settled"),
    )
    days = view_days(usage, lags, ws).join(daily, keys, "left").fillna(0.0)
    d = days.withColumn("month", F.trunc("usage_date", "month"))

    w7, w28 = prior_days(series, "usage_date", 7), prior_days(series, "usage_date", 28)
    w30 = prior_days(series, "usage_date", 30)
    before = (
        Window.partitionBy(*series)
        .orderBy(F.datediff("usage_date", F.lit("1970-01-01").cast("date")))
        .rangeBetween(-56, -29)
    )
    in_month = (
        Window.partitionBy(*series, "month").orderBy("usage_date").rowsBetween(Window.unboundedPreceding, -1)
    )
    month_totals = d.groupBy(*series, "month").agg(
        F.sum("cost_settled").alias("month_settled"), F.count("*").alias("month_days")
    )
    d = d.select(
        "*",
        F.avg("cost_settled").over(w7).alias("avg_cost_7d"),
        F.stddev("cost_settled").over(w7).alias("std_cost_7d"),
        F.avg("cost_settled").over(w28).alias("avg_cost_28d"),
        F.sum("cost_settled").over(w30).alias("cost_last_30d"),
        F.avg("cost_settled").over(before).alias("__avg_28d_before"),
        F.count("*").over(w30).alias("__days_30d"),
        previous("cost_settled", series, "usage_date").alias("cost_prev_day"),
        (F.coalesce(F.sum("cost_settled").over(in_month), F.lit(0.0)) + F.col("cost_same")).alias("__mtd_d"),
        (F.count("*").over(in_month) + 1).alias("__mtd_days"),
        (F.coalesce(F.sum("eff_settled").over(in_month), F.lit(0.0)) + F.col("eff_same")).alias(
            "__mtd_eff_d"
        ),
    )
    # From here on a row is a day d (as_of_date) with its anchor (usage_date).
    d = rows.join(d, keys)
    nxt = F.date_add("as_of_date", 1)
    d = d.withColumn("next_month", F.trunc(nxt, "month"))
    prev_month = month_totals.select(
        *series,
        F.add_months("month", 1).alias("next_month"),
        F.col("month_settled").alias("__prev_month_settled"),
        F.col("month_days").alias("__prev_month_days"),
    )
    d = d.join(prev_month, [*series, "next_month"], "left")
    same_month = F.col("month") == F.col("next_month")
    days_in_month = F.dayofmonth(F.last_day(nxt))
    covered = F.when(same_month, F.dayofmonth("usage_date")).otherwise(F.lit(0))
    first_open = F.greatest(F.date_add("usage_date", 1), F.col("next_month"))
    d = d.select(
        "*",
        F.when(same_month, F.col("__mtd_d")).otherwise(F.lit(0.0)).alias("mtd_cost"),
        F.when(same_month, F.col("__mtd_eff_d")).otherwise(F.lit(0.0)).alias("mtd_effective_cost"),
        covered.alias("days_elapsed"),
        days_in_month.alias("days_in_month"),
        (days_in_month - covered).alias("days_remaining"),
        F.size(F.filter(F.sequence(first_open, F.last_day(nxt)), lambda x: F.dayofweek(x).isin(1, 7))).alias(
            "weekend_days_remaining"
        ),
        # Last month as known today; a month the data starts inside of, or whose last days are
        # not known yet (a lagging feed early in the month), does not count.
        F.when(same_month, F.col("__prev_month_settled")).otherwise(F.col("__mtd_d")).alias("__last_month"),
        F.when(same_month, F.col("__prev_month_days"))
        .otherwise(F.col("__mtd_days"))
        .alias("__last_month_days"),
        F.dayofmonth(F.last_day(F.add_months(nxt, -1))).alias("__last_month_len"),
    )
    last_month_cost = F.when(F.col("__last_month_days") == F.col("__last_month_len"), F.col("__last_month"))
    d = d.withColumn("last_month_cost", last_month_cost)
    naive = (
        F.when(F.col("days_elapsed") > 0, F.col("mtd_cost") / F.col("days_elapsed") * F.col("days_in_month"))
        .when(
            F.col("last_month_cost").isNotNull(),
            F.col("last_month_cost") / F.col("__last_month_len") * F.col("days_in_month"),
        )
        .otherwise(F.col("avg_cost_28d") * F.col("days_in_month"))
    )
    d = d.select(
        "*",
        naive.alias("naive_month_projection"),
        (F.col("mtd_cost") + F.coalesce("avg_cost_7d", F.lit(0.0)) * F.col("days_remaining")).alias(
            "run_rate_projection"
        ),
        ratio(F.col("avg_cost_28d"), F.col("__avg_28d_before")).alias("cost_trend_28d"),
        ratio(F.col("cost_last_30d"), F.col("__days_30d")).alias("__avg30"),
    )
    d = _with_commits(tables, d, days)
    return d.select(
        "workspace_id",
        F.col("as_of_date").alias("usage_date"),
        LAG,
        F.col("cost_same").alias("cost_today_reported"),
        "cost_prev_day",
        "avg_cost_7d",
        "std_cost_7d",
        "avg_cost_28d",
        "cost_last_30d",
        (F.col("__avg30") * 30).alias("cost_30d_run_rate"),
        "cost_trend_28d",
        ratio(F.col("avg_cost_7d"), F.col("avg_cost_28d")).alias("cost_7d_vs_28d"),
        ratio(F.col("std_cost_7d"), F.col("avg_cost_7d")).alias("cost_cv_7d"),
        "mtd_cost",
        "mtd_effective_cost",
        "days_elapsed",
        "days_in_month",
        "days_remaining",
        "weekend_days_remaining",
        "last_month_cost",
        "naive_month_projection",
        "run_rate_projection",
        (F.coalesce("avg_cost_7d", F.lit(0.0)) * F.col("days_remaining")).alias("run_rate_remaining"),
        ratio(F.col("mtd_cost"), F.col("run_rate_projection")).alias("mtd_share_of_projection"),
        ratio(F.col("run_rate_projection"), F.col("last_month_cost")).alias("projection_vs_last_month"),
        ratio(ratio(F.col("mtd_cost"), F.col("days_elapsed")), F.col("avg_cost_28d")).alias(
            "mtd_rate_vs_28d"
        ),
        ratio(F.col("naive_month_projection"), F.col("run_rate_projection")).alias("naive_vs_run_rate"),
        F.dayofweek(nxt).alias("next_day_of_week"),
        F.month(nxt).alias("next_month_of_year"),
        "monthly_budget",
        "discount_pct",
        "ytd_effective_cost",
        "account_ytd_effective_cost",
        "account_commit_usd",
        "commit_days_after_month",
    )


def _with_commits(tables: Tables, d, days):
    """Budget of the month of ``d + 1``, the account commit whose period holds it, and the
    effective (contract-price) spend since that period began up to the row's anchor, per
    workspace and account. ``d`` holds the rows (day ``as_of_date``, anchor ``usage_date``);
    ``days`` the lag views' days, with their settled effective cost."""
    commits = _commits(tables)
    nxt = F.date_add("as_of_date", 1)
    if commits is None:
        nulls = ("monthly_budget", "discount_pct", "ytd_effective_cost", "account_ytd_effective_cost",
                 "account_commit_usd", "commit_days_after_month")  # fmt: skip
        return d.select("*", *[F.lit(None).cast("double").alias(n) for n in nulls])
    budgets = commits.where(F.col("commit_type") == "WORKSPACE_MONTHLY_BUDGET").select(
        "workspace_id",
        F.col("period_start").alias("next_month"),
        F.col("commit_amount_usd").alias("monthly_budget"),
    )
    d = d.join(budgets, ["workspace_id", "next_month"], "left")
    account = commits.where(F.col("commit_type") == "ACCOUNT_COMMIT").select(
        F.col("commit_id").alias("__commit"),
        F.col("period_start").alias("__start"),
        F.col("period_end").alias("__end"),
        F.col("commit_amount_usd").alias("account_commit_usd"),
        F.col("discount_pct").alias("discount_pct"),
    )
    # driver-read: the ACCOUNT_COMMIT rows of the account file, which a person wrote
    d = d.join(F.broadcast(account), (nxt >= F.col("__start")) & (nxt <= F.col("__end")), "left")
    series = ["workspace_id", LAG]
    earlier = (
        Window.partitionBy(*series, "__commit")
        .orderBy("usage_date")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    in_period = F.col("usage_date") >= F.col("__start")
    # driver-read: the ACCOUNT_COMMIT rows of the account file, which a person wrote
    spent = days.crossJoin(F.broadcast(account.select("__commit", "__start"))).select(
        *series,
        "usage_date",
        "__commit",
        F.coalesce(F.sum(F.when(in_period, F.col("eff_settled"))).over(earlier), F.lit(0.0)).alias(
            "__ytd_before"
        ),
    )
    d = d.join(spent, [*series, "usage_date", "__commit"], "left").withColumn(
        "ytd_effective_cost",
        F.when(
            F.col("__commit").isNotNull(),
            F.col("__ytd_before") + F.when(in_period, F.col("eff_same")).otherwise(F.lit(0.0)),
        ),
    )
    return d.select(
        "*",
        F.sum("ytd_effective_cost")
        .over(Window.partitionBy("as_of_date"))
        .alias("account_ytd_effective_cost"),
        F.greatest(F.datediff("__end", F.last_day(nxt)), F.lit(0))
        .cast("double")
        .alias("commit_days_after_month"),
    )


SPEND_FEATURES = FeatureTable(
    name="spend_features",
    domain="cost",
    primary_keys=("workspace_id", "usage_date"),
    timestamp_key="usage_date",
    compute=spend_features,
    description=(
        "Per workspace and day d, spend as known at the end of d: with a billing lag of "
        "billing_lag_days (0 when billing lands on the usage day), up to d - lag, that day as first "
        "reported and earlier days settled: 7/28/30-day run rates, month-to-date and last month for "
        "the month of d+1, its budget, and contract-price spend since the account commit began."
    ),
    sources=("fact_usage", "commit_configurations"),
)
