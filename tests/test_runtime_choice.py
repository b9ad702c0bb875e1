"""Which home a command runs in, and the databricks runtime failing fast where there is no workspace."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.errors import ConfigError

WORKSPACE_ENV = ("DATABRICKS_HOST", "DATABRICKS_RUNTIME_VERSION", "HEALTH_MONITOR_RUNTIME")


@pytest.fixture
def no_workspace(monkeypatch):
    for name in WORKSPACE_ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_runtime_comes_from_the_flag_the_environment_or_the_cluster(no_workspace, monkeypatch, tmp_path):
    assert Settings.from_env(home=tmp_path).runtime == "embedded"
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    assert Settings.from_env(home=tmp_path).runtime == "databricks"
    monkeypatch.setenv("HEALTH_MONITOR_RUNTIME", "embedded")
    assert Settings.from_env(home=tmp_path).runtime == "embedded"
    assert Settings.from_env(home=tmp_path, runtime="databricks").runtime == "databricks"
    monkeypatch.setenv("HEALTH_MONITOR_RUNTIME", "cloud")
    with pytest.raises(ConfigError, match="HEALTH_MONITOR_RUNTIME"):
        Settings.from_env(home=tmp_path)


def test_databricks_without_a_workspace_fails_fast_and_says_what_is_missing(no_workspace, capsys, tmp_path):
    started = time.monotonic()
    status = main(["--runtime", "databricks", "features", "--home", str(tmp_path)])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 2 and elapsed < 2, (status, elapsed)
    assert "DATABRICKS_HOST is not set" in err and "DATABRICKS_RUNTIME_VERSION is not set" in err
    assert "--runtime embedded" in err


def test_a_host_without_databricks_connect_is_named(no_workspace, monkeypatch, capsys, tmp_path):
    import importlib.util

    if importlib.util.find_spec("databricks.connect") is not None:
        pytest.skip("databricks-connect is installed here")
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.invalid")
    monkeypatch.setenv("HEALTH_MONITOR_RUNTIME", "databricks")
    assert main(["train", "--home", str(tmp_path)]) == 2
    assert "pip install databricks-connect" in capsys.readouterr().err


def test_the_embedded_runtime_refuses_a_malformed_spark_master_before_any_work(monkeypatch, tmp_path):
    from health_monitor.runtime import Runtime

    settings = Settings(home=tmp_path / "home")
    for good in ("local", "local[2]", "local[*]", "spark://127.0.0.1:7077", "spark://a:7077,b:7077", "yarn"):
        monkeypatch.setenv("HEALTH_MONITOR_SPARK_MASTER", good)
        Runtime.embedded(settings)
    for bad in ("spark://127.0.0.1", "127.0.0.1:7077", "local[0]", "locall", "spark://h:70 77"):
        monkeypatch.setenv("HEALTH_MONITOR_SPARK_MASTER", bad)
        with pytest.raises(
            ConfigError, match=rf"HEALTH_MONITOR_SPARK_MASTER must be .*got {re.escape(repr(bad))}"
        ):
            Runtime.embedded(settings)


def test_spark_settings_from_the_environment_are_checked_before_any_work(monkeypatch, tmp_path):
    from health_monitor.lakehouse.spark import spark_conf
    from health_monitor.runtime import Runtime

    monkeypatch.setenv("HEALTH_MONITOR_SPARK_CONF", " spark.sql.shuffle.partitions=1, spark.a.b-c=x=y ,")
    assert spark_conf() == {"spark.sql.shuffle.partitions": "1", "spark.a.b-c": "x=y"}
    monkeypatch.setenv("HEALTH_MONITOR_SPARK_CONF", "")
    assert spark_conf() == {}
    for bad in ("spark.sql.shuffle.partitions", "shuffle.partitions=1", "spark.x=", "spark. x=1"):
        monkeypatch.setenv("HEALTH_MONITOR_SPARK_CONF", f"spark.ui.enabled=false,{bad}")
        with pytest.raises(
            ConfigError, match=rf"HEALTH_MONITOR_SPARK_CONF takes .*got {re.escape(repr(bad))}"
        ):
            Runtime.embedded(Settings(home=tmp_path / "home"))


def test_the_session_has_the_settings_of_the_environment(spark):
    """The test kit sets HEALTH_MONITOR_SPARK_CONF before any session starts (unless it was set
    already); the session got every entry."""
    from health_monitor.lakehouse.spark import JAVA_OPTIONS, spark_conf

    settings = spark_conf()
    assert settings, "the test kit sets HEALTH_MONITOR_SPARK_CONF"
    java = settings.pop(JAVA_OPTIONS, "")
    assert {k: spark.conf.get(k) for k in settings} == settings
    # The driver JVM started with the given Java options after the session's own logging set-up,
    # which they do not replace.
    bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    arguments = " ".join(str(a) for a in bean.getInputArguments())
    assert "-Dlog4j2.configurationFile=file:" in arguments, arguments
    assert arguments.index("-Dlog4j2.configurationFile=file:") < arguments.rindex(java), arguments


def test_the_driver_jvm_leaves_sparks_generated_classes_to_c1(spark):
    """The session's own compile commands reach the JVM whole (each one argument, not split at
    its commas) and the JVM took each of them: the node limit for Spark's generated classes."""
    from health_monitor.lakehouse.spark import GENERATED_CODE_BY_C1

    jvm = spark.sparkContext._jvm
    management = jvm.java.lang.management.ManagementFactory
    arguments = [str(a) for a in management.getRuntimeMXBean().getInputArguments()]
    hotspot = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
    taken = str(management.getPlatformMXBean(hotspot).getVMOption("CompileCommand").getValue()).splitlines()
    wanted = GENERATED_CODE_BY_C1.split()
    assert any("MaxNodeLimit" in option and "GeneratedClass" in option for option in wanted)
    for option in wanted:
        assert option in arguments, arguments
        assert option.removeprefix("-XX:CompileCommand=") in taken, taken


def _java_home() -> str | None:
    """The Java the session starts on: JAVA_HOME, else the preferred one (None: the java on PATH)."""
    from health_monitor.lakehouse.spark import preferred_java_home

    return os.environ.get("JAVA_HOME") or preferred_java_home()


def _java() -> str:
    home = _java_home()
    return str(Path(home) / "bin" / "java") if home else "java"


def _final_flags(options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_java(), *options.split(), "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_session_collects_with_the_parallel_collector_unless_the_options_name_one(monkeypatch):
    """The session's own Java options choose the parallel collector, and the JVM starts with them
    and runs it; Java options that name a collector (given to the session or in the JVM's own
    variables) keep theirs, as the JVM refuses to start with two."""
    from health_monitor.lakehouse.spark import COLLECTOR, JAVA_OPTIONS, session_conf

    for name in ("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    own = session_conf({})[JAVA_OPTIONS]
    assert COLLECTOR in own.split()
    started = _final_flags(own)
    assert started.returncode == 0, started.stderr
    assert re.search(r"\bUseParallelGC\s+= true", started.stdout), started.stdout[-2000:]
    assert _final_flags(f"{own} -XX:+UseSerialGC").returncode != 0  # two collectors: no JVM
    given = session_conf({JAVA_OPTIONS: "-XX:+UseSerialGC"})[JAVA_OPTIONS]
    assert COLLECTOR not in given.split() and given.endswith("-XX:+UseSerialGC")
    assert _final_flags(given).returncode == 0
    monkeypatch.setenv("JDK_JAVA_OPTIONS", "-XX:+UseG1GC")
    assert COLLECTOR not in session_conf({})[JAVA_OPTIONS].split()


def test_the_test_kits_session_runs_the_collector_the_kit_names(spark):
    """The kit names the serial collector in HEALTH_MONITOR_SPARK_CONF: the session left its own out."""
    from health_monitor.lakehouse.spark import JAVA_OPTIONS, spark_conf

    if "-XX:+UseSerialGC" not in spark_conf().get(JAVA_OPTIONS, ""):
        pytest.skip("HEALTH_MONITOR_SPARK_CONF was set before the kit and names no serial collector")
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert {str(b.getName()) for b in beans} == {"Copy", "MarkSweepCompact"}  # the serial collector's


def _install_java(folder, name, version, executable=True):
    home = folder / name
    (home / "bin").mkdir(parents=True)
    (home / "release").write_text(f'IMPLEMENTOR="Someone"\nJAVA_VERSION="{version}"\nOS_NAME="Linux"\n')
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "bin" / "java").chmod(0o755 if executable else 0o644)
    return home


def test_without_java_home_the_session_prefers_a_java_25_from_25_0_3(tmp_path):
    from health_monitor.lakehouse.spark import java_release, preferred_java_home

    assert preferred_java_home(tmp_path / "none") is None  # no such folder: the java on PATH
    _install_java(tmp_path, "java-17-openjdk-amd64", "17.0.15")
    _install_java(tmp_path, "java-21-openjdk-amd64", "21.0.8")
    _install_java(tmp_path, "jdk-25.0.2", "25.0.2")  # deprecated by Spark: a G1 bug
    _install_java(tmp_path, "jdk-26", "26")  # not supported by this Spark
    (tmp_path / "notes.txt").write_text("not a Java")
    assert preferred_java_home(tmp_path) is None
    _install_java(tmp_path, "broken-25", "25.0.9", executable=False)  # no runnable bin/java
    assert preferred_java_home(tmp_path) is None
    _install_java(tmp_path, "temurin-25-jdk-amd64", "25.0.3")
    assert preferred_java_home(tmp_path) == str((tmp_path / "temurin-25-jdk-amd64").resolve())
    _install_java(tmp_path, "temurin-25.0.10", "25.0.10")  # newer by number, not by text
    assert preferred_java_home(tmp_path) == str((tmp_path / "temurin-25.0.10").resolve())
    assert java_release(tmp_path / "jdk-26") == (26,)


def test_the_session_runs_on_the_java_that_java_home_names(spark):
    """The driver JVM runs the Java that JAVA_HOME names, or without it the preferred one."""
    from health_monitor.lakehouse.spark import java_release

    home = _java_home()
    if not home:
        pytest.skip("no JAVA_HOME and no Java 25 installed: the session runs the java on PATH")
    running = str(spark.sparkContext._jvm.java.lang.System.getProperty("java.version"))
    released = java_release(Path(home))
    if released is None:
        pytest.skip(f"JAVA_HOME={home} has no release file to read its version from")
    assert tuple(int(p) for p in re.findall(r"\d+", running)[: len(released)]) == released, (home, running)


def test_java_options_from_the_environment_follow_the_sessions_own():
    from health_monitor.lakehouse.spark import JAVA_OPTIONS, session_conf

    own = session_conf({})[JAVA_OPTIONS]
    assert "log4j2.properties" in own
    conf = session_conf({JAVA_OPTIONS: "-XX:TieredStopAtLevel=1", "spark.sql.shuffle.partitions": "1"})
    assert conf[JAVA_OPTIONS] == f"{own} -XX:TieredStopAtLevel=1"
    assert conf["spark.sql.shuffle.partitions"] == "1" and conf["spark.ui.enabled"] == "false"


def test_a_days_work_spreads_its_shuffles_over_the_cores_unless_the_environment_chose(spark, monkeypatch):
    """The daily run's features and inference: one shuffle partition per core of a local master,
    no adaptive execution, and the session's settings back afterwards, even after an error; a key
    set in HEALTH_MONITOR_SPARK_CONF is left as the user set it."""
    from health_monitor.lakehouse.spark import sized_for_a_day

    cores = re.fullmatch(r"local\[(\d+)\]", spark.sparkContext.master)
    if cores is None:
        pytest.skip(f"the test kit's master is {spark.sparkContext.master}")
    partitions, adaptive = "spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled"
    kit = {k: spark.conf.get(k) for k in (partitions, adaptive)}
    monkeypatch.setenv("HEALTH_MONITOR_SPARK_CONF", "spark.ui.enabled=false")  # neither key chosen
    spark.conf.set(partitions, "7")
    spark.conf.set(adaptive, "true")
    try:
        with pytest.raises(ZeroDivisionError), sized_for_a_day() as workers:
            assert (spark.conf.get(partitions), spark.conf.get(adaptive)) == (cores.group(1), "false")
            assert workers == min(2, int(cores.group(1)))  # items at once
            raise ZeroDivisionError
        assert (spark.conf.get(partitions), spark.conf.get(adaptive)) == ("7", "true")
        monkeypatch.setenv("HEALTH_MONITOR_SPARK_CONF", f"{partitions}=7")
        with sized_for_a_day():
            assert (spark.conf.get(partitions), spark.conf.get(adaptive)) == ("7", "false")
    finally:
        for k, v in kit.items():
            spark.conf.set(k, v)
