"""Performance labels, from Gold facts (durations, spill, pruning, cache hits, node counts, run
results); the regression detector's from the simulator's ground truth, for evaluation only."""

from __future__ import annotations

from pyspark.sql import Window
from pyspark.sql import functions as F

from health_monitor.sdk import Labels, Tables
from health_monitor.sdk.featurekit import prior_days
from health_monitor_performance.capacity_features import workspace_days
from health_monitor_performance.gold import FULL_SCAN_MIN_FILES, fingerprint
from health_monitor_performance.job_features import job_days
from health_monitor_performance.warehouse_features import TARGET_P90_EXECUTION_S, warehouse_days


def duration_labels(tables: Tables):
    q = tables.gold("fact_query_history")
    return q.where((F.col("execution_status") == "FINISHED") & ~F.col("from_result_cache")).select(
        "statement_id", (F.col("total_duration_ms") / 1000.0).alias("label")
    )


DURATION_LABELS = Labels(
    model="query_performance_forecaster",
    compute=duration_labels,
    description="Total duration in seconds of statements that finished and did not come from the result cache.",
)


# A statement needs optimising when it spilled to disk, scanned every file it read without
# pruning, or ran this many times longer than its fingerprint's earlier runs on average.
SLOW_RUN_FACTOR = 3.0


def optimization_labels(tables: Tables):
    q = (
        tables.gold("fact_query_history")
        .where((F.col("execution_status") == "FINISHED") & ~F.col("from_result_cache"))
        .withColumn("fingerprint", fingerprint(F.upper(F.coalesce(F.col("statement_text"), F.lit("")))))
    )
    earlier = (
        Window.partitionBy("fingerprint")
        .orderBy("start_time", "statement_id")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    slow = F.col("total_duration_ms") > SLOW_RUN_FACTOR * F.avg("total_duration_ms").over(earlier)
    full_scan = (F.col("pruned_files") == 0) & (F.col("read_files") >= FULL_SCAN_MIN_FILES)
    needs = (F.col("spilled_local_bytes") > 0) | full_scan | F.coalesce(slow, F.lit(False))
    return q.select("statement_id", needs.cast("int").alias("label"))


OPTIMIZATION_LABELS = Labels(
    model="query_optimization_recommender",
    compute=optimization_labels,
    description=(
        "1 when a finished, uncached statement spilled to local disk, read at least "
        f"{FULL_SCAN_MIN_FILES} files with none pruned (a full scan), or took more than "
        f"{SLOW_RUN_FACTOR:g}x its fingerprint's average duration so far."
    ),
)


def needed_size_labels(tables: Tables):
    daily, _ = warehouse_days(tables)
    return daily.where(F.col("p90_work_s").isNotNull()).select(
        "warehouse_id", "date", F.col("needed_size_code").alias("label")
    )


NEEDED_SIZE_LABELS = Labels(
    model="warehouse_optimizer",
    compute=needed_size_labels,
    description=(
        "The size code (1 = 2X_SMALL ... 9 = 4X_LARGE, fractional) that would have kept the day's p90 "
        f"execution time at {TARGET_P90_EXECUTION_S:g} s: the p90 of execution seconds scaled to "
        "2X_SMALL power (each size doubles compute), over the target, in log2 steps."
    ),
)


def cache_share_labels(tables: Tables):
    daily, _ = warehouse_days(tables)
    return daily.select("warehouse_id", "date", F.col("cache_share").alias("label"))


CACHE_SHARE_LABELS = Labels(
    model="cache_hit_predictor",
    compute=cache_share_labels,
    description="Share of a warehouse-day's finished statements answered from the result cache.",
)


def peak_worker_labels(tables: Tables):
    return workspace_days(tables).select("workspace_id", "date", F.col("peak_workers").alias("label"))


PEAK_WORKER_LABELS = Labels(
    model="cluster_capacity_planner",
    compute=peak_worker_labels,
    description="The most worker nodes a workspace's classic clusters ran in one clock hour of the day.",
)


FAILURE_RATE_INCREASE = 0.10
DURATION_REGRESSION_FACTOR = 1.5


def migration_labels(tables: Tables):
    """Per job and day its runs ended: did the job fail more, or run slower, than over its 30
    days before? The model's base keeps the days around runtime rollouts."""
    days = job_days(tables)
    before = prior_days("job_id", "date", 30)
    prior_rate = F.coalesce(F.sum("failures").over(before) / F.sum("runs").over(before), F.lit(0.0))
    prior_duration = F.avg("median_duration_s").over(before)
    failed_more = (F.col("failures") > 0) & (
        F.col("failures") / F.col("runs") >= prior_rate + F.lit(FAILURE_RATE_INCREASE)
    )
    slower = F.coalesce(
        F.col("median_duration_s") >= DURATION_REGRESSION_FACTOR * prior_duration, F.lit(False)
    )
    return days.select("job_id", "date", (failed_more | slower).cast("int").alias("label"))


MIGRATION_LABELS = Labels(
    model="dbr_migration_risk_scorer",
    compute=migration_labels,
    description=(
        "Per job-day: 1 when the day's failure rate was at least "
        f"{FAILURE_RATE_INCREASE:.0%} above the job's 30 days before (with a failure), or its median "
        f"run duration {DURATION_REGRESSION_FACTOR:g}x or more their average."
    ),
)

REGRESSION_INCIDENTS = ("query_performance_regression", "warehouse_undersized")


def regression_incident_labels(tables: Tables):
    if not tables.has_ground_truth():
        return None
    incidents = tables.ground_truth("incidents").where(F.col("incident_type").isin(*REGRESSION_INCIDENTS))
    days = warehouse_days(tables)[0].select("warehouse_id", "date")
    hit = days.join(
        incidents.select(
            F.col("entity_id").alias("warehouse_id"),
            F.to_date("start_time").alias("first_day"),
            F.to_date("end_time").alias("end_day"),
        ),
        "warehouse_id",
    ).where((F.col("date") >= F.col("first_day")) & (F.col("date") < F.col("end_day")))
    flagged = hit.select("warehouse_id", "date").distinct().withColumn("label", F.lit(1))
    return days.join(flagged, ["warehouse_id", "date"], "left").fillna(0, subset=["label"])


REGRESSION_INCIDENT_LABELS = Labels(
    model="performance_regression_detector",
    compute=regression_incident_labels,
    incidents=dict.fromkeys(REGRESSION_INCIDENTS, "warehouse"),
    description=(
        "Ground truth, for evaluation only: 1 on the days a warehouse had a simulated "
        "query_performance_regression (a recurring query lost pruning) or warehouse_undersized "
        "(resized down) incident; both make its statements slower for days."
    ),
)
