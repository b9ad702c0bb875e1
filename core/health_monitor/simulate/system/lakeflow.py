"""System tables of the lakeflow family, written out from the simulated account's Gold tables.

``dim_job`` becomes ``lakeflow.jobs`` and ``lakeflow.job_tasks`` (SCD2), the run and task-run
timelines become ``lakeflow.job_run_timeline`` and ``lakeflow.job_task_run_timeline`` (already cut
into clock-hour slices in Gold, the result on the final slice only). The quirks of the real tables:

* ``creator_id`` and ``run_as`` are principal IDs (a numeric user ID, or a service principal's
  application ID); the user names (emails) are in the 2026 columns only.
* Columns Databricks added in late 2025 (``trigger``, ``trigger_type``, ``creator_user_name``,
  ``paused``, ``timeout_seconds``, ``create_time``, ``termination_type``, ``compute``, the phase
  durations...) are NULL on rows emitted before :data:`NEWER_FROM`; ``description``, the run's
  ``compute_ids`` and ``termination_code`` and the task run's ``job_run_id`` are NULL on rows
  before :data:`LATE_AUG_2024`.
* SCD2 rows older than 365 days are gone, except the latest row of each job and task.
* ``compute_ids`` lists the run's cluster; it is empty on serverless.
* Tasks are re-emitted at every job version (deploys, compute moves) and deleted with their job.
* ``job_parameters`` is the nested map (empty for jobs without parameters); rows since Dec 2025
  hold the SLA's duration limit as a ``RUN_DURATION_SECONDS`` health rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.simulate.catalog import TASK_KEYS
from health_monitor.simulate.system import Builders, build_system
from health_monitor.simulate.timegrid import DAY, SECOND
from health_monitor.system.reference import system_table


def _us(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 10**6


NEWER_FROM = _us(dt.date(2025, 12, 1))  # rows emitted since then carry the 2026 columns
# "NULL before late Aug 2024": jobs.description, job_run_timeline.compute_ids and
# termination_code, job_task_run_timeline.job_run_id and parent_run_id.
LATE_AUG_2024 = _us(dt.date(2024, 8, 29))
RETENTION_DAYS = 365
# termination_code -> termination_type (Jobs API TerminationTypeType); others are CLIENT_ERROR.
_TERMINATION_TYPE = {
    "SUCCESS": "SUCCESS",
    "CANCELLED": "SUCCESS",
    "SKIPPED": "SUCCESS",
    "DRIVER_ERROR": "INTERNAL_ERROR",
    "CLUSTER_ERROR": "INTERNAL_ERROR",
    "CLOUD_FAILURE": "CLOUD_FAILURE",
}


def principal_ids(names: pa.Array) -> pa.Array:
    """The ID the system tables hold for each principal: a stable 16-digit user ID per email;
    a service principal's application ID (no ``@``) is its own ID."""
    names = names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names
    vocab = pc.unique(names).drop_null()
    ids = [
        n
        if "@" not in n
        else str(
            10**15 + int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big") % (9 * 10**15)
        )
        for n in vocab.to_pylist()
    ]
    return pa.array(ids, pa.string()).take(pc.index_in(names, vocab))


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> Builders:
    end_us = _us(config.end_date) + DAY
    return {
        "lakeflow.jobs": lambda: _jobs(gold["dim_job"], gold["dim_job_sla"], end_us),
        "lakeflow.job_tasks": lambda: _job_tasks(gold["dim_job"], end_us),
        "lakeflow.job_run_timeline": lambda: _run_timeline(gold["fact_job_run_timeline"]),
        "lakeflow.job_task_run_timeline": lambda: _task_timeline(gold["fact_job_task_run_timeline"]),
    }


# ----------------------------------------------------------------------------- jobs, job_tasks


def _retained(entity_last: np.ndarray, change_us: np.ndarray, end_us: int) -> np.ndarray:
    """SCD2 retention: rows of the last 365 days, plus the latest row of each entity."""
    return entity_last | (change_us >= end_us - RETENTION_DAYS * DAY)


def _jobs(dim_job: pa.Table, slas: pa.Table, end_us: int) -> pa.Table:
    change = _micros(dim_job["change_time"])
    keep = _retained(dim_job["is_current"].to_numpy(zero_copy_only=False), change, end_us)
    t, change = dim_job.filter(pa.array(keep)), change[keep]
    newer = change >= NEWER_FROM

    def newer_only(column: str | pa.Array) -> pa.Array:
        return _null_where(t[column] if isinstance(column, str) else column, ~newer)

    trigger_kind = t["trigger_type"].combine_chunks()
    cron = pc.fill_null(pc.equal(trigger_kind, "CRON"), False).to_numpy(zero_copy_only=False) & newer
    files = pc.fill_null(pc.equal(trigger_kind, "FILE_ARRIVAL"), False).to_numpy(zero_copy_only=False) & newer
    n = t.num_rows
    trigger_type = system_table("lakeflow.jobs").arrow_schema().field("trigger").type
    trigger = _struct(
        trigger_type,
        {
            "schedule": _struct(
                trigger_type.field("schedule").type,
                {
                    "quartz_cron_expression": t["quartz_cron_expression"].combine_chunks(),
                    "timezone_id": pa.repeat("UTC", n),
                },
                ~cron,
            ),
            "file_arrival": _struct(
                trigger_type.field("file_arrival").type,
                {
                    "url": pc.binary_join_element_wise(
                        "s3://landing/", t["job_id"].combine_chunks(), "/", ""
                    ),
                    "min_time_between_triggers_seconds": pa.repeat(pa.scalar(60, pa.int32()), n),
                },
                ~files,
            ),
        },
        ~(cron | files),
    )
    creator, run_as = t["creator_user_name"].combine_chunks(), t["run_as"].combine_chunks()
    description = t["description"].combine_chunks()
    return build_system(
        "lakeflow.jobs",
        {
            "account_id": t["account_id"],
            "workspace_id": t["workspace_id"],
            "job_id": t["job_id"],
            "name": t["name"],
            "creator_id": principal_ids(creator),
            "tags": t["tags"],
            "run_as": principal_ids(run_as),
            "change_time": t["change_time"],
            "delete_time": t["delete_time"],
            "description": _null_where(description, change < LATE_AUG_2024),
            "trigger": trigger,
            "trigger_type": _null_where(trigger_kind, ~(cron | files)),
            "run_as_user_name": newer_only(run_as),
            "creator_user_name": newer_only(creator),
            "paused": newer_only("paused"),
            "timeout_seconds": newer_only("timeout_seconds"),
            "health_rules": _health_rules(t, slas, newer),
            "create_time": newer_only("create_time"),
        },
    )


def _health_rules(t: pa.Table, slas: pa.Table, newer: np.ndarray) -> pa.Array:
    """The SLA's duration limit as a RUN_DURATION_SECONDS rule on rows since Dec 2025 (empty
    list when the job has no SLA); NULL on older rows."""
    keys = pc.binary_join_element_wise(t["workspace_id"], t["job_id"], ":").combine_chunks()
    sla_keys = pc.binary_join_element_wise(slas["workspace_id"], slas["job_id"], ":").combine_chunks()
    idx = pc.index_in(keys, sla_keys)
    has = pc.is_valid(idx).to_numpy(zero_copy_only=False) & newer
    rule_type = system_table("lakeflow.jobs").arrow_schema().field("health_rules").type
    rows = np.flatnonzero(has)
    limit = slas["sla_duration_seconds"].combine_chunks().take(idx.take(pa.array(rows)))
    m = len(rows)
    rules = pa.StructArray.from_arrays(
        [
            pa.repeat("RUN_DURATION_SECONDS", m),
            pa.repeat("GREATER_THAN", m),
            limit.cast(pa.int64()),
        ],
        fields=list(rule_type.value_type),
    )
    offsets = np.concatenate([[0], np.cumsum(has)]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets, mask=np.concatenate([~newer, [False]])), rules, type=rule_type
    )


def _job_tasks(dim_job: pa.Table, end_us: int) -> pa.Table:
    """Every task of every job version, at the version's change time; a chain (each task
    depends on the one before); a deleted job's tasks are deleted with it."""
    counts = dim_job["task_count"].to_numpy().astype(np.int64)
    version = np.repeat(np.arange(dim_job.num_rows), counts)
    index = np.arange(len(version)) - np.repeat(np.cumsum(counts) - counts, counts)
    keys = pa.array(list(TASK_KEYS), pa.string())
    has_dep = index > 0
    depends = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(has_dep)]).astype(np.int32)),
        keys.take(pa.array(index[has_dep] - 1)),
    )
    change = _micros(dim_job["change_time"])[version]
    rows = pa.array(version)
    # The latest row of a task is the one at its job's latest version.
    last = dim_job["is_current"].to_numpy(zero_copy_only=False)[version]
    keep = pa.array(_retained(last, change, end_us))
    newer = change >= NEWER_FROM
    table = build_system(
        "lakeflow.job_tasks",
        {
            "account_id": dim_job["account_id"].take(rows),
            "workspace_id": dim_job["workspace_id"].take(rows),
            "job_id": dim_job["job_id"].take(rows),
            "task_key": keys.take(pa.array(index)),
            "depends_on_keys": depends,
            "change_time": dim_job["change_time"].take(rows),
            "delete_time": dim_job["delete_time"].take(rows),
            "timeout_seconds": pa.array(np.zeros(len(version), dtype=np.int64), mask=~newer),
        },
    )
    return table.filter(keep)


# ----------------------------------------------------------------------------- timelines


def _run_timeline(runs: pa.Table) -> pa.Table:
    n = runs.num_rows
    newer = _micros(runs["period_start_time"]) >= NEWER_FROM
    columns = {
        name: runs[name]
        for name in (
            "account_id",
            "workspace_id",
            "job_id",
            "run_id",
            "period_start_time",
            "period_end_time",
            "trigger_type",
            "result_state",
            "run_type",
            "run_name",
            "termination_code",
        )
    }
    columns["compute_ids"] = _compute_ids(runs["cluster_id"])
    columns["job_parameters"] = _job_parameters(runs["job_id"])
    early = _micros(runs["period_start_time"]) < LATE_AUG_2024
    if early.any():
        for name in ("compute_ids", "termination_code"):
            columns[name] = _null_where(columns[name], early)
    if newer.any():
        final = runs["result_state"].is_valid().to_numpy(zero_copy_only=False) & newer
        duration = _run_seconds(runs["run_id"], runs["period_start_time"], runs["period_end_time"])
        columns |= _newer_outcome(runs, newer, final, duration)
        zero = np.zeros(n, dtype=np.int64)
        columns["queue_duration_seconds"] = pa.array(zero, mask=~final)
        columns["run_duration_seconds"] = pa.array(duration, mask=~final)
    return build_system("lakeflow.job_run_timeline", columns, n)


def _task_timeline(tasks: pa.Table) -> pa.Table:
    n = tasks.num_rows
    newer = _micros(tasks["period_start_time"]) >= NEWER_FROM
    columns = {
        name: tasks[name]
        for name in (
            "account_id",
            "workspace_id",
            "job_id",
            "run_id",
            "period_start_time",
            "period_end_time",
            "task_key",
            "result_state",
            "job_run_id",
            "termination_code",
        )
    }
    columns["parent_run_id"] = tasks["job_run_id"]
    columns["compute_ids"] = _compute_ids(tasks["cluster_id"])
    early = _micros(tasks["period_start_time"]) < LATE_AUG_2024
    if early.any():
        for name in ("job_run_id", "parent_run_id"):
            columns[name] = _null_where(columns[name], early)
    if newer.any():
        final = tasks["result_state"].is_valid().to_numpy(zero_copy_only=False) & newer
        duration = _run_seconds(tasks["run_id"], tasks["period_start_time"], tasks["period_end_time"])
        columns |= _newer_outcome(tasks, newer, final, duration)
    return build_system("lakeflow.job_task_run_timeline", columns, n)


def _newer_outcome(t: pa.Table, newer: np.ndarray, final: np.ndarray, duration: np.ndarray) -> dict:
    """The 2026 columns of a timeline row: compute, termination_type and the phase durations
    (setup and cleanup are not simulated: 0), the outcome ones on the final slice only."""
    codes = t["termination_code"].combine_chunks()
    vocab = pa.array(list(_TERMINATION_TYPE), pa.string())
    mapped = pa.array(list(_TERMINATION_TYPE.values()), pa.string()).take(pc.index_in(codes, vocab))
    kind = pc.fill_null(mapped, "CLIENT_ERROR")
    zero = np.zeros(t.num_rows, dtype=np.int64)
    return {
        "compute": _compute(t["cluster_id"], newer),
        "termination_type": _null_where(kind, ~final | pc.is_null(codes).to_numpy(zero_copy_only=False)),
        "setup_duration_seconds": pa.array(zero, mask=~final),
        "cleanup_duration_seconds": pa.array(zero, mask=~final),
        "execution_duration_seconds": pa.array(duration, mask=~final),
    }


def _compute_ids(cluster_id: pa.ChunkedArray) -> pa.Array:
    """[cluster_id] for classic runs, [] on serverless."""
    ids = cluster_id.combine_chunks()
    valid = ids.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), ids.filter(pa.array(valid)))


def _compute(cluster_id: pa.ChunkedArray, newer: np.ndarray) -> pa.Array:
    """The 2026 ``compute`` list: one CLUSTER entry on classic rows (the type names are an
    assumption: the docs do not list them), empty on serverless, NULL before Dec 2025."""
    list_type = system_table("lakeflow.job_run_timeline").arrow_schema().field("compute").type
    ids = cluster_id.combine_chunks()
    valid = ids.is_valid().to_numpy(zero_copy_only=False)
    picked = ids.filter(pa.array(valid))
    m = len(picked)
    entries = pa.StructArray.from_arrays(
        [pa.repeat("CLUSTER", m), picked, pa.nulls(m, pa.string())],
        fields=list(list_type.value_type),
    )
    offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets, mask=np.concatenate([~newer, [False]])), entries, type=list_type
    )


def _job_parameters(job_id: pa.ChunkedArray) -> pa.Array:
    """Jobs with an even ID take an ``env`` parameter ({"default", "value"} per parameter, as
    the nested map of the real table holds it); the others have none (an empty map)."""
    map_type = system_table("lakeflow.job_run_timeline").arrow_schema().field("job_parameters").type
    last_digit = pc.utf8_slice_codeunits(job_id.combine_chunks(), -1)
    has = pc.is_in(last_digit, value_set=pa.array(list("02468"))).to_numpy(zero_copy_only=False)
    m = int(has.sum())
    inner = pa.MapArray.from_arrays(
        pa.array(np.arange(0, 2 * m + 1, 2, dtype=np.int32)),
        pa.array(["default", "value"]).take(pa.array(np.tile([0, 1], m))),
        pa.repeat("prod", 2 * m),
        type=map_type.item_type,
    )
    return pa.MapArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(has)]).astype(np.int32)),
        pa.repeat("env", m),
        inner,
        type=map_type,
    )


def _run_seconds(run_id: pa.ChunkedArray, start: pa.ChunkedArray, end: pa.ChunkedArray) -> np.ndarray:
    """Whole run length in seconds (first slice start to last slice end), on each slice."""
    codes = pc.dictionary_encode(run_id.combine_chunks()).indices.to_numpy()
    s, e = _micros(start), _micros(end)
    first = np.full(codes.max() + 1 if len(codes) else 0, np.iinfo(np.int64).max)
    last = np.zeros_like(first)
    np.minimum.at(first, codes, s)
    np.maximum.at(last, codes, e)
    return (last[codes] - first[codes]) // SECOND


# ----------------------------------------------------------------------------- arrow helpers


def _null_where(values: pa.Array | pa.ChunkedArray, mask: np.ndarray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.if_else(pa.array(mask), pa.nulls(len(values), values.type), values)


def _micros(column: pa.ChunkedArray) -> np.ndarray:
    return column.combine_chunks().cast(pa.int64()).fill_null(0).to_numpy()


def _struct(type_: pa.StructType, fields: dict, null: np.ndarray) -> pa.StructArray:
    """A struct column with the given fields (others NULL), NULL where ``null``."""
    n = len(null)
    children = [fields.get(f.name, pa.nulls(n, f.type)) for f in type_]
    children = [c if c.type.equals(f.type) else c.cast(f.type) for c, f in zip(children, type_, strict=True)]
    return pa.StructArray.from_arrays(children, fields=list(type_), mask=pa.array(null))
