"""Compute family: clusters, node timeline, warehouses and warehouse events through the Gold build.

The round trip writes the tiny account's compute system tables (node_timeline per minute) and
checks that the Gold build gives the simulator's Gold back; the quirk test checks hand-written
rows (clipped minutes, a row straddling an hour, SCD2 rows, legacy names, NULL maps) value by value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from health_monitor.config import Settings
from health_monitor.gold.build import BuildContext
from health_monitor.gold.build import compute as steps
from health_monitor.gold.build.runner import build_gold, conform_frame
from health_monitor.gold.contract import GOLD_TABLES
from health_monitor.simulate.rand import stream
from health_monitor.simulate.system import build_system, built
from health_monitor.simulate.system import compute as sim_compute
from health_monitor.system.inputs import AccountInputs
from health_monitor.system.reference import empty_table, system_table
from tests.system.conftest import sorted_rows

GOLD = ("dim_cluster", "fact_node_timeline", "dim_warehouse", "fact_warehouse_events")
SOURCES = (
    "compute.clusters",
    "compute.node_timeline",
    "compute.warehouses",
    "compute.warehouse_events",
)
UTC = dt.timezone.utc
MAP_LONG = pa.map_(pa.string(), pa.int64())


def _ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _gold(runtime, table: str) -> pa.Table:
    return runtime.lakehouse.read_arrow(runtime.settings.gold(table))


def _assert_same(got: pa.Table, want: pa.Table, table: str) -> None:
    """Value by value in primary-key order; doubles within 1e-9 (duration-weighted averages)."""
    spec = GOLD_TABLES[table]
    order = [(k, "ascending") for k in spec.primary_key]
    got, want = got.select(list(spec.column_names)).sort_by(order), want.sort_by(order)
    assert got.num_rows == want.num_rows, table
    for name in spec.column_names:
        g, w = got[name], want[name]
        if pa.types.is_floating(w.type):
            np.testing.assert_allclose(g.to_numpy(), w.to_numpy(), rtol=1e-12, atol=1e-9, err_msg=name)
        elif pa.types.is_map(w.type):
            assert [sorted(m) for m in g.to_pylist()] == [sorted(m) for m in w.to_pylist()], name
        else:
            assert g.to_pylist() == w.to_pylist(), name


def _context(runtime, since: dt.date | None) -> BuildContext:
    lakehouse, settings = runtime.lakehouse, runtime.settings
    return BuildContext(
        spark=lakehouse.spark,
        since=since,
        today=dt.date(2025, 4, 1),
        inputs=AccountInputs.empty(),
        _read_system=lambda name: lakehouse.read(settings.system(name)),
        _read_gold=lambda table: lakehouse.read(settings.gold(table)),
        _has_system=lambda name: lakehouse.exists(settings.system(name)),
    )


def _step(table: str):
    return next(s for s in steps.STEPS if s.table == table)


def _incremental_equals_full(runtime, table: str, since: dt.date) -> None:
    step = _step(table)
    part = conform_frame(table, step.build(_context(runtime, since))).toArrow()
    full = _gold(runtime, table)
    days = pc.cast(pc.cast(full[step.grain], pa.timestamp("us", tz="UTC")), pa.date32())
    expected = full.filter(pc.greater_equal(days, pa.scalar(since)))
    assert expected.num_rows > 0 and part.num_rows == expected.num_rows, table
    _assert_same(part, expected, table)


# ------------------------------------------------------------------------ round trip (tiny)


@pytest.fixture(scope="module")
def tiny_compute(tiny_account, tiny_config):
    return built(
        sim_compute.to_system(tiny_account.gold, stream(tiny_config.seed, "system-compute"), tiny_config)
    )


@pytest.fixture(scope="module")
def tiny_home(tiny_compute, tmp_path_factory, spark):
    """The tiny account's compute system tables, built into Gold once for the module."""
    from health_monitor.runtime import Runtime

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("compute") / "home"))
    for name, table in tiny_compute.items():
        runtime.lakehouse.write(runtime.settings.system(name), table)
    return runtime, build_gold(runtime, tables=list(GOLD), progress=False)


def test_simulated_tables_have_the_reference_shapes(tiny_compute, tiny_account):
    tables = tiny_compute
    assert set(tables) == {*SOURCES, "compute.node_types"}
    for name, table in tables.items():
        assert table.schema.equals(system_table(name).arrow_schema()), name
    nodes = tables["compute.node_timeline"]
    start = pc.cast(nodes["start_time"], pa.int64()).to_numpy()
    end = pc.cast(nodes["end_time"], pa.int64()).to_numpy()
    minute = 60_000_000
    # Per minute at the small scale: one-minute cells, clipped only at an instance's first/last minute.
    assert (end - start).max() == minute and (end > start).all()
    assert nodes.num_rows > 40 * tiny_account.gold["fact_node_timeline"].num_rows
    assert ((start % minute == 0) & (end % minute == 0)).mean() > 0.9
    assert nodes["private_ip"].null_count == 0
    disk = nodes["disk_free_bytes_per_mount_point"].combine_chunks()
    assert (np.diff(disk.offsets.to_numpy()) == 0).any()  # a few minutes without disk metrics
    clusters = tables["compute.clusters"]
    assert {"SINGLE_USER", "USER_ISOLATION"} <= set(clusters["data_security_mode"].to_pylist())
    assert clusters["tags"].null_count > 0
    assert set(clusters["aws_attributes"].combine_chunks().field("availability").to_pylist()) == {
        "ON_DEMAND",
        "SPOT_WITH_FALLBACK",
    }
    assert tables["compute.node_types"].num_rows == 7


def test_simulation_is_deterministic(tiny_compute, tiny_account, tiny_config):
    again = built(
        sim_compute.to_system(tiny_account.gold, stream(tiny_config.seed, "system-compute"), tiny_config)
    )
    assert all(again[name].equals(table) for name, table in tiny_compute.items())


@pytest.mark.parametrize("minutes", [5, 15])
def test_coarser_grains_roll_up_to_the_same_hours(tiny_account, minutes):
    """The grid used at larger scales gives the same hourly values back (checked here in Arrow)."""
    gold = tiny_account.gold["fact_node_timeline"]
    rows = sim_compute.node_timeline(gold, np.random.default_rng(3), minutes * 60_000_000)
    start = pc.cast(rows["start_time"], pa.int64()).to_numpy()
    dur = pc.cast(rows["end_time"], pa.int64()).to_numpy() - start
    assert dur.max() == minutes * 60_000_000
    cpu = rows["cpu_user_percent"].to_numpy()
    rolled = (
        pa.table(
            {
                "instance_id": rows["instance_id"],
                "hour": start // 3_600_000_000,
                "start": start,
                "dur": dur,
                "cpu_x_dur": cpu * dur,
                "mem": rows["mem_used_percent"],
                "sent": rows["network_sent_bytes"],
            }
        )
        .group_by(["instance_id", "hour"])
        .aggregate([("start", "min"), ("dur", "sum"), ("cpu_x_dur", "sum"), ("mem", "max"), ("sent", "sum")])
        .sort_by([("instance_id", "ascending"), ("start_min", "ascending")])
    )
    want = gold.sort_by([("instance_id", "ascending"), ("start_time", "ascending")])
    assert rolled["start_min"].to_pylist() == pc.cast(want["start_time"], pa.int64()).to_pylist()
    np.testing.assert_allclose(
        rolled["cpu_x_dur_sum"].to_numpy() / rolled["dur_sum"].to_numpy(), want["cpu_user_percent"].to_numpy()
    )
    assert rolled["mem_max"].to_pylist() == want["mem_used_percent"].to_pylist()
    assert rolled["sent_sum"].to_pylist() == want["network_sent_bytes"].to_pylist()


@pytest.mark.parametrize("table", GOLD)
def test_round_trip(tiny_home, tiny_account, tiny_config, table):
    """build(to_system(gold)) == gold, but for created_by of warehouses whose rows all predate it."""
    runtime, report = tiny_home
    assert report.by_table()[table].status == "built", report.by_table()[table].error
    want = tiny_account.gold[table]
    if table == "dim_warehouse":
        # created_by is NULL on rows older than the window; filled from a warehouse's newer rows,
        # so it stays NULL only for warehouses not changed since.
        window = _ts(*tiny_config.start_date.timetuple()[:3])
        newer = want.filter(pc.greater_equal(want["change_time"], pa.scalar(window)))
        known = set(newer["warehouse_id"].to_pylist())
        created_by = [
            c if w in known else None
            for w, c in zip(want["warehouse_id"].to_pylist(), want["created_by"].to_pylist(), strict=True)
        ]
        assert None in created_by and any(created_by)
        want = want.set_column(
            want.schema.get_field_index("created_by"), "created_by", pa.array(created_by, pa.string())
        )
    _assert_same(_gold(runtime, table), want, table)


@pytest.mark.parametrize("table", ["fact_node_timeline", "fact_warehouse_events"])
def test_incremental_equals_full(tiny_home, table):
    runtime, _ = tiny_home
    _incremental_equals_full(runtime, table, dt.date(2025, 3, 27))


# ------------------------------------------------------------------------ hand-written quirks


def _node_rows() -> pa.Table:
    """i-a: a worker up 10:37-12:05 (88 minutes over three clock hours); i-b: a driver whose
    minute rows are offset by 30 s, one straddling 14:00; i-c: 5-minute rows across midnight."""
    rows = []
    for j in range(88):
        start = _ts(2025, 3, 10, 10, 37) + dt.timedelta(minutes=j)
        disk = [None, [], [("/", 10_000_000_000), ("/local_disk0", 5 * j)]][j % 3]
        mem = 95.0 if j == 40 else 50.0 + j % 10
        rows.append(("i-a", False, start, 60, 10.0 + 20 * (j % 2), mem, 1000, j, disk))
    for j, (cpu, mem, received) in enumerate([(10.0, 30.0, 100), (40.0, 80.0, 200), (70.0, 40.0, 300)]):
        rows.append(
            (
                "i-b",
                True,
                _ts(2025, 3, 10, 13, 58, 30) + dt.timedelta(minutes=j),
                60,
                cpu,
                mem,
                600,
                received,
                [],
            )
        )
    for j, cpu in enumerate([50.0, 20.0]):
        rows.append(
            (
                "i-c",
                False,
                _ts(2025, 3, 10, 23, 58) + dt.timedelta(minutes=5 * j),
                300,
                cpu,
                60.0,
                500,
                0,
                None,
            )
        )
    inst, driver, start, secs, cpu, mem, sent, received, disk = zip(*rows, strict=True)
    n = len(rows)
    return build_system(
        "compute.node_timeline",
        {
            "account_id": ["acct"] * n,
            "workspace_id": ["1111"] * n,
            "cluster_id": ["0310-103700-quirk001"] * n,
            "instance_id": list(inst),
            "start_time": pa.array(start, pa.timestamp("us", tz="UTC")),
            "end_time": pa.array(
                [s + dt.timedelta(seconds=d) for s, d in zip(start, secs, strict=True)],
                pa.timestamp("us", tz="UTC"),
            ),
            "driver": list(driver),
            "cpu_user_percent": list(cpu),
            "cpu_system_percent": [5.0] * n,
            "cpu_wait_percent": [1.0] * n,
            "mem_used_percent": list(mem),
            "mem_swap_percent": [0.0] * n,
            "network_sent_bytes": pa.array(sent, pa.int64()),
            "network_received_bytes": pa.array(received, pa.int64()),
            "disk_free_bytes_per_mount_point": pa.array(disk, MAP_LONG),
            "node_type": ["m5d.xlarge"] * n,
            "private_ip": ["10.0.0.1"] * n,
        },
    )


def _cluster_rows() -> pa.Table:
    """An all-purpose cluster with two SCD2 rows (runtime upgrade) under a legacy mode name and a
    job cluster with one row, NULL tags and autoscaling."""
    created = _ts(2025, 3, 1, 9, 0)
    upgraded = _ts(2025, 3, 5, 12, 0)
    return build_system(
        "compute.clusters",
        {
            "account_id": ["acct"] * 3,
            "workspace_id": ["1111"] * 3,
            "cluster_id": ["0301-090000-shared01", "0301-090000-shared01", "0310-103700-quirk001"],
            "cluster_name": ["shared-ml", "shared-ml", "job-42-run-7"],
            "owned_by": ["a@x.com", "a@x.com", "svc@x.com"],
            "create_time": pa.array([created, created, _ts(2025, 3, 10, 10, 37)]),
            "driver_node_type": ["m5d.xlarge"] * 3,
            "worker_node_type": ["m5d.xlarge"] * 3,
            "worker_count": pa.array([2, 2, None], pa.int64()),
            "min_autoscale_workers": pa.array([None, None, 1], pa.int64()),
            "max_autoscale_workers": pa.array([None, None, 4], pa.int64()),
            "auto_termination_minutes": pa.array([60, 60, 0], pa.int64()),
            "tags": pa.array([[("team", "ml")], [("team", "ml")], None], pa.map_(pa.string(), pa.string())),
            "cluster_source": ["UI", "UI", "JOB"],
            "aws_attributes": {"availability": ["ON_DEMAND", "ON_DEMAND", "SPOT_WITH_FALLBACK"]},
            "dbr_version": ["14.3.x-scala2.12", "15.4.x-photon-scala2.12", "15.4.x-scala2.12"],
            "change_time": pa.array([created, upgraded, _ts(2025, 3, 10, 10, 37)]),
            "change_date": pa.array([dt.date(2025, 3, 1), dt.date(2025, 3, 5), dt.date(2025, 3, 10)]),
            "data_security_mode": ["USER_ISOLATION", "DATA_SECURITY_MODE_STANDARD", "SINGLE_USER"],
        },
    )


def _warehouse_rows() -> tuple[pa.Table, pa.Table]:
    """w1 resized (two rows; the older lacks created_by), w2 one old row without created_by and NULL tags."""
    created, resized = _ts(2024, 6, 1), _ts(2025, 3, 3, 5)
    warehouses = build_system(
        "compute.warehouses",
        {
            "warehouse_id": ["w1", "w1", "w2"],
            "workspace_id": ["1111"] * 3,
            "account_id": ["acct"] * 3,
            "warehouse_name": ["bi", "bi", "adhoc"],
            "warehouse_type": ["PRO", "PRO", "SERVERLESS"],
            "warehouse_channel": ["CURRENT"] * 3,
            "warehouse_size": ["SMALL", "LARGE", "X_SMALL"],
            "min_clusters": pa.array([1, 1, 1], pa.int32()),
            "max_clusters": pa.array([2, 4, 1], pa.int32()),
            "auto_stop_minutes": pa.array([10, 10, 5], pa.int32()),
            "tags": pa.array([[("team", "bi")], [("team", "bi")], None], pa.map_(pa.string(), pa.string())),
            "change_time": pa.array([created, resized, created]),
            "created_by": [None, "owner@x.com", None],
        },
    )
    times = [_ts(2025, 3, 10, 8), _ts(2025, 3, 10, 8, 2), _ts(2025, 3, 10, 9), _ts(2025, 3, 10, 23, 59)]
    events = build_system(
        "compute.warehouse_events",
        {
            "account_id": ["acct"] * 4,
            "workspace_id": ["1111"] * 4,
            "warehouse_id": ["w1"] * 4,
            "event_type": ["STARTING", "RUNNING", "SCALED_UP", "STOPPED"],
            "cluster_count": pa.array([0, 1, 2, 0], pa.int32()),
            "event_time": pa.array(times),
        },
    )
    return warehouses, events


def test_quirks_value_by_value(system_home):
    warehouses, events = _warehouse_rows()
    system_home.load_system(
        {
            "compute.node_timeline": _node_rows(),
            "compute.clusters": _cluster_rows(),
            "compute.warehouses": warehouses,
            "compute.warehouse_events": events,
        }
    )
    report = build_gold(system_home, tables=list(GOLD), progress=False)
    assert report.ok, [s.error for s in report.steps]

    nodes = sorted_rows(_gold(system_home, "fact_node_timeline"), ["instance_id", "start_time"])
    got = [
        (
            r["instance_id"],
            r["start_time"],
            r["end_time"],
            r["driver"],
            round(r["cpu_user_percent"], 9),
            r["cpu_system_percent"],
            r["mem_used_percent"],
            r["network_sent_bytes"],
            r["network_received_bytes"],
        )
        for r in nodes
    ]
    assert got == [
        # 10:37-12:05 clipped to uptime: 23, 60 and 5 minutes; the peak minute (95) falls at 11:17.
        (
            "i-a",
            _ts(2025, 3, 10, 10, 37),
            _ts(2025, 3, 10, 11),
            False,
            round(450 / 23, 9),
            5.0,
            59.0,
            23_000,
            253,
        ),
        ("i-a", _ts(2025, 3, 10, 11), _ts(2025, 3, 10, 12), False, 20.0, 5.0, 95.0, 60_000, 3150),
        ("i-a", _ts(2025, 3, 10, 12), _ts(2025, 3, 10, 12, 5), False, 22.0, 5.0, 57.0, 5_000, 425),
        # The row 13:59:30-14:00:30 counts half in each hour; its memory reading touches both.
        ("i-b", _ts(2025, 3, 10, 13, 58, 30), _ts(2025, 3, 10, 14), True, 20.0, 5.0, 80.0, 900, 200),
        ("i-b", _ts(2025, 3, 10, 14), _ts(2025, 3, 10, 14, 1, 30), True, 60.0, 5.0, 80.0, 900, 400),
        # 5-minute rows: 23:58-00:03 splits 2/5 before midnight, 3/5 after.
        ("i-c", _ts(2025, 3, 10, 23, 58), _ts(2025, 3, 11), False, 50.0, 5.0, 60.0, 200, 0),
        ("i-c", _ts(2025, 3, 11), _ts(2025, 3, 11, 0, 8), False, 31.25, 5.0, 60.0, 800, 0),
    ]
    assert {r["cluster_id"] for r in nodes} == {"0310-103700-quirk001"}

    clusters = sorted_rows(_gold(system_home, "dim_cluster"), ["cluster_id", "change_time"])
    assert [
        (
            r["cluster_id"],
            r["dbr_version"],
            r["create_time"],
            r["change_date"],
            r["is_current"],
            r["data_security_mode"],
            r["tags"],
            r["worker_count"],
            r["max_autoscale_workers"],
        )
        for r in clusters
    ] == [
        ("0301-090000-shared01", "14.3.x-scala2.12", _ts(2025, 3, 1, 9), dt.date(2025, 3, 1), False,
         "DATA_SECURITY_MODE_STANDARD", [("team", "ml")], 2, None),
        ("0301-090000-shared01", "15.4.x-photon-scala2.12", _ts(2025, 3, 1, 9), dt.date(2025, 3, 5), True,
         "DATA_SECURITY_MODE_STANDARD", [("team", "ml")], 2, None),
        ("0310-103700-quirk001", "15.4.x-scala2.12", _ts(2025, 3, 10, 10, 37), dt.date(2025, 3, 10), True,
         "DATA_SECURITY_MODE_DEDICATED", [], None, 4),
    ]  # fmt: skip

    dims = sorted_rows(_gold(system_home, "dim_warehouse"), ["warehouse_id", "change_time"])
    assert [
        (r["warehouse_id"], r["warehouse_size"], r["created_by"], r["tags"], r["is_current"]) for r in dims
    ] == [
        ("w1", "SMALL", "owner@x.com", [("team", "bi")], False),
        ("w1", "LARGE", "owner@x.com", [("team", "bi")], True),
        ("w2", "X_SMALL", None, [], True),
    ]
    ev = sorted_rows(_gold(system_home, "fact_warehouse_events"), ["event_time"])
    assert [(r["event_type"], r["cluster_count"]) for r in ev] == [
        ("STARTING", 0),
        ("RUNNING", 1),
        ("SCALED_UP", 2),
        ("STOPPED", 0),
    ]

    # Incremental from midnight: only i-c's 00:00 hour, the same as in the full build.
    since = dt.date(2025, 3, 11)
    _incremental_equals_full(system_home, "fact_node_timeline", since)


def test_no_classic_clusters_and_no_warehouses(system_home):
    """Empty sources (maps, structs, arrays included) build empty Gold tables without error."""
    system_home.load_system({name: empty_table(name) for name in SOURCES})
    report = build_gold(system_home, tables=list(GOLD), progress=False)
    assert report.ok, [s.error for s in report.steps]
    for table in GOLD:
        gold = _gold(system_home, table)
        assert gold.num_rows == 0 and gold.column_names == list(GOLD_TABLES[table].column_names)
