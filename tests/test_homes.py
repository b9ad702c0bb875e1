"""A home is a folder: it can be moved or copied and keeps working."""

from __future__ import annotations

import shutil
import sqlite3

from health_monitor.config import Settings
from health_monitor.pipelines import run_infer
from health_monitor.runtime import Runtime
from health_monitor.serving.app import ScoringService
from health_monitor.serving.scoring import Champions


def test_a_moved_home_infers_and_serves(fake_trained_home, tmp_path):
    shared, host = fake_trained_home
    old = tmp_path / "original" / "home"  # its own copy: the shared home is read by other workers
    shutil.copytree(shared.settings.home, old)
    runtime = Runtime.embedded(Settings(home=old))
    moved = tmp_path / "moved home é"
    shutil.copytree(old, moved)
    away = old.with_name(old.name + "-away")
    old.rename(away)  # the original is unreachable while the copy runs: nothing may read it
    try:
        copy = Runtime.embedded(Settings(home=moved))
        report = run_infer(copy, host, progress=False)
        assert report.ok, [(i.item, i.error) for i in report.failed]
        warmed = ScoringService(Champions(copy, host)).warm()
        assert all(status.startswith("v1, ") for status in warmed.values()), warmed
    finally:
        away.rename(old)
    with sqlite3.connect(moved / "mlflow" / "mlflow.db") as db:
        locations = [r[0] for r in db.execute("select artifact_uri from runs")]
    assert locations and all("moved%20home" in uri for uri in locations), locations[:2]
    assert run_infer(runtime, host, progress=False).ok  # the original, back in place, still works


def _tree(folder) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_read_only_commands_change_no_file_of_the_home(fake_trained_home, tmp_path, capsys):
    """`tables`, `models`, `evaluate`, `explain`, the tools and the scoring service read; the
    home's tree (every file, its size and its modification time) is the same afterwards."""
    from health_monitor.agents import get_toolkit, make_context
    from health_monitor.cli import main

    runtime, host = fake_trained_home
    home = tmp_path / "home"
    shutil.copytree(runtime.settings.home, home)
    copy = Runtime.embedded(Settings(home=home))
    ScoringService(Champions(copy, host)).warm()  # a first use may settle the store once
    before = _tree(home)

    for argv in (["tables"], ["tables", "--json"], ["models"]):
        assert main([*argv, "--home", str(home)]) == 0, argv
    main(["evaluate", "--home", str(home), "--json"])
    tools = {t.name: t for t in get_toolkit("reliability", context=make_context(runtime=copy, host=host))}
    tools["list_entities"].invoke({})
    tools["riskiest_entities"].invoke({"day": "2026-01-20", "limit": 3})
    tools["explain_prediction"].invoke(
        {"model": "fake_failure", "keys": {"entity": "e1", "day": "2026-01-20"}}
    )
    tools["health_summary"].invoke({})
    service = ScoringService(Champions(copy, host))
    service.warm()
    capsys.readouterr()

    after = _tree(home)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], changed
