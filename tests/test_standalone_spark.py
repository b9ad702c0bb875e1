"""`health-monitor features` on a real Spark standalone cluster: a master and one worker started
here from the installed pyspark, bound to 127.0.0.1, the driver a CLI subprocess connected to it
through HEALTH_MONITOR_SPARK_MASTER (the suite's own local session is left alone).

* With shared storage (one machine, one disk) the committed feature tables hold exactly the rows
  that the same tables have when computed in local mode.
* With executors that do not share the driver's disk (the worker runs in a mount namespace of its
  own, where the home's feature schema folder is another, private folder), the write raises
  WriteCountError naming the table, `features` exits non-zero, and nothing is committed: the
  table's previous version stays current. The executors' files are found in the private folder,
  holding the rows the driver could not see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from health_monitor.config import Settings
from health_monitor.runtime import Runtime

pytestmark = pytest.mark.heavy  # minutes: a standalone Spark cluster of its own

# One model of one domain: its feature tables are small, so the cluster's cost is mostly the
# startup of its JVMs. Two tables for the run on shared storage, one for the refused run.
SHARED_MODEL = "privilege_escalation_detector"
SHARED_TABLES = ("privilege_features", "security_features")
REFUSED_MODEL = "user_behavior_baseline"
REFUSED_TABLE = "user_activity_profile"
RUN_TIMEOUT = 300  # seconds a CLI run on the cluster may take (about 60-90 s on 2 busy cores)
STARTUP_TIMEOUT = 60


def _pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _namespaces_work() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class Cluster:
    """A standalone master and one worker (1 core, 1 GB), each in a process group of its own.
    ``private=(folder, over)``: the worker and its executors see ``folder`` at the path ``over``
    (a bind mount in a user and mount namespace of their own); everything else is shared."""

    def __init__(self, scratch: Path, private: tuple[Path, Path] | None = None):
        self.scratch = scratch
        self.port, self.webui = _free_port(), _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        spark_home = _pyspark_home()
        self.env = {
            **os.environ,
            "SPARK_HOME": str(spark_home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            # No REST submission server (it binds the fixed port 6066).
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        }
        spark_class = str(spark_home / "bin" / "spark-class")
        self._start(
            "master",
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--webui-port", str(self.webui)],
        )
        self._bound_ports()  # a port taken meanwhile (other tests run beside) makes Spark try the next
        worker = [spark_class, "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1"]
        worker += ["--cores", "1", "--memory", "1g", "--webui-port", str(_free_port())]
        worker += ["--work-dir", str(scratch / "work")]
        if private is not None:
            folder, over = private
            # The mount is private to the new namespace (unshare's default propagation).
            mount = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
            worker = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, "sh"] + [
                str(folder),
                str(over),
                *worker,
            ]
        self._start("worker", worker)

    def _bound_ports(self) -> None:
        """The master's port and web UI port as it bound them (its log says)."""
        deadline, log = time.monotonic() + STARTUP_TIMEOUT, self.scratch / "master.log"
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            master = re.search(r"started service 'sparkMaster' on port (\d+)", text)
            webui = re.search(r"started service 'MasterUI' on port (\d+)", text)
            if master and webui:
                self.port, self.webui = int(master.group(1)), int(webui.group(1))
                self.url = f"spark://127.0.0.1:{self.port}"
                return
            if self.processes[0].poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"the Spark master did not say which ports it bound: {self.logs()}")

    def _start(self, role: str, command: list[str]) -> None:
        log = open(self.scratch / f"{role}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.processes.append(
            subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui}/json/", timeout=5) as response:
            return json.load(response)

    def wait_for_worker(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError(f"a Spark daemon exited ({p.returncode}): {self.logs()}")
            try:
                if self.state().get("aliveworkers") == 1:
                    return
            except (OSError, ValueError):
                pass  # the master's web UI is not up yet (or answers its HTML page before /json/)
            time.sleep(0.5)
        raise RuntimeError(f"no worker registered with {self.url} in {STARTUP_TIMEOUT}s: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}"
            for f in sorted(self.scratch.glob("*.log"))
        )

    def stop(self) -> None:
        for p in reversed(self.processes):  # the worker (and its executors) first
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for p in reversed(self.processes):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=15)


def _features(cluster: Cluster, home: Path, model: str, log: Path) -> subprocess.Popen:
    env = {
        **cluster.env,
        "HEALTH_MONITOR_SPARK_MASTER": cluster.url,
        "HEALTH_MONITOR_SPARK_MEMORY": "1g",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "health_monitor.cli", "features", "--home", str(home), "--model", model],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _finish(run: subprocess.Popen) -> int:
    try:
        return run.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=15)
        raise


@pytest.fixture(scope="module")
def cluster_runs(simulated_home, tmp_path_factory):
    """Both clusters, both `features` runs (at the same time: the machine has 2 cores and most of
    each run is JVM startup), and the same tables computed in local mode by this process."""
    if shutil.which("unshare") is None or not _namespaces_work():
        pytest.skip("user and mount namespaces (unshare --user --mount) are not available here")
    root = tmp_path_factory.mktemp("standalone")
    homes = {}
    for name in ("local", "shared", "refused"):
        homes[name] = root / name / "home"
        shutil.copytree(simulated_home.settings.home, homes[name])
    # The refused run's table has a previous version, which must stay current.
    refused = Runtime.embedded(Settings(home=homes["refused"]))
    refused_name = refused.settings.feature_table(REFUSED_TABLE)
    refused.lakehouse.write(refused_name, pa.table({"user_name": ["previous"], "events": [1]}))
    # The shared home may already hold the table (another test ran `features` on it): whichever
    # version the stand-in is, it must stay current.
    before = refused.lakehouse.version(refused_name)
    features_dir = refused.lakehouse.path(refused_name).parent
    private = root / "executors-disk"
    private.mkdir()
    (root / "shared-cluster").mkdir()
    (root / "refused-cluster").mkdir()
    clusters, runs = [], {}
    try:
        clusters.append(Cluster(root / "shared-cluster"))
        clusters.append(Cluster(root / "refused-cluster", private=(private, features_dir)))
        for cluster in clusters:
            cluster.wait_for_worker()
        runs["shared"] = _features(clusters[0], homes["shared"], SHARED_MODEL, root / "shared.out")
        runs["refused"] = _features(clusters[1], homes["refused"], REFUSED_MODEL, root / "refused.out")
        # The oracle: the same tables in local mode, in this process's session, meanwhile.
        from health_monitor.host import load_host
        from health_monitor.pipelines import run_features

        local = Runtime.embedded(Settings(home=homes["local"]))
        host = load_host()
        for model in (SHARED_MODEL, REFUSED_MODEL):
            assert run_features(local, host, model=model, progress=False).ok
        expected = {
            t: local.lakehouse.describe(local.settings.feature_table(t)).rows
            for t in (*SHARED_TABLES, REFUSED_TABLE)
        }
        status = {name: _finish(run) for name, run in runs.items()}
        yield {
            "expected": expected,
            "status": status,
            "output": {name: (root / f"{name}.out").read_text(errors="replace") for name in runs},
            "apps": [c.state()["completedapps"] for c in clusters],
            "homes": homes,
            "private": private,
            "clusters": clusters,
            "refused_before": (before, ["previous"]),
        }
    finally:
        for run in runs.values():
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(timeout=15)
        for cluster in clusters:
            cluster.stop()
        for home in homes.values():  # three copies of the simulated home: free the disk now
            shutil.rmtree(home, ignore_errors=True)


def _ran_on_the_cluster(apps: list[dict], cluster: Cluster) -> None:
    assert [(a["name"], a["state"]) for a in apps] == [("health-monitor", "FINISHED")], cluster.logs()
    executor_logs = [f.read_text(errors="replace") for f in (cluster.scratch / "work").glob("app-*/*/stderr")]
    assert any("Running task" in log for log in executor_logs), cluster.logs()


def test_features_on_a_standalone_cluster_with_shared_storage_commits_every_row(cluster_runs):
    runs = cluster_runs
    assert runs["status"]["shared"] == 0, runs["output"]["shared"]
    _ran_on_the_cluster(runs["apps"][0], runs["clusters"][0])
    shared = Runtime.embedded(Settings(home=runs["homes"]["shared"]))
    for table in SHARED_TABLES:
        name = shared.settings.feature_table(table)
        committed = shared.lakehouse.describe(name).rows  # the Delta log's record counts
        in_files = shared.lakehouse.read_arrow(name).num_rows  # the committed files themselves
        assert committed == in_files == runs["expected"][table] > 0, (table, committed, in_files)


def test_features_on_executors_that_do_not_share_the_drivers_disk_fails_and_commits_nothing(cluster_runs):
    runs = cluster_runs
    output = runs["output"]["refused"]
    assert runs["status"]["refused"] != 0, output
    _ran_on_the_cluster(runs["apps"][1], runs["clusters"][1])
    rows = runs["expected"][REFUSED_TABLE]
    name = f"health_monitor.features.{REFUSED_TABLE}"
    assert f"table {name}: Spark's executors wrote {rows} row(s) but the driver sees 0" in output
    refused = Runtime.embedded(Settings(home=runs["homes"]["refused"]))
    version, users = runs["refused_before"]
    assert refused.lakehouse.version(name) == version
    assert refused.lakehouse.read_arrow(name).column("user_name").to_pylist() == users
    # The rows went to the executors' own disk, where the driver did not look.
    stranded = list(runs["private"].rglob("part-*.parquet"))
    assert stranded and sum(pq.read_metadata(f).num_rows for f in stranded) == rows
