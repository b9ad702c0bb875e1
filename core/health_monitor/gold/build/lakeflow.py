"""Gold steps of the lakeflow family of system tables: jobs, job runs, task runs, job SLAs.

The run timelines keep the system tables' grain (one row per run per clock hour, the result on
the final slice). ``dim_job`` is the SCD2 ``lakeflow.jobs`` with what its rows before Dec 2025
lack filled from what the account does hold, and nothing made up:

* user names: the 2026 ``*_user_name`` columns, else the name another row of ``lakeflow.jobs``
  pairs with the same principal ID; else ``creator_user_name`` is NULL (plugins then fall back on
  the billed ``run_as`` e-mail; an ID would match nothing) and ``run_as`` is the ID itself;
* ``create_time``: the job's own (on rows since Dec 2025), else the earliest sign of the job, its
  first retained version or its first run (older versions are purged after 365 days);
* ``trigger_type`` and ``compute_kind``: the trigger struct (rows since Dec 2025), else what the
  version's runs show (their trigger types; the cluster of its latest run in ``compute.clusters``);
* ``task_count``: the version's tasks in the SCD2 ``lakeflow.job_tasks`` as of its change time;
* ``max_retries``, ``timeout_seconds``, ``paused``, ``quartz_cron_expression`` on older rows: no
  system table holds them, so they stay NULL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from health_monitor.gold.build import BuildContext, GoldStep

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

JOB = ["workspace_id", "job_id"]
VERSION = [*JOB, "change_time"]
MANUAL_TRIGGERS = ("ONETIME", "ONETIME_RETRY")  # a run started by hand says nothing of a schedule


def _since(df: DataFrame, ctx: BuildContext, column: str) -> DataFrame:
    # A bare comparison on the column (not to_date(column)) is pushed down to the files' statistics.
    return df if ctx.since is None else df.where(F.col(column) >= F.lit(ctx.since).cast("timestamp"))


def cluster_id() -> Column:
    """The first cluster a timeline row ran on: from the 2026 ``compute`` list, else from
    ``compute_ids`` (cluster IDs look like ``0311-010012-gdjuqj9a``; warehouse IDs have no dash).
    NULL on serverless (empty lists) and before ``compute_ids`` existed (NULL lists)."""
    listed = F.get(F.filter("compute", lambda c: c["cluster_id"].isNotNull()), 0)["cluster_id"]
    return F.coalesce(listed, F.get(F.filter("compute_ids", lambda i: i.contains("-")), 0))


# ----------------------------------------------------------------------------- timelines


def build_job_run_timeline(ctx: BuildContext) -> DataFrame:
    runs = _since(ctx.system("lakeflow.job_run_timeline"), ctx, "period_start_time")
    return runs.select(
        "account_id",
        "workspace_id",
        "job_id",
        "run_id",
        "run_name",
        "period_start_time",
        "period_end_time",
        "trigger_type",
        "run_type",
        "result_state",
        "termination_code",
        cluster_id().alias("cluster_id"),
    )


def build_job_task_run_timeline(ctx: BuildContext) -> DataFrame:
    tasks = _since(ctx.system("lakeflow.job_task_run_timeline"), ctx, "period_start_time")
    return tasks.select(
        "account_id",
        "workspace_id",
        "job_id",
        "run_id",
        "job_run_id",
        "task_key",
        "period_start_time",
        "period_end_time",
        "result_state",
        "termination_code",
        cluster_id().alias("cluster_id"),
    )


# ----------------------------------------------------------------------------- dim_job


def build_dim_job(ctx: BuildContext) -> DataFrame:
    by_time = Window.partitionBy(*JOB).orderBy("change_time")
    jobs = ctx.system("lakeflow.jobs")
    versions = jobs.select(
        "*",
        F.lead("change_time").over(by_time).alias("_next_change"),
        F.lag("change_time").over(by_time).isNull().alias("_first"),
    )
    # A row since Dec 2025 carries the 2026 columns; then a NULL trigger means "manual".
    populated = F.col("create_time").isNotNull() | F.col("creator_user_name").isNotNull()
    populated = populated | F.col("paused").isNotNull()
    trigger = F.col("trigger")
    configured = (
        F.when(trigger["schedule"].isNotNull(), "CRON")
        .when(trigger["file_arrival"].isNotNull(), "FILE_ARRIVAL")
        .when(trigger["table_update"].isNotNull(), "TABLE_UPDATE")
        .when(trigger["periodic"].isNotNull(), "PERIODIC")
        .when(trigger["continuous"]["enabled"], "CONTINUOUS")
        .otherwise(F.col("trigger_type"))
    )
    # A version without runs shows what its previous version's runs did, else its next's.
    before = F.last("_ran", ignorenulls=True).over(by_time.rowsBetween(Window.unboundedPreceding, 0))
    after = F.first("_ran", ignorenulls=True).over(by_time.rowsBetween(0, Window.unboundedFollowing))
    ran = F.coalesce(before, after)
    job = Window.partitionBy(*JOB)
    first_seen = F.least(F.min("change_time").over(job), F.min("_ran.first_run").over(job))
    names = F.broadcast(_principal_names(jobs))
    out = (
        versions.join(_run_evidence(ctx, versions), VERSION, "left")
        .join(_task_counts(ctx, versions), VERSION, "left")
        .join(names.toDF("creator_id", "_creator_name"), "creator_id", "left")
        .join(names.toDF("run_as", "_run_as_name"), "run_as", "left")
    )
    return out.select(
        "account_id",
        "workspace_id",
        "job_id",
        "name",
        "description",
        F.coalesce("creator_user_name", "_creator_name").alias("creator_user_name"),
        F.coalesce("run_as_user_name", "_run_as_name", "run_as").alias("run_as"),
        "tags",
        "task_count",
        F.lit(None).cast("int").alias("max_retries"),
        "timeout_seconds",
        F.when(populated, configured).otherwise(ran["trigger"]).alias("trigger_type"),
        trigger["schedule"]["quartz_cron_expression"].alias("quartz_cron_expression"),
        ran["compute"].alias("compute_kind"),
        "paused",
        F.coalesce("create_time", F.min("create_time").over(job), first_seen).alias("create_time"),
        "change_time",
        "delete_time",
        F.col("_next_change").isNull().alias("is_current"),
    )


def _principal_names(jobs: DataFrame) -> DataFrame:
    """(principal ID, user name) as the rows since Dec 2025 pair them: a principal's name is
    the same on every row, so it names the principal on the older rows too."""
    pairs = jobs.select(F.col("creator_id").alias("_id"), F.col("creator_user_name").alias("_name")).union(
        jobs.select("run_as", "run_as_user_name")
    )
    return (
        pairs.where(F.col("_id").isNotNull() & F.col("_name").isNotNull()).groupBy("_id").agg(F.max("_name"))
    )


def _run_evidence(ctx: BuildContext, versions: DataFrame) -> DataFrame:
    """``_ran`` per job version that has runs (those that started while it was current; the first
    retained version also takes the runs before it): its first run, the trigger type its
    non-manual runs show, and the compute of its latest run (empty compute_ids: SERVERLESS; a
    cluster compute.clusters lists with a source other than JOB: ALL_PURPOSE; else JOB_CLUSTER)."""
    spans = versions.select(
        *JOB,
        F.col("change_time").alias("_v_change"),
        F.when(~F.col("_first"), F.col("change_time")).alias("_from"),
        F.col("_next_change").alias("_to"),
    )
    shared = ctx.system("compute.clusters").where(F.col("cluster_source") != "JOB")
    shared = shared.select(
        "workspace_id", F.col("cluster_id").alias("_cluster"), F.lit(True).alias("_shared")
    )
    runs = ctx.system("lakeflow.job_run_timeline").select(
        *JOB,
        "period_start_time",
        "trigger_type",
        F.size("compute_ids").alias("_ids"),
        cluster_id().alias("_cluster"),
    )
    compute = (
        F.when(F.col("_ids") == 0, "SERVERLESS")
        .when(F.col("_shared"), "ALL_PURPOSE")
        .when(F.col("_cluster").isNotNull(), "JOB_CLUSTER")
    )
    scheduled = F.when(~F.col("trigger_type").isin(*MANUAL_TRIGGERS), F.col("trigger_type"))
    start = F.col("period_start_time")
    after_from = F.col("_from").isNull() | (start >= F.col("_from"))
    inside = after_from & (F.col("_to").isNull() | (start < F.col("_to")))
    # No broadcast hint on the versions: most accounts have a few thousand, some ~10^8 (submit runs).
    return (
        runs.join(F.broadcast(shared), ["workspace_id", "_cluster"], "left")
        .join(spans, JOB)
        .where(inside)
        .groupBy(*JOB, F.col("_v_change").alias("change_time"))
        .agg(
            F.struct(
                F.min(start).alias("first_run"),
                F.max(scheduled).alias("trigger"),
                F.max_by(compute, start).alias("compute"),
            ).alias("_ran")
        )
    )


def _task_counts(ctx: BuildContext, versions: DataFrame) -> DataFrame:
    """Tasks of each job version: the ``lakeflow.job_tasks`` rows in force at its change time (a
    row holds until the task's next row), unless deleted; tasks deleted with the job still count
    on the job's deletion row. A version that no task row had reached by then gets NULL."""
    by_time = Window.partitionBy(*JOB, "task_key").orderBy("change_time")
    tasks = ctx.system("lakeflow.job_tasks").select(
        *JOB,
        F.col("change_time").alias("_from"),
        F.lead("change_time").over(by_time).alias("_to"),
        F.col("delete_time").alias("_deleted"),
    )
    at = F.col("change_time")
    alive = F.col("_deleted").isNull() | (F.col("_deleted") >= F.col("delete_time"))
    return (
        tasks.join(versions.select(*VERSION, "delete_time"), JOB)
        .where((F.col("_from") <= at) & (F.col("_to").isNull() | (at < F.col("_to"))))
        .groupBy(*VERSION)
        .agg(F.count(F.when(alive, 1)).cast("int").alias("task_count"))
    )


def build_dim_job_sla(ctx: BuildContext) -> DataFrame:
    return ctx.input("job_slas").select(
        "workspace_id", "job_id", "sla_duration_seconds", "sla_end_hour_utc", "sla_owner"
    )


STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        table="dim_job",
        sources=("lakeflow.jobs", "lakeflow.job_tasks", "lakeflow.job_run_timeline", "compute.clusters"),
        transform=(
            "Every retained lakeflow.jobs row (SCD2; is_current = no later row), the trigger struct "
            "reduced to trigger_type and quartz_cron_expression, task_count from the job_tasks rows as of "
            "change_time, compute_kind from the version's latest run (empty compute_ids: SERVERLESS, else "
            "the cluster's compute.clusters cluster_source). Rows before Dec 2025 lack the newer columns: "
            "a creator nobody names is NULL and run_as falls back on the principal ID, trigger_type on the version's run trigger types, "
            "create_time on the job's first version or run; max_retries is always NULL."
        ),
        build=build_dim_job,
    ),
    GoldStep(
        table="fact_job_run_timeline",
        sources=("lakeflow.job_run_timeline",),
        transform=(
            "lakeflow.job_run_timeline as it is (one row per run per clock hour, result on the final "
            "slice), compute (2026) or compute_ids reduced to the first cluster ID."
        ),
        build=build_job_run_timeline,
        grain="period_start_time",
    ),
    GoldStep(
        table="fact_job_task_run_timeline",
        sources=("lakeflow.job_task_run_timeline",),
        transform=(
            "lakeflow.job_task_run_timeline as it is (hourly slices, result on the final slice), "
            "compute (2026) or compute_ids reduced to the first cluster ID."
        ),
        build=build_job_task_run_timeline,
        grain="period_start_time",
    ),
    GoldStep(
        table="dim_job_sla",
        sources=(),
        inputs=("job_slas",),
        transform="The job_slas section of the account file, as entered (no system table holds SLAs).",
        build=build_dim_job_sla,
    ),
)
