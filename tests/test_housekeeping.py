"""`vacuum`: what a home no longer needs goes; every table still reads its current rows."""

from __future__ import annotations

import datetime as dt
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.pipelines.housekeeping import vacuum_home
from health_monitor.runtime import Runtime


def _age(path, hours: float) -> None:
    then = time.time() - hours * 3600
    for f in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(f, (then, then))


def _data_files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.parquet")}


@pytest.fixture
def home(tmp_path, spark):
    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    lake = runtime.lakehouse
    for i in range(3):  # three versions of each: two replaced
        lake.write("c.s.arrow", pa.table({"k": list(range(i + 5))}))
        lake.write("c.s.spark", spark.range(10 + i).selectExpr("id", "id * 2 as v"))
    killed = lake.path("c.s.spark") / "v-killed"  # a write killed before its commit
    killed.mkdir()
    pq.write_table(pa.table({"id": [1]}), killed / "part-0.parquet")
    first = lake.path("c.s.never")  # a table's first write, killed: no Delta log at all
    (first / "v-1").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1]}), first / "v-1" / "part-0.parquet")
    return runtime


def test_vacuum_leaves_only_what_current_versions_reference(home, monkeypatch, capsys):
    lake = home.lakehouse
    before = {name: sorted(lake.read_arrow(name).to_pylist(), key=str) for name in lake.list_tables()}
    fresh = {name: _data_files(lake.path(name)) for name in lake.list_tables()}

    # Within the hour every file stays: a reader or a write may still hold it.
    assert main(["vacuum", "--home", str(home.settings.home), "--retain-days", "0"]) == 0
    assert {name: _data_files(lake.path(name)) for name in lake.list_tables()} == fresh
    assert lake.path("c.s.never").exists()

    monkeypatch.setattr("health_monitor.pipelines.housekeeping.MIN_RETAIN", dt.timedelta(0))
    _age(home.settings.lakehouse_dir, hours=2)
    dry = vacuum_home(home, dt.timedelta(0), dry_run=True, progress=False)
    assert dry.tables["c.s.arrow"][0] == 2 and dry.tables["c.s.spark"][0] >= 3
    assert {name: _data_files(lake.path(name)) for name in lake.list_tables()} == fresh

    report = vacuum_home(home, dt.timedelta(0), progress=False)
    assert report.bytes > 0 and report.orphans == [str(lake.path("c.s.never"))]
    for name in lake.list_tables():
        referenced = {uri.split(f"{lake.path(name)}/", 1)[1] for uri in lake.file_uris(name)}
        assert _data_files(lake.path(name)) == referenced, name
        assert sorted(lake.read_arrow(name).to_pylist(), key=str) == before[name], name
    assert lake.read("c.s.spark").count() == 12
    assert not lake.path("c.s.never").exists()
    assert not [d for d in lake.path("c.s.spark").glob("v-*") if d.is_dir() and not any(d.iterdir())]


def test_vacuum_refuses_a_negative_retention(home, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["vacuum", "--home", str(home.settings.home), "--retain-days", "-1"])
    assert exited.value.code == 2 and "non-negative" in capsys.readouterr().err


def test_vacuum_models_drops_versions_no_alias_points_to(tmp_path, monkeypatch):
    import mlflow

    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    registry = runtime.registry
    registry.experiment("/health-monitor/test")
    client = registry.client()
    client.create_registered_model("c.ml.m")
    runs = []
    for i in range(3):
        with mlflow.start_run() as run:
            mlflow.log_text(f"model {i}", "model/weights.txt")
        runs.append(run.info.run_id)
        client.create_model_version("c.ml.m", f"{run.info.artifact_uri}/model", run.info.run_id)
    registry.set_alias("c.ml.m", "champion", 2)  # v2 (run 1) is the champion

    monkeypatch.setattr("health_monitor.pipelines.housekeeping.MIN_RETAIN", dt.timedelta(0))
    kept_tables = vacuum_home(runtime, dt.timedelta(0), progress=False)
    assert kept_tables.models == []  # without --models, no version is touched
    report = vacuum_home(runtime, dt.timedelta(0), models=True, progress=False)
    assert sorted(report.models) == ["c.ml.m v1", "c.ml.m v3"] and report.model_bytes > 0
    assert [int(v.version) for v in client.search_model_versions("name='c.ml.m'")] == [2]
    assert registry.version_by_alias("c.ml.m").version == 2
    assert client.get_run(runs[1]).info.lifecycle_stage == "active"
    assert mlflow.artifacts.load_text(f"runs:/{runs[1]}/model/weights.txt") == "model 1"
    assert client.get_run(runs[0]).info.lifecycle_stage == "deleted"


def test_vacuum_waits_for_an_unfinished_load(home):
    """The undo of a load stopped midway reads the versions from before it: they must stay."""
    from health_monitor.errors import UnfinishedLoadError

    load = home.lakehouse.load("load-gold", ["c.s.arrow"], finish="finish it", undo="undo it")
    load.__enter__()
    home.lakehouse.write("c.s.arrow", pa.table({"k": [9]}))
    with pytest.raises(UnfinishedLoadError, match="load-gold"):
        vacuum_home(home, dt.timedelta(0), progress=False)
    load.__exit__(None, None, None)
    assert vacuum_home(home, dt.timedelta(0), progress=False).tables["c.s.arrow"] == (0, 0)
