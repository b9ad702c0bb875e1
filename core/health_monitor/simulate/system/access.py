"""System tables of the access family, written out from the simulated account's Gold tables.

``access.audit``, ``access.table_lineage`` and ``query.history`` as Databricks has them: the
identity, response, compute and query-source structs; ``workspace_id = '0'`` on account-level
audit events; lineage whose entity is sometimes only in ``entity_metadata`` (the
``entity_type``/``entity_id``/``entity_run_id`` columns NULL); ``read_io_cache_percent`` as a
tinyint; and columns Databricks added late (``direct_access``, ``pruned_files_bytes``,
``read_files_bytes``, the identity display names) NULL on the rows older than the day they
appeared. Every Gold value is carried by some system-table column, so the Gold build gives the
simulator's Gold back.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.simulate import ids
from health_monitor.simulate.arrowkit import take
from health_monitor.simulate.system import Builders, build_system
from health_monitor.system.reference import system_table

# Share of job lineage writes whose entity is only in entity_metadata.
METADATA_ONLY_SHARE = 0.1
# Share of the window (from its start) before the newer columns existed.
NEWER_COLUMNS_AT = 2 / 3
CLIENT_DRIVERS = {
    "Tableau": "Databricks ODBC Driver",
    "Power BI": "Databricks ODBC Driver",
    "dbt": "Databricks SQL Connector for Python",
}


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> Builders:
    newer_from = config.start_date + dt.timedelta(days=int(config.n_days * NEWER_COLUMNS_AT))
    return {
        "access.audit": lambda: _audit(gold["fact_audit_logs"], newer_from),
        "access.table_lineage": lambda: _lineage(gold["fact_table_lineage"], rng, newer_from),
        "query.history": lambda: _queries(gold["fact_query_history"], rng, newer_from),
    }


def _null_unless(mask: pa.Array | np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def _struct(type_: pa.DataType, fields: dict, valid: pa.Array) -> pa.StructArray:
    """A struct column of ``type_`` that is NULL where ``valid`` is false (absent fields NULL),
    as the real tables leave a struct NULL rather than a struct of NULLs."""
    n = len(valid)
    children = []
    for f in type_:
        value = fields.get(f.name)
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        if value is None:
            value = pa.nulls(n, f.type)
        elif not isinstance(value, pa.Array):
            value = pa.array(value)
        children.append(value.cast(f.type))
    mask = pc.invert(pc.fill_null(valid, False))
    return pa.StructArray.from_arrays(children, fields=list(type_), mask=mask)


def _field_type(table: str, *path: str) -> pa.DataType:
    type_ = system_table(table).arrow_schema().field(path[0]).type
    for name in path[1:]:
        type_ = type_.field(name).type
    return type_


def _newer(day: pa.Array, newer_from: dt.date) -> pa.Array:
    """True on the rows of days when a newer column already existed."""
    return pc.greater_equal(day, pa.scalar(newer_from, pa.date32()))


def _display_names(emails: pa.Array) -> pa.Array:
    """'Emma Schmidt' for 'emma.schmidt7@acme-corp.com'; NULL for service principals (no '@')."""
    encoded = pc.dictionary_encode(emails)
    names = [
        " ".join(p.rstrip("0123456789").capitalize() for p in e.split("@")[0].split("."))
        if "@" in e
        else None
        for e in encoded.dictionary.to_pylist()
    ]
    return pa.array(names, pa.string()).take(encoded.indices)


def _audit(g: pa.Table, newer_from: dt.date) -> pa.Table:
    email = g["user_identity_email"].combine_chunks()
    # Compute-side actions carry who ran them and as whom (the same principal here).
    on_compute = pc.is_in(g["service_name"], pa.array(["jobs", "clusters", "notebook"])).combine_chunks()
    run_by = _null_unless(on_compute, email)
    display = _null_unless(_newer(g["event_date"], newer_from).combine_chunks(), _display_names(run_by))
    return build_system(
        "access.audit",
        {
            "account_id": g["account_id"],
            "workspace_id": g["workspace_id"],
            "version": g["version"],
            "event_time": g["event_time"],
            "event_date": g["event_date"],
            "source_ip_address": g["source_ip_address"],
            "user_agent": g["user_agent"],
            "session_id": g["session_id"],
            "user_identity": {"email": email},
            "service_name": g["service_name"],
            "action_name": g["action_name"],
            "request_id": g["request_id"],
            "request_params": g["request_params"],
            "response": {
                "status_code": g["response_status_code"],
                "error_message": g["response_error_message"],
            },
            "audit_level": g["audit_level"],
            "event_id": g["event_id"],
            "identity_metadata": _struct(
                _field_type("access.audit", "identity_metadata"),
                {
                    "run_by": run_by,
                    "run_as": run_by,
                    "run_by_display_name": display,
                    "run_as_display_name": display,
                },
                on_compute,
            ),
        },
    )


def _lineage(g: pa.Table, rng: np.random.Generator, newer_from: dt.date) -> pa.Table:
    n = g.num_rows
    etype = g["entity_type"].combine_chunks()
    eid, erun = g["entity_id"].combine_chunks(), g["entity_run_id"].combine_chunks()

    def of(kind: str) -> pa.Array:
        return pc.fill_null(pc.equal(etype, kind), False)

    is_job = of("JOB")
    is_pipeline = of("PIPELINE")
    job_write = np.asarray(pc.and_(is_job, pc.is_valid(g["target_table_full_name"].combine_chunks())))
    metadata_only = job_write & (rng.random(n) < METADATA_ONLY_SHARE)
    keep = pa.array(~metadata_only)
    return build_system(
        "access.table_lineage",
        {
            "account_id": g["account_id"],
            "metastore_id": g["metastore_id"],
            "workspace_id": g["workspace_id"],
            "entity_type": _null_unless(keep, etype),
            "entity_id": _null_unless(keep, eid),
            "entity_run_id": _null_unless(keep, erun),
            "source_table_full_name": g["source_table_full_name"],
            "source_table_catalog": g["source_table_catalog"],
            "source_table_schema": g["source_table_schema"],
            "source_table_name": g["source_table_name"],
            "source_type": g["source_type"],
            "target_table_full_name": g["target_table_full_name"],
            "target_table_catalog": g["target_table_catalog"],
            "target_table_schema": g["target_table_schema"],
            "target_table_name": g["target_table_name"],
            "target_type": g["target_type"],
            "created_by": g["created_by"],
            "event_time": g["event_time"],
            "event_date": g["event_date"],
            "record_id": g["record_id"],
            "event_id": g["event_id"],
            "statement_id": g["statement_id"],
            "entity_metadata": {
                "job_info": _struct(
                    _field_type("access.table_lineage", "entity_metadata", "job_info"),
                    {"job_id": eid, "job_run_id": erun},
                    is_job,
                ),
                "dashboard_id": _null_unless(of("DASHBOARD_V3"), eid),
                "legacy_dashboard_id": _null_unless(of("DBSQL_DASHBOARD"), eid),
                "notebook_id": _null_unless(of("NOTEBOOK"), eid),
                "sql_query_id": _null_unless(of("DBSQL_QUERY"), eid),
                "dlt_pipeline_info": _struct(
                    _field_type("access.table_lineage", "entity_metadata", "dlt_pipeline_info"),
                    {"dlt_pipeline_id": eid, "dlt_update_id": erun},
                    is_pipeline,
                ),
            },
            "direct_access": _null_unless(
                _newer(g["event_date"], newer_from).combine_chunks(), pa.array(np.ones(n, dtype=bool))
            ),
        },
    )


def _cache_origin(g: pa.Table, statement_id: pa.Array) -> pa.Array:
    """A cached result's origin: the latest earlier uncached run of the same saved query (itself
    when there is none in the window); every other statement is its own origin."""
    n = g.num_rows
    cached = g["from_result_cache"].to_numpy(zero_copy_only=False)
    query = pc.dictionary_encode(pc.fill_null(g["query_source_sql_query_id"], "")).combine_chunks().indices
    start = g["start_time"].combine_chunks().cast(pa.int64()).to_numpy()
    order = np.lexsort((start, query.to_numpy()))
    group = query.to_numpy()[order]
    pos = np.arange(n)
    new_group = np.concatenate([[True], group[1:] != group[:-1]])
    # Forward-fill the position of the last uncached row, not across query boundaries.
    source = np.where(~cached[order] | new_group, pos, 0)
    source = np.maximum.accumulate(source)
    origin = np.empty(n, dtype=np.int64)
    origin[order] = order[source]
    origin = np.where(cached, origin, np.arange(n))
    return statement_id.take(pa.array(origin))


def _queries(g: pa.Table, rng: np.random.Generator, newer_from: dt.date) -> pa.Table:
    n = g.num_rows
    statement_id = g["statement_id"].combine_chunks()
    executed_by = pc.dictionary_encode(g["executed_by"]).combine_chunks()
    user_ids = ids.unique_numeric(rng, len(executed_by.dictionary), 10**14, 10**15)
    user_id = pa.array(user_ids.astype(str)).take(executed_by.indices)
    cached = g["from_result_cache"].to_numpy(zero_copy_only=False)
    read_bytes = g["read_bytes"].to_numpy()
    read_files = g["read_files"].to_numpy()
    pruned_files = g["pruned_files"].to_numpy()
    written_bytes = g["written_bytes"].to_numpy()
    execution_ms = g["execution_duration_ms"].to_numpy()
    newer = _newer(pc.cast(g["start_time"], pa.date32()), newer_from).combine_chunks()
    file_bytes = read_bytes // np.maximum(read_files, 1)
    app = g["client_application"].combine_chunks()
    driver = take(list(CLIENT_DRIVERS.values()), _codes(app, list(CLIENT_DRIVERS)))
    return build_system(
        "query.history",
        {
            "account_id": g["account_id"],
            "workspace_id": g["workspace_id"],
            "statement_id": statement_id,
            "executed_by": g["executed_by"],
            "session_id": g["session_id"],
            "execution_status": g["execution_status"],
            "compute": {"type": g["compute_type"], "warehouse_id": g["warehouse_id"]},
            "executed_by_user_id": user_id,
            "statement_text": g["statement_text"],
            "statement_type": g["statement_type"],
            "error_message": g["error_message"],
            "client_application": app,
            "client_driver": driver,
            "total_duration_ms": g["total_duration_ms"],
            "waiting_for_compute_duration_ms": g["waiting_for_compute_duration_ms"],
            "waiting_at_capacity_duration_ms": g["waiting_at_capacity_duration_ms"],
            "execution_duration_ms": g["execution_duration_ms"],
            "compilation_duration_ms": g["compilation_duration_ms"],
            "total_task_duration_ms": execution_ms * rng.integers(1, 9, n),
            "result_fetch_duration_ms": np.where(cached, 0, rng.integers(1, 200, n)),
            "start_time": g["start_time"],
            "end_time": g["end_time"],
            # The statement's last progress update is its end, give or take the final write.
            "update_time": pc.add(g["end_time"], pa.array(rng.integers(0, 500, n) * 1000, pa.duration("us"))),
            "read_partitions": np.where(cached, 0, read_files // 4 + 1),
            "pruned_files": g["pruned_files"],
            "read_files": g["read_files"],
            "read_rows": g["read_rows"],
            "produced_rows": g["produced_rows"],
            "read_bytes": g["read_bytes"],
            "read_io_cache_percent": g["read_io_cache_percent"],
            "from_result_cache": g["from_result_cache"],
            "spilled_local_bytes": g["spilled_local_bytes"],
            "written_bytes": g["written_bytes"],
            "shuffle_read_bytes": (read_bytes * rng.uniform(0, 0.3, n)).astype(np.int64),
            "query_source": {
                "job_info": _struct(
                    _field_type("query.history", "query_source", "job_info"),
                    {"job_id": g["query_source_job_id"]},
                    pc.is_valid(g["query_source_job_id"]).combine_chunks(),
                ),
                "dashboard_id": g["query_source_dashboard_id"],
                "sql_query_id": g["query_source_sql_query_id"],
            },
            "executed_as_user_id": user_id,
            "executed_as": g["executed_by"],
            "written_rows": written_bytes // 120,
            "written_files": np.where(written_bytes > 0, written_bytes // (64 << 20) + 1, 0),
            "cache_origin_statement_id": _cache_origin(g, statement_id),
            "pruned_files_bytes": _null_unless(newer, pa.array(pruned_files * file_bytes)),
            "read_files_bytes": _null_unless(newer, pa.array(read_files * file_bytes)),
        },
    )


def _codes(values: pa.Array, vocab: list[str]) -> np.ndarray:
    """Position of each value in ``vocab``; -1 (NULL after ``take``) when absent."""
    return pc.fill_null(pc.index_in(values, pa.array(vocab)), -1).to_numpy()
