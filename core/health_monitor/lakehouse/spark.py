"""The one local Spark session of a process (embedded default only)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import sys
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from health_monitor.errors import ConfigError

_lock = threading.Lock()
_session = None
_started_here = False  # the session is one get_spark started, not the Databricks runtime's

ENV_MASTER = "HEALTH_MONITOR_SPARK_MASTER"
ENV_DRIVER_MEMORY = "HEALTH_MONITOR_SPARK_MEMORY"
ENV_CONF = "HEALTH_MONITOR_SPARK_CONF"
DEFAULT_MASTER = "local[2]"
# Java for the local session when JAVA_HOME is not set: a Java 25 from 25.0.3 on, installed where
# Linux distributions keep their JDKs side by side. Spark runs on Java 17, 21 and 25 (before
# 25.0.3 it deprecates 25: a G1 bug that corrupted data, SPARK-55852). On Java 25 the seed daily
# run took less time than on 17 (docs/scale.md, "Java 25 (session 51)"). Without one, Spark
# runs on the `java` on PATH, as before.
JVM_FOLDER = "/usr/lib/jvm"
PREFERRED_JAVA = (25, 0, 3)
JAVA_OPTIONS = "spark.driver.extraJavaOptions"
# Spark compiles each plan into classes of its own (whole-stage code, projections, orderings), which
# run for that plan's few tasks. The JVM's optimizing compiler (C2) compiled them on and on: in a
# seed daily run C2 used 162-171 s of CPU (most of it on these classes) against 222-247 s of
# Spark's tasks, on 2 cores. They are compiled by C1 only: C2 gives up on them at once (a node
# limit of 10), and the JVM then compiles them with C1 without profiling. Spark's own code and the
# JDK's still get C2 (C1 alone for everything made the tests slower: docs/scale.md, "The test
# JVMs' collector and compiler"). ``quiet`` keeps the JVM from printing the commands at start.
# Measured: docs/scale.md, "Spark's generated classes compiled by C1 only (session 50)".
GENERATED_CODE_BY_C1 = (
    "-XX:CompileCommand=quiet "
    "-XX:CompileCommand=MaxNodeLimit,org/apache/spark/sql/catalyst/expressions/GeneratedClass*.*,10"
)
# The local session's collector: the throughput (parallel) collector instead of the JVM's default,
# G1, whose concurrent marking and write barriers take CPU from Spark's tasks on the same cores.
# On the seed daily run Spark's tasks used 189-202 s of CPU against 223-257 s with G1, and
# features + infer took 12-23 s (7-12%) less (docs/scale.md, "The parallel collector (session
# 52)"). Not added when the Java options name a collector of their own (the JVM refuses two).
COLLECTOR = "-XX:+UseParallelGC"
_NAMES_A_COLLECTOR = re.compile(r"-XX:\+Use\w*GC\b")
# The local session's settings (``HEALTH_MONITOR_SPARK_CONF`` overrides them).
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "true",
}
# The master URLs Spark itself accepts (SparkContext's master parsing): local threads, a
# standalone cluster (several masters for failover), YARN, Kubernetes.
_MASTER = re.compile(
    r"^(local(\[(\*|[1-9]\d*)(,[1-9]\d*)?\])?"
    r"|local-cluster\[[1-9]\d*,[1-9]\d*,[1-9]\d*\]"
    r"|spark://[^\s/:,]+:\d{1,5}(,[^\s/:,]+:\d{1,5})*"
    r"|yarn"
    r"|k8s://\S+)$"
)


def spark_master() -> str:
    """The master the local session connects to: ``HEALTH_MONITOR_SPARK_MASTER`` or ``local[2]``.

    A cluster (``spark://host:port``) works only if the driver and every executor see the home at
    the same path (shared storage): the embedded lakehouse refuses a write whose files the driver
    cannot see. Raises ConfigError, naming the variable, for anything Spark would not take."""
    master = os.environ.get(ENV_MASTER, "").strip() or DEFAULT_MASTER
    if not _MASTER.match(master):
        raise ConfigError(
            f"{ENV_MASTER} must be a Spark master URL: local, local[N], local[*], spark://HOST:PORT, "
            f"yarn or k8s://URL; got {master!r}"
        )
    return master


def spark_conf() -> dict[str, str]:
    """Settings for the local session from ``HEALTH_MONITOR_SPARK_CONF``: ``KEY=VALUE`` entries
    separated by commas (``spark.sql.shuffle.partitions=1,spark.sql.adaptive.enabled=false``),
    applied over the defaults when the session starts (``spark.driver.extraJavaOptions`` is added
    after the session's own: :func:`session_conf`). Raises ConfigError, naming the variable and
    the entry, for an entry that is not ``spark.KEY=VALUE``."""
    conf = {}
    for entry in filter(None, (e.strip() for e in os.environ.get(ENV_CONF, "").split(","))):
        key, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not value or not re.fullmatch(r"spark\.[A-Za-z0-9_.-]+", key):
            raise ConfigError(f"{ENV_CONF} takes spark.KEY=VALUE entries separated by commas; got {entry!r}")
        conf[key] = value
    return conf


def java_release(home: Path) -> tuple[int, ...] | None:
    """The version of the Java installed at ``home`` (its ``release`` file's ``JAVA_VERSION``, as
    numbers), or None when ``home`` is not a Java with a ``bin/java`` and a readable version."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(\d+(?:\.\d+)*)', text, re.MULTILINE)
    if found is None or not os.access(home / "bin" / "java", os.X_OK):
        return None
    return tuple(int(part) for part in found.group(1).split("."))


def preferred_java_home(folder: str | Path = JVM_FOLDER) -> str | None:
    """The newest Java 25 (25.0.3 or later) installed in ``folder``, or None. Java 26 and later
    are not chosen: the Spark this project installs does not support them."""
    candidates = []
    with contextlib.suppress(OSError):
        for home in Path(folder).iterdir():
            version = java_release(home)
            if version is not None and version[0] == PREFERRED_JAVA[0] and version >= PREFERRED_JAVA:
                candidates.append((version, str(home.resolve())))
    return max(candidates)[1] if candidates else None


def session_conf(overrides: dict[str, str]) -> dict[str, str]:
    """The local session's settings: the defaults, the driver's logging set-up, compile commands
    (:data:`GENERATED_CODE_BY_C1`) and collector (:data:`COLLECTOR`), then ``overrides``
    (:func:`spark_conf`). Java options given there come after the session's own, so that the
    logging set-up stays and a repeated ``-D`` or ``-XX`` option is the given one (the last wins);
    when they, ``JDK_JAVA_OPTIONS`` or ``JAVA_TOOL_OPTIONS`` name a collector (``-XX:+Use...GC``),
    the session's is left out, as the JVM would refuse to start with two."""
    log4j = resources.files("health_monitor.lakehouse").joinpath("log4j2.properties")
    java_opts = f"-Dlog4j.configurationFile=file:{log4j} -Dlog4j2.configurationFile=file:{log4j} {GENERATED_CODE_BY_C1}"
    overrides = dict(overrides)
    extra = overrides.pop(JAVA_OPTIONS, None) or ""
    # The JVM also reads options from these variables; one that names a collector keeps it.
    given = " ".join([extra, *(os.environ.get(v, "") for v in ("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS"))])
    if not _NAMES_A_COLLECTOR.search(given):
        java_opts = f"{java_opts} {COLLECTOR}"
    if extra:
        java_opts = f"{java_opts} {extra}"
    return {
        **DEFAULT_CONF,
        "spark.driver.memory": os.environ.get(ENV_DRIVER_MEMORY, "4g"),
        JAVA_OPTIONS: java_opts,
        "spark.sql.warehouse.dir": os.path.join(os.environ.get("TMPDIR", "/tmp"), "hm-spark-warehouse"),
        **overrides,
    }


def get_spark():
    """Return this process's SparkSession, starting a local one on first use (~10 s).

    Without ``JAVA_HOME``, a Java 25 from 25.0.3 on installed in ``/usr/lib/jvm`` runs it when
    there is one (:func:`preferred_java_home`), else the ``java`` on PATH. On Databricks the
    session already exists and ``getOrCreate`` returns it unchanged.
    """
    global _session, _started_here
    with _lock:
        if _session is not None:
            return _session
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            _session = active
            return active
        master = spark_master()
        overrides = spark_conf()
        if not os.environ.get("JAVA_HOME") and (java := preferred_java_home()):
            os.environ["JAVA_HOME"] = java  # read by the script that starts the JVM
        # Executors' Python workers must see the same interpreter (and so the same plugins).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = SparkSession.builder.master(master).appName("health-monitor")
        for key, value in session_conf(overrides).items():
            builder = builder.config(key, value)
        _session = builder.getOrCreate()
        _session.sparkContext.setLogLevel("ERROR")
        _started_here = True
        return _session


def release_memory() -> None:
    """Give the memory this process freed back to the operating system: between the stages of a
    job that runs them in one process (``demo``, ``run``) and between the models ``train`` fits.

    - pyarrow's allocator keeps the pages of freed buffers for later allocations, and Python's
      objects hold buffers until collected: a collection, then the pool's ``release_unused``.
    - numpy's arrays come from C's allocator, whose heap keeps freed pages; glibc's
      ``malloc_trim`` gives them back (other C libraries have none).
    - The driver JVM of a session this process started keeps the heap a stage filled (up to
      ``spark.driver.memory``) while Python works; a full collection lets it shrink the heap. Not done
      to a session it did not start (Databricks').

    At the seed scale each of them is a gigabyte or so of the peak (docs/scale.md, "Memory a stage
    gives back")."""
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    if _session is not None and _started_here:
        with contextlib.suppress(Exception):  # (Spark Connect has no JVM gateway)
            _session._jvm.System.gc()


@contextlib.contextmanager
def sized_for_a_day() -> Iterator[int]:
    """While inside, this process's own local session spreads each shuffle over one partition per
    core, without adaptive execution: the daily run's features and inference read a day's rows
    and a few weeks of windows, for which that cost about 9% less than the session's defaults,
    while the full computations (and the Gold build) are faster with the defaults (docs/scale.md,
    "A day's Spark settings"). A key set in ``HEALTH_MONITOR_SPARK_CONF`` keeps its value. Does
    nothing on a cluster master or a session this process did not start (Databricks). Yields how
    many items to run at once: two where it applies on two cores or more (a day's small Spark jobs
    leave a core idle: docs/scale.md, "Items at once"), else one."""
    with _lock:
        session = _session if _started_here else None
    cores = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", session.sparkContext.master) if session else None
    if session is None or cores is None:
        yield 1
        return
    count = (os.cpu_count() or 1) if cores.group(1) == "*" else int(cores.group(1) or 1)
    day = {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": str(count)}
    chosen = spark_conf()
    with sql_settings(session, {k: v for k, v in day.items() if k not in chosen}):
        yield min(2, count)


@contextlib.contextmanager
def sql_settings(session, settings: dict[str, str]) -> Iterator[None]:
    """``settings`` (SQL settings, read when a query is planned) on ``session`` while inside; the
    values before are set back afterwards, also after an error."""
    before = {k: session.conf.get(k) for k in settings}
    for k, v in settings.items():
        session.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            session.conf.set(k, v)


def cancel_jobs_with_item() -> None:
    """Put the Spark jobs this thread starts in its pipeline item's job group, so that stopping the
    item at its time limit cancels them (``interruptOnCancel``: running tasks are interrupted).
    Outside a pipeline item, or without a SparkContext (Spark Connect), it does nothing."""
    from health_monitor.deadline import current

    token = current()
    if token is None:
        return
    try:
        context = get_spark().sparkContext
    except Exception:  # Spark Connect has no SparkContext; its jobs then run to their end
        return
    group = f"health-monitor-{token.id}"
    context.setJobGroup(group, token.label, interruptOnCancel=True)
    token.on_cancel(lambda: context.cancelJobGroup(group))


def use_session(session) -> None:
    """Make ``session`` this process's session (the Databricks runtime's), so that nothing starts
    a local one beside it."""
    global _session, _started_here
    with _lock:
        _session, _started_here = session, False


def spark_started() -> bool:
    return _session is not None


def stop_spark() -> None:
    """Stop this process's local session, if one was started (before exit, to avoid teardown races)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
