"""The simulated account as Databricks has it: system tables, with their schemas and quirks.

The simulator generates its account at Gold grain (:mod:`health_monitor.simulate.account`); this
package writes that account out as the system tables it would have come from, with the shapes of
the real ones: struct columns, ``decimal(38,18)`` quantities, RETRACTION/RESTATEMENT pairs,
hourly run slices with the result on the last slice, per-minute node metrics, SCD2 rows, columns
that are NULL on older rows, and job usage on all-purpose clusters without a ``job_id``.
``health-monitor gold`` then builds the Gold layer from them, as it does for a real account.

One module per family of system tables; each exposes ``to_system(gold, rng, config) -> Builders``
mapping ``schema.table`` (``billing.usage``) to a function that builds its Arrow table with
:func:`build_system`. The tables are built one at a time, so that a caller can write each and let
it go before the next is built: at the seed scale the audit logs alone are gigabytes. A caller
that gives the account up also lets each large Gold table go once the last system table built
from it is built (:data:`LAST_READ`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from health_monitor.system.reference import system_table

Builders = dict[str, Callable[[], pa.Table]]

# system table -> the large Gold tables no system table built after it reads (checked by
# tests/simulate/test_determinism.py): with ``let_go``, they leave the account once it is built.
# With the build order (system_tables_one_by_one) it lowers the simulator's peak (docs/scale.md).
LAST_READ = {
    "billing.usage": ("fact_usage",),
    "lakeflow.job_task_run_timeline": ("fact_job_task_run_timeline",),
    "access.audit": ("fact_audit_logs",),
    "access.table_lineage": ("fact_table_lineage",),
    "query.history": ("fact_query_history",),
    "compute.clusters": ("dim_cluster",),
    "compute.node_timeline": ("fact_node_timeline",),
}


def build_system(name: str, columns: dict[str, Any], n: int | None = None) -> pa.Table:
    """An Arrow table with exactly the reference schema of system table ``name``.

    ``columns`` maps column names to arrays (Arrow or numpy) or, for struct columns, to a dict of
    field name -> array (nested structs nest the same way). Columns and struct fields not given
    are NULL, as newer or unused columns are in a real account. ``n`` is the row count when no
    column is given.
    """
    schema = system_table(name).arrow_schema()
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise ValueError(f"system.{name} has no column(s) {unknown}")
    if n is None:
        if not columns:
            raise ValueError("build_system: pass n when no column is given")
        first = next(iter(columns.values()))
        n = _length(first)
    arrays = [_array(f"{name}.{f.name}", f.type, columns.get(f.name), n) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _length(value: Any) -> int:
    if isinstance(value, dict):
        return _length(next(iter(value.values())))
    return len(value)


def _array(where: str, type_: pa.DataType, value: Any, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    if pa.types.is_struct(type_) and isinstance(value, dict):
        unknown = sorted(set(value) - {f.name for f in type_})
        if unknown:
            raise ValueError(f"{where} has no field(s) {unknown}")
        children = [_array(f"{where}.{f.name}", f.type, value.get(f.name), n) for f in type_]
        return pa.StructArray.from_arrays(children, fields=list(type_))
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, np.ndarray):
        value = pa.array(value)
    if not isinstance(value, pa.Array):
        value = pa.array(value, type=type_)
    if len(value) != n:
        raise ValueError(f"{where}: {len(value)} values for {n} rows")
    if not value.type.equals(type_):
        value = value.cast(type_, safe=not pa.types.is_decimal(type_))
    return value


def account_inputs(gold: dict[str, pa.Table]):
    """The account file a simulated account's owner would have written: its commitments and SLAs."""
    from health_monitor.system.inputs import COMMITMENT_COLUMNS, AccountInputs

    return AccountInputs(gold["commit_configurations"].select(list(COMMITMENT_COLUMNS)), gold["dim_job_sla"])


def built(builders: Builders) -> dict[str, pa.Table]:
    """Every table of one module's ``to_system``, built in its order and held at once."""
    return {name: build() for name, build in builders.items()}


def simulate_system_tables(gold: dict[str, pa.Table], seed: int, config) -> dict[str, pa.Table]:
    """Every system table of the simulated account, by ``schema.table``, all held at once."""
    _, tables = system_tables_one_by_one(gold, seed, config)
    return dict(sorted(tables))


def system_tables_one_by_one(
    gold: dict[str, pa.Table], seed: int, config, *, let_go: bool = False
) -> tuple[list[str], Iterator[tuple[str, pa.Table]]]:
    """The names of every system table of the simulated account (``schema.table``, sorted), and an
    iterator that builds them one after the other as ``(name, table)`` pairs. It holds no table it
    has yielded, so the peak is the account plus the largest table, not every table at once.
    ``let_go``: the caller gives ``gold`` up, and each Gold table of :data:`LAST_READ` is removed
    from it once the system table that reads it last is built (for ``simulate``; a caller that
    still reads those Gold tables afterwards leaves it off).

    The tables of one module share its random stream, and the iterator builds them in the order
    the module lists them: the account is the same whatever the caller does with each table."""
    from health_monitor.simulate.rand import stream
    from health_monitor.simulate.system import access, billing, compute, lakeflow, quality

    builders: Builders = {}
    # access (the audit logs, lineage and query history, the largest Gold tables) before compute,
    # whose per-minute node timeline is the largest table to build: with ``let_go`` it is built
    # once those Gold tables are gone.
    for module in (billing, lakeflow, access, compute, quality):
        produced = module.to_system(
            gold, stream(seed, f"system-{module.__name__.rsplit('.', 1)[-1]}"), config
        )
        clash = set(produced) & set(builders)
        if clash:
            raise RuntimeError(f"simulator bug: system tables produced twice: {sorted(clash)}")
        builders.update(produced)

    def build() -> Iterator[tuple[str, pa.Table]]:
        while builders:
            name = next(iter(builders))
            yield name, _build(builders.pop(name), gold, LAST_READ.get(name, ()) if let_go else ())

    return sorted(builders), build()


def _build(build: Callable[[], pa.Table], gold: dict[str, pa.Table], done: tuple[str, ...]) -> pa.Table:
    """``build()``, then the Gold tables ``done`` removed from ``gold`` (returned, so that no frame
    of the iterator keeps the table once its caller lets it go)."""
    table = build()
    for name in done:
        del gold[name]
    return table
