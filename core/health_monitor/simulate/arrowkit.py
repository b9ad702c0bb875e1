"""Turn numpy columns into contract-typed Arrow tables without per-row Python objects.

Strings come from small vocabularies indexed by integer codes (`take`), so millions of rows
cost one gather, not millions of Python strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from health_monitor.gold.contract import GOLD_TABLES, GOLD_TYPES, arrow_schema
from health_monitor.simulate.timegrid import DAY, NAT

MAP_TYPE = GOLD_TYPES["map<string,string>"]


def take(vocab: pa.Array | list[str], idx: np.ndarray) -> pa.Array:
    """vocab[idx] as an Arrow array; negative indices become nulls."""
    if not isinstance(vocab, pa.Array):
        vocab = pa.array(vocab, type=pa.string())
    idx = np.asarray(idx, dtype=np.int64)
    neg = idx < 0
    indices = pa.array(np.where(neg, 0, idx), mask=neg if neg.any() else None)
    return vocab.take(indices)


def const(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    """A column holding `value` n times (nulls for None)."""
    if value is None:
        return pa.nulls(n, type_)
    return _repeat(value, n, type_)


def _repeat(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], type=type_)
    ).cast(type_)


def timestamps(us: np.ndarray) -> pa.Array:
    us = np.asarray(us, dtype=np.int64)
    nat = us == NAT
    return pa.array(us, type=GOLD_TYPES["timestamp"], mask=nat if nat.any() else None)


def dates_from_us(us: np.ndarray) -> pa.Array:
    return pa.array((np.asarray(us, dtype=np.int64) // DAY).astype(np.int32), type=pa.date32())


def nullable(values: np.ndarray, mask: np.ndarray, type_: pa.DataType) -> pa.Array:
    """values with nulls where mask is true."""
    return pa.array(values, type=type_, mask=mask if mask.any() else None)


def maps(offsets: np.ndarray, keys: pa.Array, items: pa.Array) -> pa.MapArray:
    """Map rows: row i holds keys[offsets[i]:offsets[i+1]] -> items[...]."""
    return pa.MapArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int32)), keys, items, type=MAP_TYPE)


def maps_from_dicts(dicts: list[dict[str, str]]) -> pa.MapArray:
    """For small entity vocabularies only (tags per job, per cluster, ...)."""
    return pa.array([list(d.items()) for d in dicts], type=MAP_TYPE)


def empty_maps(n: int) -> pa.MapArray:
    return maps(np.zeros(n + 1, dtype=np.int32), pa.array([], pa.string()), pa.array([], pa.string()))


def build(name: str, columns: dict[str, Any]) -> pa.Table:
    """A Gold table from numpy/Arrow columns and scalars, typed and ordered as the contract says."""
    spec = GOLD_TABLES[name]
    extra = set(columns) - set(spec.column_names)
    missing = [c for c in spec.column_names if c not in columns]
    if extra or missing:
        raise ValueError(f"simulator bug in {name}: extra columns {sorted(extra)}, missing {missing}")
    lengths = {len(v) for v in columns.values() if isinstance(v, (np.ndarray, pa.Array, pa.ChunkedArray))}
    if len(lengths) != 1:
        raise ValueError(f"simulator bug in {name}: column lengths differ {sorted(lengths)}")
    n = lengths.pop()
    arrays = []
    for col in spec.columns:
        target = GOLD_TYPES[col.type]
        value = columns[col.name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arr = value if value.type.equals(target) else value.cast(target)
        elif isinstance(value, np.ndarray):
            if col.type == "timestamp":
                arr = timestamps(value)
            elif col.type == "date":
                arr = pa.array(value.astype(np.int32), type=target)
            elif col.type == "double" and col.nullable:
                arr = pa.array(value, type=target, mask=np.isnan(value) if np.isnan(value).any() else None)
            else:
                arr = pa.array(value, type=target)
        else:
            arr = _repeat(value, n, target) if value is not None else pa.nulls(n, target)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=arrow_schema(spec))
