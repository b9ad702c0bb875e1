"""System tables of the quality family, written out from the simulated account's Gold tables.

* ``data_quality_monitoring.table_results``: one row per table and daily scan. The Gold row's
  values go back into the ``freshness`` / ``completeness`` / ``downstream_impact`` /
  ``root_cause_analysis`` structs; catalogs, schemas and tables get stable UUIDs; the upstream
  job carries its name, workspace, last finished run's state and run page URL.
* ``information_schema.tables`` / ``.columns`` and ``access.workspaces_latest`` keep no history on
  Databricks: they show the state of the last simulated day only (the past days live in the Gold
  history tables, which the simulator writes directly). As a real ``system.information_schema``
  they also list the ``system`` catalog's tables and each catalog's ``information_schema`` views,
  fill the columns Gold drops (``is_insertable_into``, ``storage_path``, ``numeric_precision``,
  ...), number columns from 0 (the real views do, whatever the docs say), and keep
  ``workspaces_latest.create_time`` to the second.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.simulate.arrowkit import const
from health_monitor.simulate.system import Builders, build_system
from health_monitor.system.reference import parse_type, system_table, system_tables, type_text

STORAGE_ROOT = "s3://acme-uc-root-us-east-1/__unitystorage"
EXTERNAL_ROOT = "s3://acme-external-data"
SYSTEM_OWNER = "System user"
INFO_SCHEMA_VIEWS = ("tables", "columns")  # the views the reference has columns for
_WRITABLE = ("MANAGED", "EXTERNAL")
_MANAGED_STORAGE = ("MANAGED", "MATERIALIZED_VIEW", "STREAMING_TABLE")


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> Builders:
    checks = gold["fact_data_quality_monitoring_table_results"]
    tabs = _last_snapshot(gold["information_schema_tables_snapshot"])
    cols = _last_snapshot(gold["information_schema_columns_snapshot"])
    ids = _Ids(rng, [(checks, "catalog_name", "schema_name", "table_name"), (tabs, *_NAME_COLS)])
    return {
        "data_quality_monitoring.table_results": lambda: _table_results(gold, rng, ids),
        "information_schema.tables": lambda: _information_schema_tables(gold, tabs, ids),
        "information_schema.columns": lambda: _information_schema_columns(tabs, cols),
        "access.workspaces_latest": lambda: _workspaces_latest(gold["dim_workspace"]),
    }


_NAME_COLS = ("table_catalog", "table_schema", "table_name")


def _last_snapshot(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return table
    last = pc.max(table["snapshot_date"])
    return table.filter(pc.equal(table["snapshot_date"], last))


def _dotted(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, ".")


def _uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """n random version-4 UUID strings."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.array(list("0123456789abcdef"))
    chars = np.empty((n, 32), dtype="<U1")
    chars[:, 0::2] = digits[raw >> 4]
    chars[:, 1::2] = digits[raw & 0x0F]
    dashed = np.insert(chars, [8, 12, 16, 20], "-", axis=1)
    return pa.array(np.ascontiguousarray(dashed).view("<U36").ravel(), pa.string())


class _Ids:
    """Stable UUIDs per catalog, schema and table, for every table the given frames name."""

    def __init__(self, rng: np.random.Generator, frames: list[tuple]):
        names = [
            (t[c].combine_chunks(), t[s].combine_chunks(), t[n].combine_chunks()) for t, c, s, n in frames
        ]
        cat = pa.concat_arrays([c for c, _, _ in names])
        sch = pa.concat_arrays([_dotted(c, s) for c, s, _ in names])
        tab = pa.concat_arrays([_dotted(c, s, n) for c, s, n in names])
        self.catalogs, self.schemas, self.tables = pc.unique(cat), pc.unique(sch), pc.unique(tab)
        self._ids = {
            "catalog": _uuids(rng, len(self.catalogs)),
            "schema": _uuids(rng, len(self.schemas)),
            "table": _uuids(rng, len(self.tables)),
        }

    def of(self, kind: str, keys: pa.Array) -> pa.Array:
        vocab = {"catalog": self.catalogs, "schema": self.schemas, "table": self.tables}[kind]
        return self._ids[kind].take(pc.index_in(keys, value_set=vocab))


# ------------------------------------------------------------------ data quality monitoring


def _table_results(gold: dict[str, pa.Table], rng: np.random.Generator, ids: _Ids) -> pa.Table:
    f = gold["fact_data_quality_monitoring_table_results"]
    n = f.num_rows
    cat, sch, tab = (f[c].combine_chunks() for c in ("catalog_name", "schema_name", "table_name"))
    daily = f["daily_row_count"].combine_chunks()
    total = f["total_row_count"].combine_chunks()
    before = pc.subtract(total, daily)  # the total row count the day's rows were added to
    downstream = f["num_downstream_tables"].combine_chunks()
    unhealthy = pc.equal(f["status"], "Unhealthy").to_numpy(zero_copy_only=False)
    n_down = downstream.fill_null(0).to_numpy()
    # The impact of a problem grows with what reads the table; a healthy table impacts nothing.
    level = np.where(unhealthy & (n_down > 0), np.clip(np.ceil(np.log2(n_down + 1)), 1, 4), 0)
    queries = np.where(unhealthy, rng.poisson(12.0 * n_down), 0)
    return build_system(
        "data_quality_monitoring.table_results",
        {
            "event_time": f["event_time"],
            "catalog_name": cat,
            "schema_name": sch,
            "table_name": tab,
            "catalog_id": ids.of("catalog", cat),
            "schema_id": ids.of("schema", _dotted(cat, sch)),
            "table_id": ids.of("table", _dotted(cat, sch, tab)),
            "status": f["status"],
            "freshness": {
                "status": f["freshness_status"],
                "commit_freshness": {
                    "status": f["freshness_status"],
                    "last_value": f["commit_freshness_last_value"],
                    "predicted_value": f["commit_freshness_predicted_value"],
                },
            },
            "completeness": {
                "status": f["completeness_status"],
                "total_row_count": {
                    "status": f["completeness_status"],
                    "last_value": total,
                    "min_predicted_value": pc.add(before, f["daily_row_count_min_predicted"]),
                    "max_predicted_value": pc.add(before, f["daily_row_count_max_predicted"]),
                },
                "daily_row_count": {
                    "status": f["completeness_status"],
                    "last_value": daily,
                    "min_predicted_value": f["daily_row_count_min_predicted"],
                    "max_predicted_value": f["daily_row_count_max_predicted"],
                },
            },
            "downstream_impact": {
                "impact_level": pa.array(level.astype(np.int32)),
                "num_downstream_tables": downstream,
                "num_queries_on_affected_tables": pa.array(queries.astype(np.int64)),
            },
            "root_cause_analysis": {"upstream_jobs": _upstream_jobs(gold, f, n)},
        },
        n=n,
    )


def _upstream_jobs(gold: dict[str, pa.Table], f: pa.Table, n: int) -> pa.Array:
    """One upstream job per row (the table's writer) with its last finished run before the scan;
    an empty list when the table has no known writer."""
    list_type = system_table("data_quality_monitoring.table_results").column("root_cause_analysis")
    item_type = parse_type(list_type.type_text).field("upstream_jobs").type
    jobs = gold["dim_job"].filter(pc.field("is_current"))
    job_ids = jobs["job_id"].combine_chunks()
    upstream = f["upstream_job_id"].combine_chunks()
    has = pc.is_valid(upstream).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(has)
    job = upstream.take(pa.array(rows))
    j = pc.index_in(job, value_set=job_ids)
    workspace = jobs["workspace_id"].combine_chunks().take(j)

    # The job's last final slice (result_state set) that ended at or before the scan.
    runs = gold["fact_job_run_timeline"].filter(pc.is_valid(pc.field("result_state")))
    run_job = pc.index_in(runs["job_id"], value_set=job_ids).fill_null(-1).to_numpy()
    run_end = runs["period_end_time"].cast(pa.int64()).to_numpy() // 1_000_000
    scan = f["event_time"].cast(pa.int64()).to_numpy()[rows] // 1_000_000
    base = min(int(run_end.min()) if len(run_end) else 0, int(scan.min()) if len(scan) else 0)
    run_key = (run_job.astype(np.int64) << 36) + (run_end - base)
    order = np.argsort(run_key, kind="stable")
    row_job = j.fill_null(-1).to_numpy().astype(np.int64)
    pos = np.searchsorted(run_key[order], (row_job << 36) + (scan - base), side="right") - 1
    found = (pos >= 0) & (row_job >= 0)
    run = order[np.maximum(pos, 0)] if len(order) else np.zeros(len(pos), np.int64)
    found &= run_job[run] == row_job if len(order) else False
    last = pa.array(np.where(found, run, 0), mask=~found)
    last_run = runs["run_id"].combine_chunks().take(last)
    ws = gold["dim_workspace"].filter(pc.field("is_current"))
    url = ws["workspace_url"].combine_chunks().take(pc.index_in(workspace, value_set=ws["workspace_id"]))
    page = pc.binary_join_element_wise(url, "jobs/", job, "/runs/", last_run, "")
    items = pa.StructArray.from_arrays(
        [
            job,
            workspace,
            jobs["name"].combine_chunks().take(j),
            runs["result_state"].combine_chunks().take(last),
            page,
        ],
        fields=list(item_type.value_type),
    )
    offsets = pa.array(np.concatenate([[0], np.cumsum(has)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, items, type=item_type)


# ------------------------------------------------------------------ information_schema


def _information_schema_tables(gold: dict[str, pa.Table], tabs: pa.Table, ids: _Ids) -> pa.Table:
    cat, sch, name = (tabs[c].combine_chunks() for c in _NAME_COLS)
    kind = tabs["table_type"].combine_chunks()
    managed_path = pc.binary_join_element_wise(
        STORAGE_ROOT,
        "catalogs",
        ids.of("catalog", cat),
        "tables",
        ids.of("table", _dotted(cat, sch, name)),
        "/",
    )
    external_path = pc.binary_join_element_wise(EXTERNAL_ROOT, cat, sch, name, "/")
    user = {
        "table_catalog": cat,
        "table_schema": sch,
        "table_name": name,
        "table_type": kind,
        "is_insertable_into": pc.if_else(pc.is_in(kind, pa.array(_WRITABLE)), "YES", "NO"),
        "commit_action": const("PRESERVE", len(kind), pa.string()),
        "table_owner": tabs["table_owner"],
        "comment": tabs["comment"],
        "created": tabs["created"],
        "created_by": tabs["created_by"],
        "last_altered": tabs["last_altered"],
        "last_altered_by": tabs["last_altered_by"],
        "data_source_format": tabs["data_source_format"],
        "storage_path": pc.if_else(
            pc.is_in(kind, pa.array(_MANAGED_STORAGE)),
            managed_path,
            pc.if_else(pc.equal(kind, "EXTERNAL"), external_path, pa.scalar(None, pa.string())),
        ),
    }
    catalogs = pc.unique(cat).to_pylist()
    created = _metastore_created(gold)
    sys_rows = [(c, s, t) for c, s, t, _ in _catalog_metadata(catalogs)]
    views = [r[1] == "information_schema" for r in sys_rows]
    m = len(sys_rows)
    system = {
        "table_catalog": [r[0] for r in sys_rows],
        "table_schema": [r[1] for r in sys_rows],
        "table_name": [r[2] for r in sys_rows],
        "table_type": ["VIEW" if v else "MANAGED" for v in views],
        "is_insertable_into": ["NO"] * m,
        "commit_action": ["PRESERVE"] * m,
        "table_owner": [SYSTEM_OWNER] * m,
        "created": pa.array([created] * m, pa.timestamp("us", tz="UTC")),
        "created_by": [SYSTEM_OWNER] * m,
        "last_altered": pa.array([created] * m, pa.timestamp("us", tz="UTC")),
        "last_altered_by": [SYSTEM_OWNER] * m,
        # Unverified on a real account: views are taken to carry no data source format.
        "data_source_format": [None if v else "DELTA" for v in views],
    }
    return pa.concat_tables(
        [build_system("information_schema.tables", user), build_system("information_schema.tables", system)]
    )


def _catalog_metadata(catalogs: list[str]) -> list[tuple[str, str, str, str]]:
    """(catalog, schema, table, reference table) of what a real information_schema lists besides
    the user's tables: the system catalog's tables and each catalog's information_schema views."""
    rows = []
    for name in system_tables():
        schema, table = name.split(".")
        rows.append(("system", schema, table, name))
    for catalog in catalogs:
        for view in INFO_SCHEMA_VIEWS:
            rows.append((catalog, "information_schema", view, f"information_schema.{view}"))
    return rows


def _metastore_created(gold: dict[str, pa.Table]) -> dt.datetime:
    """When the metastore (and its system catalog) appeared: with the first workspace."""
    first = pc.min(gold["dim_workspace"]["create_time"]).as_py()
    return first.replace(microsecond=0) if first else dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)


# data_type -> numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision
_NUMERIC: dict[str, tuple[int | None, int | None, int | None, int | None]] = {
    "BYTE": (8, 2, 0, None),
    "SHORT": (16, 2, 0, None),
    "INT": (32, 2, 0, None),
    "LONG": (64, 2, 0, None),
    "FLOAT": (24, 2, None, None),
    "DOUBLE": (53, 2, None, None),
    "DATE": (None, None, None, 0),
    "TIMESTAMP": (None, None, None, 3),
}
_DATA_TYPE = {
    "bigint": "LONG",
    "int": "INT",
    "smallint": "SHORT",
    "tinyint": "BYTE",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "string": "STRING",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BINARY",
}


def _data_type(full_type: str) -> str:
    root = full_type.split("<", 1)[0].split("(", 1)[0].strip().lower()
    return _DATA_TYPE.get(root, root.upper())


def _type_attributes(full_types: pa.Array, data_types: pa.Array) -> dict[str, pa.Array]:
    """numeric_precision & co per row, computed once per distinct type and gathered."""
    pair = pc.binary_join_element_wise(full_types, data_types, "|").dictionary_encode()
    values: list[tuple[int | None, ...]] = []
    for text in pair.dictionary.to_pylist():
        full, kind = text.split("|")
        if kind == "DECIMAL":
            p, s = (int(x) for x in full[full.index("(") + 1 : full.index(")")].split(","))
            values.append((p, 10, s, None))
        else:
            values.append(_NUMERIC.get(kind, (None, None, None, None)))
    names = ("numeric_precision", "numeric_precision_radix", "numeric_scale", "datetime_precision")
    return {
        name: pa.array([v[i] for v in values], pa.int32()).take(pair.indices) for i, name in enumerate(names)
    }


def _information_schema_columns(tabs: pa.Table, cols: pa.Table) -> pa.Table:
    full = _dotted(*(cols[c].combine_chunks() for c in _NAME_COLS))
    kind = (
        tabs["table_type"]
        .combine_chunks()
        .take(pc.index_in(full, value_set=_dotted(*(tabs[c].combine_chunks() for c in _NAME_COLS))))
    )
    n = cols.num_rows
    user = {
        "table_catalog": cols["table_catalog"],
        "table_schema": cols["table_schema"],
        "table_name": cols["table_name"],
        "column_name": cols["column_name"],
        "ordinal_position": pc.subtract(cols["ordinal_position"], pa.scalar(1, pa.int32())),
        "is_nullable": cols["is_nullable"],
        "full_data_type": cols["full_data_type"],
        "data_type": cols["data_type"],
        "is_updatable": pc.if_else(pc.is_in(kind, pa.array(_WRITABLE)), "YES", "NO"),
    }
    sys_rows = []
    for catalog, schema, table, ref in _catalog_metadata(pc.unique(tabs["table_catalog"]).to_pylist()):
        for pos, col in enumerate(system_table(ref).columns):
            full_type = type_text(col.arrow_type)
            sys_rows.append((catalog, schema, table, col.name, pos, full_type, _data_type(full_type)))
    system = {
        name: [r[i] for r in sys_rows]
        for i, name in enumerate(
            ("table_catalog", "table_schema", "table_name", "column_name", "ordinal_position")
            + ("full_data_type", "data_type")
        )
    }
    system["is_nullable"] = ["YES"] * len(sys_rows)
    system["is_updatable"] = ["NO"] * len(sys_rows)
    parts = []
    for part, rows in ((user, n), (system, len(sys_rows))):
        full_types = pa.array(part["full_data_type"], pa.string())
        data_types = pa.array(part["data_type"], pa.string())
        part.update(_type_attributes(full_types, data_types))
        for always_no in ("is_identity", "is_system_time_period_start", "is_system_time_period_end"):
            part[always_no] = const("NO", rows, pa.string())
        parts.append(build_system("information_schema.columns", part, n=rows))
    return pa.concat_tables(parts)


# ------------------------------------------------------------------ workspaces


def _workspaces_latest(dim: pa.Table) -> pa.Table:
    current = dim.filter(pc.field("is_current"))
    create = current["create_time"].combine_chunks()
    seconds = pc.floor_temporal(create, unit="second")  # the real column has whole seconds
    return build_system(
        "access.workspaces_latest",
        {
            "account_id": current["account_id"],
            "workspace_id": current["workspace_id"],
            "workspace_name": current["workspace_name"],
            "workspace_url": current["workspace_url"],
            "create_time": seconds,
            "status": current["status"],
        },
    )
