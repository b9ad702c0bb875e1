"""Killing inference while it writes leaves the previous prediction tables readable and intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from health_monitor.pipelines import run_features, run_infer, run_train
from tests.fakes import FakePlugin, write_fake_gold

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

    def stalling_write(self, name, path, df):
        def stall(batches):
            for batch in batches:
                yield batch
                marker.touch()  # Spark's write tasks are running: files are being written
                time.sleep(600)

        return original(self, name, path, df.mapInPandas(stall, schema=df.schema))

    LocalLakehouse._write_spark = stalling_write
    runtime = Runtime.embedded(Settings(home={home!r}))
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={{"fake": FakePlugin()}}))
    run_infer(runtime, host, progress=False)
    """
)


def test_killing_inference_mid_write_keeps_the_previous_tables(hm_runtime, make_host, tmp_path):
    write_fake_gold(hm_runtime)
    host = make_host({"fake": FakePlugin()})
    for stage in (run_features, run_train, run_infer):
        assert stage(hm_runtime, host, progress=False).ok
    lake, settings = hm_runtime.lakehouse, hm_runtime.settings
    tables = [settings.predictions(m) for m in ("fake_anomaly", "fake_failure")]
    before = {t: (lake.version(t), lake.read_arrow(t).to_pandas()) for t in tables}

    marker = tmp_path / "writing"
    script = tmp_path / "slow_infer.py"
    script.write_text(SLOW_INFER.format(root=str(ROOT), marker=str(marker), home=str(settings.home)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, (
                f"inference ended before the kill: {proc.stderr.read().decode()[-2000:]}"
            )
            assert time.monotonic() < deadline, "inference never started writing"
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the Python driver and its JVM, mid-write
        proc.wait(timeout=60)

    staged = [p for p in lake.path(tables[0]).glob("v-*") if p.is_dir()]
    assert len(staged) >= 2, "the killed run should have left a half-written version folder"
    for table, (version, frame) in before.items():
        assert lake.version(table) == version
        pd.testing.assert_frame_equal(lake.read_arrow(table).to_pandas(), frame)
        assert lake.read(table).count() == len(frame)  # Spark reads it too
