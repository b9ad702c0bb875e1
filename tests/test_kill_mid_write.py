"""Killing a writer midway: inference leaves the previous prediction tables readable and intact;
a load of many tables leaves a home the pipelines refuse until the load is finished or undone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from health_monitor.config import Settings
from health_monitor.pipelines import run_features, run_train
from health_monitor.runtime import Runtime
from tests.fakes import FakePlugin, write_fake_gold

pytestmark = pytest.mark.heavy  # minutes: processes killed mid-write and restarted

ROOT = Path(__file__).resolve().parents[1]

SLOW_INFER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from health_monitor.config import Settings
    from health_monitor.lakehouse.local import LocalLakehouse
    from health_monitor.host import load_host
    from health_monitor.pipelines import run_infer
    from health_monitor.plugins import make_plugin_manager
    from health_monitor.runtime import Runtime
    from tests.fakes import FakePlugin

    marker = Path({marker!r})
    original = LocalLakehouse._write_spark

    def stalling_write(self, name, path, df, cluster_by=None, commit_info=None):
        def stall(batches):
            for batch in batches:
                yield batch
                marker.touch()  # Spark's write tasks are running: files are being written
                time.sleep(600)

        # Not clustered: day clustering first scans the rows for their day range, and the stall
        # must come while the files are being written.
        return original(self, name, path, df.mapInPandas(stall, schema=df.schema), None, commit_info)

    LocalLakehouse._write_spark = stalling_write
    runtime = Runtime.embedded(Settings(home={home!r}))
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={{"fake": FakePlugin()}}))
    run_infer(runtime, host, progress=False)
    """
)


def test_killing_inference_mid_write_keeps_the_previous_tables(fake_trained_home, tmp_path):
    """On a copy of the shared fake home (trained and scored by the same fake models)."""
    shutil.copytree(fake_trained_home[0].settings.home, tmp_path / "home")
    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    lake, settings = runtime.lakehouse, runtime.settings
    tables = [settings.predictions(m) for m in ("fake_anomaly", "fake_failure")]
    before = {t: (lake.version(t), lake.read_arrow(t).to_pandas()) for t in tables}

    marker = tmp_path / "writing"
    script = tmp_path / "slow_infer.py"
    script.write_text(SLOW_INFER.format(root=str(ROOT), marker=str(marker), home=str(settings.home)))
    # The Python driver and its JVM, mid-write.
    _run_and_kill(script, marker, "inference", "started writing", settle=1.0)

    staged = [p for p in lake.path(tables[0]).glob("v-*") if p.is_dir()]
    assert len(staged) >= 2, "the killed run should have left a half-written version folder"
    for table, (version, frame) in before.items():
        assert lake.version(table) == version
        pd.testing.assert_frame_equal(lake.read_arrow(table).to_pandas(), frame)
        assert lake.read(table).count() == len(frame)  # Spark reads it too


STALLED_LOAD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from health_monitor.cli import main
    from health_monitor.lakehouse.local import LocalLakehouse

    marker = Path({marker!r})
    original = LocalLakehouse.write

    def write_then_stall(self, name, data, **kwargs):
        info = original(self, name, data, **kwargs)
        marker.touch()  # the first table is committed; the others are not written yet
        time.sleep(600)
        return info

    LocalLakehouse.write = write_then_stall
    sys.exit(main(["load-gold", {source!r}, "--home", {home!r}]))
    """
)


def _gold_export(folder: Path, seed: int) -> Path:
    """The Gold tables of a small simulated account, exported as a user would (no Spark)."""
    import pyarrow.parquet as pq

    from health_monitor.simulate import SimulationConfig, simulate_account

    account = simulate_account(SimulationConfig(scale="small", seed=seed, days=21))
    folder.mkdir()
    for name, table in account.gold.items():
        pq.write_table(table, folder / f"{name}.parquet")
    return folder


def _run_and_kill(script: Path, marker: Path, what: str, event: str, settle: float = 0.0) -> None:
    """Run ``script`` in its own process group and SIGKILL the group once ``marker`` exists."""
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, f"{what} ended before the kill: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, f"{what} never {event}"
            time.sleep(0.2)
        time.sleep(settle)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def _kill_load_gold_after_its_first_table(source: Path, home: str, tmp_path: Path) -> None:
    marker = tmp_path / "first-table-committed"
    marker.unlink(missing_ok=True)
    script = tmp_path / "stalled_load.py"
    script.write_text(STALLED_LOAD.format(marker=str(marker), source=str(source), home=home))
    _run_and_kill(script, marker, "load-gold", "committed its first table")


def test_a_load_killed_midway_is_refused_until_finished_or_undone(hm_runtime, make_host, tmp_path, capsys):
    """The issue's case: `load-gold` killed after its first commit. `features` refuses the
    half-loaded home and says how to get out; after `recover --undo` (the old export everywhere)
    or after `load-gold` run again (the new one everywhere) it runs."""
    from health_monitor.cli import main
    from health_monitor.errors import UnfinishedLoadError
    from health_monitor.jobs import load_gold_into

    old, new = _gold_export(tmp_path / "old", seed=1), _gold_export(tmp_path / "new", seed=2)
    lake, settings = hm_runtime.lakehouse, hm_runtime.settings
    home = str(settings.home)
    assert main(["load-gold", str(old), "--home", home]) == 0
    gold = lake.list_tables(settings.catalog, "gold")
    old_data = {name: lake.read_arrow(name) for name in gold}
    write_fake_gold(hm_runtime)  # the fake plugin's own table, which no load touches
    host = make_host({"fake": FakePlugin()})
    capsys.readouterr()

    _kill_load_gold_after_its_first_table(new, home, tmp_path)
    replaced = [n for n in gold if not lake.read_arrow(n).equals(old_data[n])]
    assert len(replaced) == 1 and len(gold) == 19  # one table from the new export, 18 from the old

    assert main(["features", "--home", home]) == 1
    err = capsys.readouterr().err
    assert "the home is half-loaded: `load-gold` load" in err, err
    assert "stopped after replacing 1 of 19 tables" in err and f"replaced:        {replaced[0]}\n" in err
    assert f"finish the load: health-monitor load-gold {new} --home {home}" in err
    assert f"or undo it:      health-monitor recover --undo --home {home}" in err
    with pytest.raises(UnfinishedLoadError):
        run_train(hm_runtime, host, progress=False)

    # Way out 1: undo. Every table holds the old export again.
    assert main(["recover", "--home", home]) == 1 and "half-loaded" in capsys.readouterr().out
    assert main(["recover", "--undo", "--home", home]) == 0
    assert "as they were before it" in capsys.readouterr().out
    assert all(lake.read_arrow(n).equals(old_data[n]) for n in gold)
    assert run_features(hm_runtime, host, progress=False).ok

    # Way out 2: killed again, then the same command run to its end. Every table holds the new export.
    _kill_load_gold_after_its_first_table(new, home, tmp_path)
    with pytest.raises(UnfinishedLoadError, match="half-loaded"):
        run_features(hm_runtime, host, progress=False)
    assert main(["load-gold", str(new), "--home", home]) == 0
    reference = Runtime.embedded(Settings(home=tmp_path / "reference"))
    load_gold_into(reference, new)
    assert all(lake.read_arrow(n).equals(reference.lakehouse.read_arrow(n)) for n in gold)
    assert main(["recover", "--home", home]) == 0
    assert run_features(hm_runtime, host, progress=False).ok
