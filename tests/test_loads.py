"""A load of many tables ends whole, is undone when it fails, and is refused when it stopped midway."""

from __future__ import annotations

import pyarrow as pa
import pytest

from health_monitor.errors import UnfinishedLoadError
from health_monitor.lakehouse.loads import refuse_if_unfinished
from health_monitor.lakehouse.local import LocalLakehouse

NAMES = [f"c.gold.t{i}" for i in range(4)]
HINTS = {
    "finish": "health-monitor load-gold /export --home /h",
    "undo": "health-monitor recover --undo --home /h",
}


def table(tag: str, n: int = 3) -> pa.Table:
    return pa.table({"k": list(range(n)), "tag": [tag] * n})


@pytest.fixture
def lake(tmp_path):
    lake = LocalLakehouse(tmp_path / "lakehouse")
    for name in NAMES[:3]:  # t3 does not exist before the loads
        lake.write(name, table("old"), primary_keys=["k"], description="the old one")
    return lake


def tags(lake) -> dict[str, str | None]:
    return {n: lake.read_arrow(n).column("tag")[0].as_py() if lake.exists(n) else None for n in NAMES}


def stopped_after(lake, replaced: int, command: str = "load-gold"):
    """A load that replaced ``replaced`` tables and never ended (as if its process had died)."""
    load = lake.load(command, NAMES, **HINTS)
    load.__enter__()
    for name in NAMES[:replaced]:
        lake.write(name, table("new"), primary_keys=["k", "tag"])
    return load


def test_a_load_that_ends_leaves_no_journal(lake):
    with lake.load("load-gold", NAMES, **HINTS):
        for name in NAMES:
            lake.write(name, table("new"))
    assert lake.unfinished_load() is None
    assert set(tags(lake).values()) == {"new"}
    refuse_if_unfinished(lake)


def test_a_load_that_raises_is_undone(lake):
    versions = {n: lake.version(n) for n in NAMES[:3]}
    with pytest.raises(RuntimeError, match="disk full"), lake.load("load-gold", NAMES, **HINTS):
        lake.write(NAMES[0], table("new", 5).append_column("extra", pa.array([1.0] * 5)))
        lake.write(NAMES[3], table("new"))
        raise RuntimeError("disk full")
    assert lake.unfinished_load() is None
    assert tags(lake) == {**dict.fromkeys(NAMES[:3], "old"), NAMES[3]: None}  # the new table is dropped
    restored = lake.describe(NAMES[0])
    assert restored.rows == 3 and [c for c, _ in restored.columns] == ["k", "tag"]  # the old schema
    assert restored.primary_keys == ["k"] and restored.description == "the old one"
    assert restored.version == versions[NAMES[0]] + 2  # the load's commit, then the restore's
    assert all(lake.version(n) == v for n, v in versions.items() if n != NAMES[0])  # untouched


def test_a_stopped_load_is_refused_with_how_to_finish_or_undo_it(lake):
    stopped_after(lake, 2)
    with pytest.raises(UnfinishedLoadError) as caught:
        refuse_if_unfinished(lake)
    message = str(caught.value)
    assert "half-loaded" in message and "`load-gold` load" in message
    assert "replacing 2 of 4 tables" in message
    assert "replaced:        c.gold.t0, c.gold.t1\n" in message
    assert "not replaced:    c.gold.t2, c.gold.t3\n" in message
    assert HINTS["finish"] in message and HINTS["undo"] in message
    # Another command must not build on it either.
    with pytest.raises(UnfinishedLoadError, match="half-loaded"):
        lake.load("gold", ["c.gold.t0"], finish="health-monitor gold", undo=HINTS["undo"]).__enter__()


def test_running_the_same_command_again_finishes_the_load(lake):
    stopped_after(lake, 2)
    stopped_after(lake, 1)  # a second attempt, stopped too: the load keeps its first "before"
    assert lake.unfinished_load().attempts == 2
    with lake.load("load-gold", NAMES, **HINTS):
        for name in NAMES:
            lake.write(name, table("new"))
    assert lake.unfinished_load() is None
    assert set(tags(lake).values()) == {"new"}


def test_undo_puts_every_table_back_as_before_the_first_attempt(lake):
    before = {n: lake.read_arrow(n) for n in NAMES[:3]}
    stopped_after(lake, 2)
    stopped_after(lake, 4)  # the second attempt also created t3
    record = lake.undo_load()
    assert record.command == "load-gold" and lake.unfinished_load() is None
    assert tags(lake)[NAMES[3]] is None
    for name, data in before.items():
        assert lake.read_arrow(name).equals(data)
        assert lake.describe(name).primary_keys == ["k"]
    assert lake.undo_load() is None  # nothing left to undo


def test_an_interrupted_undo_says_to_run_it_again(lake, monkeypatch):
    stopped_after(lake, 3)
    calls = []

    def failing_restore(self, name, version, **meta):
        calls.append(name)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalLakehouse, "restore", failing_restore)
    with pytest.raises(KeyboardInterrupt):
        lake.undo_load()
    monkeypatch.undo()
    assert calls == [NAMES[2]]  # in reverse order of the load
    with pytest.raises(UnfinishedLoadError, match="the undo of .* stopped") as caught:
        refuse_if_unfinished(lake)
    assert f"finish the undo: {HINTS['undo']}" in str(caught.value)
    lake.undo_load()
    assert tags(lake) == {**dict.fromkeys(NAMES[:3], "old"), NAMES[3]: None}


def test_spark_written_tables_are_restored_too(tmp_path, spark):
    lake = LocalLakehouse(tmp_path / "lakehouse")
    name = "c.features.f"
    lake.write(
        name, spark.createDataFrame([(1, "old"), (2, "old")], "k long, tag string"), primary_keys=["k"]
    )
    with pytest.raises(RuntimeError), lake.load("features-like", [name], **HINTS):
        lake.write(name, spark.createDataFrame([(1, 2.0)], "k long, x double"))
        raise RuntimeError("stop")
    assert sorted(lake.read(name).collect()) == [(1, "old"), (2, "old")]
    assert lake.describe(name).primary_keys == ["k"]
