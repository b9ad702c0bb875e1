"""System tables of the compute family, written out from the simulated account's Gold tables.

``compute.clusters`` and ``compute.warehouses`` are SCD2 like the Gold dimensions they came from,
plus what only the real tables carry (``aws_attributes``, policies, elastic disk). Some clusters
keep the legacy ``SINGLE_USER``/``USER_ISOLATION`` security-mode names, clusters without custom
tags have NULL ``tags``, and warehouse rows written before Databricks added ``created_by`` have it
NULL. ``compute.node_timeline`` is per minute (coarser at larger scales, ``GRAIN_MINUTES``) where
Gold is per clock hour: each Gold row is cut into grid cells, clipped to the instance's uptime,
whose duration-weighted averages, peak and sums give the Gold row back exactly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.simulate import catalog as C
from health_monitor.simulate.system import Builders, build_system
from health_monitor.simulate.timegrid import MINUTE

# Minutes per node_timeline row, by scale; the real table has one row per instance per minute.
# Measured to_system of this family (seed 7, default days; 2 cores shared with other jobs, so CPU
# time is the steadier figure):
#   small  (37K instance-hours), 1 min: 1.50M rows (358 MB), 1.7 s CPU, +0.7 GB peak RSS.
#   medium (520K instance-hours), 1 min: 14.6M rows (3.5 GB), 13 s CPU, +5.6 GB peak RSS, before
#   the write and a Gold build that shuffles them on 2 cores: too much here. 5 min: 3.07M rows
#   (735 MB), 2.3 s CPU, +1.1 GB; its Gold step takes 28 s of Spark CPU. Larger scales: 15 min.
# The Gold build rolls any sub-hour grain up to clock hours, so the grain changes volume, not Gold.
GRAIN_MINUTES = {"small": 1, "medium": 5}
DEFAULT_GRAIN_MINUTES = 15

_AVERAGED = ("cpu_user_percent", "cpu_system_percent", "cpu_wait_percent", "mem_swap_percent")
_SUMMED = ("network_sent_bytes", "network_received_bytes")
_MOUNTS = ("/", "/local_disk0")
_DISK_GB = {"m5d.xlarge": 150, "m5d.2xlarge": 300, "i3.xlarge": 950, "i3.2xlarge": 1900}
_CORES = {"xlarge": 4.0, "2xlarge": 8.0}
_LEGACY_MODE = {
    "DATA_SECURITY_MODE_DEDICATED": "SINGLE_USER",
    "DATA_SECURITY_MODE_STANDARD": "USER_ISOLATION",
}


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> Builders:
    grain = GRAIN_MINUTES.get(config.spec.name, DEFAULT_GRAIN_MINUTES) * MINUTE
    return {
        "compute.clusters": lambda: clusters(gold["dim_cluster"], rng),
        "compute.node_types": lambda: node_types(_account_id(gold)),
        "compute.node_timeline": lambda: node_timeline(gold["fact_node_timeline"], rng, grain),
        "compute.warehouses": lambda: warehouses(gold["dim_warehouse"], _window_start_us(config)),
        "compute.warehouse_events": lambda: build_system(
            "compute.warehouse_events",
            {c: gold["fact_warehouse_events"][c] for c in gold["fact_warehouse_events"].column_names},
        ),
    }


def _window_start_us(config) -> int:
    return int(np.datetime64(config.start_date, "us").astype(np.int64))


def _account_id(gold: dict[str, pa.Table]) -> str | None:
    for table in gold.values():
        if "account_id" in table.column_names and table.num_rows:
            return table["account_id"][0].as_py()
    return None


def _us(column) -> np.ndarray:
    return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)


def _null_if_empty(maps) -> pa.Array:
    """NULL where a map is empty, as the clusters table has for clusters without custom tags."""
    maps = maps.combine_chunks() if isinstance(maps, pa.ChunkedArray) else maps
    n = len(maps)
    empty = np.diff(maps.offsets.to_numpy()) == 0
    with_null = pa.concat_arrays([maps, pa.nulls(1, maps.type)])
    return with_null.take(pa.array(np.where(empty, n, np.arange(n))))


def clusters(dim: pa.Table, rng: np.random.Generator) -> pa.Table:
    n = dim.num_rows
    codes = pc.dictionary_encode(dim["cluster_id"]).combine_chunks().indices.to_numpy()
    m = int(codes.max()) + 1 if n else 0
    automated = pc.not_equal(dim["cluster_source"], "UI").to_numpy()
    # Per cluster: elastic disk, availability zone, policy (index 4: none), legacy mode name.
    elastic = rng.random(m) < 0.85
    zone = rng.integers(0, 7, m)
    policy = rng.integers(0, 5, m)
    legacy = (rng.random(m) < 0.4)[codes]
    policies = pa.array([f"{v:016X}" for v in rng.integers(0, 2**63, 4)] + [None], pa.string())
    zones = pa.array([f"{C.REGION}{z}" for z in "abcdef"] + ["auto"], pa.string())
    mode = dim["data_security_mode"].combine_chunks()
    for current, old in _LEGACY_MODE.items():
        mode = pc.if_else(pc.and_(pa.array(legacy), pc.equal(mode, current)), old, mode)
    columns = {c: dim[c] for c in dim.column_names if c not in ("is_current", "tags", "data_security_mode")}
    columns.update(
        tags=_null_if_empty(dim["tags"]),
        data_security_mode=mode,
        enable_elastic_disk=elastic[codes],
        policy_id=policies.take(pa.array(np.where(automated, policy[codes], 4))),
        aws_attributes={
            "first_on_demand": np.ones(n, dtype=np.int64),
            "availability": pa.array(np.where(automated, "SPOT_WITH_FALLBACK", "ON_DEMAND"), pa.string()),
            "zone_id": zones.take(pa.array(zone[codes])),
            "spot_bid_price_percent": pa.array(np.full(n, 100), pa.int64(), mask=~automated),
        },
    )
    return build_system("compute.clusters", columns, n)


def node_types(account_id: str | None) -> pa.Table:
    names = [t[0] for t in C.NODE_TYPES]
    return build_system(
        "compute.node_types",
        {
            "account_id": pa.array([account_id] * len(names), pa.string()),
            "node_type": pa.array(names, pa.string()),
            "core_count": np.array([_CORES[t.split(".")[1]] for t in names]),
            "memory_mb": np.array([t[2] * 1024 for t in C.NODE_TYPES], dtype=np.int64),
            "gpu_count": np.zeros(len(names), dtype=np.int64),
        },
    )


def warehouses(dim: pa.Table, window_start_us: int) -> pa.Table:
    # created_by is newer than the table: rows written before Databricks added it (here: the rows
    # older than the simulated window) have it NULL; the Gold build fills it from newer rows.
    older = pa.array(_us(dim["change_time"]) < window_start_us)
    columns = {c: dim[c] for c in dim.column_names if c != "is_current"}
    columns["created_by"] = pc.if_else(
        older, pa.scalar(None, pa.string()), dim["created_by"].combine_chunks()
    )
    return build_system("compute.warehouses", columns, dim.num_rows)


# ---------------------------------------------------------------------------- node timeline


def node_timeline(hourly: pa.Table, rng: np.random.Generator, grain: int) -> pa.Table:
    """Grid rows of ``grain`` µs (clipped to each instance's uptime) that roll up to ``hourly``."""
    n = hourly.num_rows
    s, e = _us(hourly["start_time"]), _us(hourly["end_time"])
    first = s // grain
    k = np.maximum((e - 1) // grain - first + 1, 1)
    total = int(k.sum())
    p = np.repeat(np.arange(n), k)
    off = np.cumsum(k) - k
    idx = np.arange(total) - off[p]
    grid = (first[p] + idx) * grain
    start = np.maximum(s[p], grid)
    end = np.maximum(np.minimum(e[p], grid + grain), start)
    dur = (end - start).astype(np.float64)
    del grid, idx

    def centred(u: np.ndarray) -> np.ndarray:
        """u minus its duration-weighted mean within its Gold row: adds nothing to the average."""
        den = np.bincount(p, weights=dur, minlength=n)
        mean = np.bincount(p, weights=u * dur, minlength=n) / np.where(den > 0, den, 1)
        return u - mean[p]

    columns: dict[str, object] = {}
    for name in _AVERAGED:
        v = hourly[name].to_numpy()
        amp = 0.25 * np.minimum(v, 100 - v).clip(0)  # keeps every minute within [0, 100]
        columns[name] = v[p] + amp[p] * centred(rng.uniform(-1, 1, total))
    peak = hourly["mem_used_percent"].to_numpy()
    below = rng.uniform(0, 1, total)
    below[off + (rng.random(n) * k).astype(np.int64)] = 0.0  # the minute that carries the peak
    columns["mem_used_percent"] = peak[p] - np.minimum(peak, 8)[p] * below
    last = off + k - 1
    for name in _SUMMED:
        bytes_ = hourly[name].to_numpy()
        weight = dur * rng.uniform(0.5, 1.5, total)
        wsum = np.bincount(p, weights=weight, minlength=n)
        share = np.floor(bytes_[p] * (weight / np.where(wsum > 0, wsum, 1)[p])).astype(np.int64)
        share[last] += bytes_ - np.bincount(p, weights=share, minlength=n).astype(np.int64)
        columns[name] = share

    inst = pc.dictionary_encode(hourly["instance_id"]).combine_chunks()
    code = inst.indices.to_numpy()
    n_inst = len(inst.dictionary)
    octets = [pa.array(rng.integers(lo, 255, n_inst)).cast(pa.string()) for lo in (0, 0, 4)]
    ip = pc.binary_join_element_wise("10", *octets, ".") if n_inst else pa.array([], pa.string())
    node = pc.dictionary_encode(hourly["node_type"]).combine_chunks()
    disk_gb = np.array([_DISK_GB.get(t, 300) for t in node.dictionary.to_pylist()], dtype=np.float64)
    columns.update(
        {c: hourly[c].take(pa.array(p)) for c in ("account_id", "workspace_id", "cluster_id", "instance_id")},
        driver=hourly["driver"].take(pa.array(p)),
        node_type=hourly["node_type"].take(pa.array(p)),
        start_time=start,
        end_time=end,
        private_ip=ip.take(pa.array(code[p])),
        disk_free_bytes_per_mount_point=_disk_free(rng, disk_gb[node.indices.to_numpy()][p], code[p], n_inst),
    )
    return build_system("compute.node_timeline", columns, total)


def _disk_free(rng: np.random.Generator, local_gb: np.ndarray, inst: np.ndarray, n_inst: int) -> pa.MapArray:
    """Free bytes of the root and local disks, steady per instance; about 1% of rows have an empty
    map (not collected)."""
    n = len(inst)
    per_row = np.where(rng.random(n) < 0.01, 0, len(_MOUNTS))
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    has = per_row > 0
    jitter = rng.uniform(0.99, 1.01, n)
    root = rng.uniform(18e9, 24e9, n_inst)[inst] * jitter
    local = local_gb * 1e9 * rng.uniform(0.35, 0.95, n_inst)[inst] * jitter
    items = np.stack([root, local], axis=1)[has].ravel().astype(np.int64)
    keys = pa.array(list(_MOUNTS), pa.string()).take(pa.array(np.tile([0, 1], int(has.sum()))))
    return pa.MapArray.from_arrays(
        pa.array(offsets), keys, pa.array(items, pa.int64()), type=pa.map_(pa.string(), pa.int64())
    )
