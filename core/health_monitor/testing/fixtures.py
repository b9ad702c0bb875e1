"""pytest fixtures of the health-monitor test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from health_monitor.config import Settings

# The simulated account every test session shares: small, short and fixed in time.
TEST_SCALE = os.environ.get("HEALTH_MONITOR_TEST_SCALE", "small")
TEST_DAYS = int(os.environ.get("HEALTH_MONITOR_TEST_DAYS", "75"))
TEST_END_DATE = dt.date(2026, 10, 31)
TEST_SEED = 11
# The test accounts are small: one shuffle partition and no adaptive execution spend less of the
# machine on Spark's planning and scheduling (docs/scale.md, "The test kit's Spark settings").
# Set before any session starts, so the tests' subprocesses (the CLI, a cluster's driver) get them
# too; a test that needs the embedded home's own settings sets them on its session
# (tests/test_daily.py runs its full recompute so, which also checks that no table depends on
# how Spark partitions its rows). A ``HEALTH_MONITOR_SPARK_CONF`` already set is kept.
# The driver JVM collects with the serial collector: the full collection ``release_memory`` asks
# for after each model ``train`` fits is cheaper on a small heap than G1's, whose threads the other
# worker's JVM needs too. Two test homes built at once: 363-365 s each against 424-425 s with G1
# (docs/scale.md, "The test JVMs' collector and compiler (session 41)", also C1-only compiling,
# tried and not kept). The embedded home's own sessions use the parallel collector
# (``lakehouse.spark.COLLECTOR``), which the kit's choice replaces.
TEST_SPARK_CONF = (
    "spark.sql.shuffle.partitions=1,spark.sql.adaptive.enabled=false,"
    "spark.driver.extraJavaOptions=-XX:+UseSerialGC"
)


@pytest.fixture(scope="session")
def spark():
    """The process's local SparkSession (started once per test session)."""
    from health_monitor.lakehouse.spark import get_spark

    return get_spark()


@pytest.fixture
def hm_settings(tmp_path) -> Settings:
    """Settings of a fresh, empty home in a temporary folder."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def hm_runtime(hm_settings, spark):
    """A Runtime over an empty throwaway home."""
    from health_monitor.runtime import Runtime

    return Runtime.embedded(hm_settings)


@pytest.fixture
def make_host() -> Callable:
    """Build a Host from in-process plugins (``{"name": plugin}``), without entry points by default."""
    from health_monitor.host import load_host
    from health_monitor.plugins import make_plugin_manager

    def build(plugins: dict | None = None, load_entry_points: bool = False, **kwargs):
        return load_host(
            make_plugin_manager(load_entry_points=load_entry_points, plugins=plugins or {}, **kwargs)
        )

    return build


SHARED_HOMES = frozenset({"simulated_home", "trained_home", "fake_trained_home"})


EAGER_HOMES = pytest.StashKey[str]()


def pytest_configure(config) -> None:
    from health_monitor.lakehouse.spark import ENV_CONF

    os.environ.setdefault(ENV_CONF, TEST_SPARK_CONF)
    # Under pytest-xdist the workers share the cores. An OpenMP or BLAS team as wide as the machine
    # in each worker spins at every barrier while the other worker holds the cores: two builds of
    # the test home at once trained in 228 s each, and in 94 s with one thread each (docs/scale.md,
    # "Threads per test worker"). Each worker (and the processes it starts) gets its share of the
    # cores; a variable already set is kept.
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        for name in ("OMP_THREAD_LIMIT", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, str(max(1, cores // workers)))
    config.addinivalue_line(
        "markers",
        "heavy: the file takes minutes (its own home, a long setup): scheduled before the lighter "
        "files of its group under pytest-xdist, so that it does not run last",
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Under pytest-xdist, run the test files that need no shared home first (each file's tests
    in their order): the first worker builds the homes meanwhile (:func:`_build_shared_homes`).
    Within each group, files marked ``heavy`` go first, then the files with more tests (so that
    no long file starts last). ``./run test`` asks pytest-xdist to keep this order
    (``--no-loadscope-reorder``); by default it would sort every file by its number of tests,
    and both workers would start with a file that waits for the shared home. Alone, the order
    is left as collected."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    used = {name for item in items for name in getattr(item, "fixturenames", ()) if name in SHARED_HOMES}
    if "trained_home" in used or "simulated_home" in used:
        config.stash[EAGER_HOMES] = "trained_home" if "trained_home" in used else "simulated_home"

    def needs_home(tests: list) -> bool:
        return any(SHARED_HOMES & set(getattr(t, "fixturenames", ())) for t in tests)

    def key(name: str) -> tuple[bool, bool, int]:
        tests = files[name]
        heavy = any(t.get_closest_marker("heavy") is not None for t in tests)
        return needs_home(tests), not heavy, -len(tests)

    order = sorted(files, key=key)  # stable: ties keep the collection order
    items[:] = [t for f in order for t in files[f]]


@pytest.fixture(scope="session", autouse=True)
def _build_shared_homes(request) -> None:
    """Under pytest-xdist, the first worker builds the shared home the collected tests need before
    its first test, while the other runs the tests that need none. A failed build fails only the
    tests that use the home."""
    home = request.config.stash.get(EAGER_HOMES, None)
    if home is None or os.environ.get("PYTEST_XDIST_WORKER") != "gw0":
        return
    with contextlib.suppress(Exception):  # raised again to each test that uses the home
        request.getfixturevalue(home)


def shared_build(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """Build a home once per test run: ``build(home)`` returns something picklable.

    Alone, the home is a temporary folder of this session. Under pytest-xdist every worker asks
    for it: the first one builds it in the run's shared temporary folder while holding a file
    lock, the others wait on the lock and get the same folder and the unpickled result. A failed
    build is not retried by each worker: they raise with the first worker's error. Tests treat
    the home as read-only (copy it to change it)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        home = tmp_path_factory.mktemp(name) / "home"
        return home, build(home)
    import fcntl  # POSIX (Linux, macOS)

    root = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    root.mkdir(exist_ok=True)
    home, done, failed = root / "home", root / "result.pickle", root / "error.txt"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if done.exists():
            return home, pickle.loads(done.read_bytes())
        if failed.exists():
            raise RuntimeError(
                f"the shared {name} home failed to build in another worker: {failed.read_text()}"
            )
        shutil.rmtree(home, ignore_errors=True)  # left half-built by a worker that was killed
        try:
            result = build(home)
        except BaseException as error:
            failed.write_text(f"{type(error).__name__}: {error}")
            raise
        done.write_bytes(pickle.dumps(result))
        return home, result


def fingerprint(home: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file of ``home`` but SQLite's journals."""
    return {
        str(f.relative_to(home)): (st.st_size, st.st_mtime_ns)
        for f in home.rglob("*")
        if not f.name.endswith(("-journal", "-wal", "-shm")) and f.is_file() and (st := f.stat())
    }


def refuse_changes(name: str, home: Path, before: dict[str, tuple[int, int]]) -> None:
    """Fail when a test wrote into a shared home (another worker may be reading it)."""
    after = fingerprint(home)
    changed = sorted(f for f in before.keys() | after.keys() if before.get(f) != after.get(f))
    if changed:
        pytest.fail(
            f"a test changed the shared {name} home, which tests must copy before changing it: "
            f"{len(changed)} file(s), e.g. {changed[:5]}"
        )


@pytest.fixture(scope="session")
def simulated_home(tmp_path_factory, spark):
    """A home holding a small simulated account (its system tables, the Gold tables the installed
    plugins read, as `demo` builds them, and ground truth), shared by the test run (by every
    xdist worker too). Treat it as read-only."""
    from health_monitor.host import load_host
    from health_monitor.jobs import build_gold_into, simulate_into
    from health_monitor.runtime import Runtime

    def build(home: Path) -> None:
        runtime = Runtime.embedded(Settings(home=home))
        simulate_into(runtime, TEST_SCALE, TEST_SEED, TEST_DAYS, TEST_END_DATE)
        report = build_gold_into(runtime, host=load_host())
        if not report.ok:
            failed = [f"{s.table}: {s.error}" for s in report.steps if s.status == "failed"]
            raise RuntimeError(f"Gold build of the simulated account failed: {failed}")

    home, _ = shared_build(tmp_path_factory, "simulated", build)
    before = fingerprint(home)
    yield Runtime.embedded(Settings(home=home))
    refuse_changes("simulated", home, before)


@pytest.fixture(scope="session")
def trained_home(simulated_home, tmp_path_factory):
    """A copy of ``simulated_home`` after features, train and infer with every installed plugin.

    Returns ``(runtime, host, job_result)``; shared by the test run (by every xdist worker too),
    so treat it as read-only.
    """
    from health_monitor.host import load_host
    from health_monitor.jobs import run_pipelines
    from health_monitor.runtime import Runtime

    host = load_host()

    def build(home: Path):
        shutil.copytree(simulated_home.settings.home, home)
        return run_pipelines(Runtime.embedded(Settings(home=home)), host)

    home, result = shared_build(tmp_path_factory, "trained", build)
    before = fingerprint(home)
    yield Runtime.embedded(Settings(home=home)), host, result
    refuse_changes("trained", home, before)
