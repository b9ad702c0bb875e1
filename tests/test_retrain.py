"""Which models the daily run retrains: those with no version, those its schedule says are due
(``--train-every-days``), and, with ``--retrain-drift PSI``, those whose output moved past that
population stability index since their training."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pyarrow as pa
import pytest

from health_monitor import jobs
from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.jobs import DailySettings, _due_for_training, run_daily
from health_monitor.models.drift import RECENT_DAYS, champion_drift
from health_monitor.pipelines import run_features
from health_monitor.runtime import Runtime


def later(monkeypatch, days: float) -> None:
    """The training schedule's clock ``days`` ahead: versions trained now are that old."""
    now = jobs._now_ms()
    monkeypatch.setattr(jobs, "_now_ms", lambda: now + days * 86_400_000)


def test_the_schedule_and_the_drift_threshold_decide_which_models_are_due(fake_trained_home, monkeypatch):
    runtime, host = fake_trained_home
    moved = {name: champion_drift(runtime, owned.spec).prediction_psi for name, owned in host.models.items()}
    psi = moved["fake_failure"]
    # Versions younger than the drift's recent window are not retrained for it.
    assert _due_for_training(runtime, host, None, psi * 0.5) == {}
    later(monkeypatch, RECENT_DAYS)
    assert _due_for_training(runtime, host, None) == {}
    assert _due_for_training(runtime, host, 10_000) == {}
    every_run = _due_for_training(runtime, host, 0)
    assert sorted(every_run) == sorted(host.models)
    assert all(why.endswith(" days old (the schedule: every 0 days)") for why in every_run.values())
    assert _due_for_training(runtime, host, RECENT_DAYS + 1) == {}

    assert all(m is not None for m in moved.values()), moved  # rows on both sides of each cutoff
    for threshold in (psi * 0.99, psi * 1.01):
        due = _due_for_training(runtime, host, None, threshold)
        assert sorted(due) == sorted(n for n, v in moved.items() if v > threshold)
    due = _due_for_training(runtime, host, None, psi * 0.99)
    assert due["fake_failure"] == f"its output moved by PSI {psi:.2f} since training (over {psi * 0.99:g})"
    # the schedule's reason wins when both hold, and no threshold means no drift check
    assert "the schedule" in _due_for_training(runtime, host, 0, psi * 0.99)["fake_failure"]
    assert _due_for_training(runtime, host, 10_000, None) == {}


def test_a_model_whose_inputs_shifted_is_retrained_by_the_daily_run(fake_trained_home, tmp_path, monkeypatch):
    """On a copy of the shared fake home (its models trained and scored once for the test run)."""
    shutil.copytree(fake_trained_home[0].settings.home, tmp_path / "home")
    runtime, host = Runtime.embedded(Settings(home=tmp_path / "home")), fake_trained_home[1]
    before = {n: champion_drift(runtime, o.spec, inputs=False).prediction_psi for n, o in host.models.items()}
    assert all(m is not None and m < 3.0 for m in before.values()), before

    # The last week's values run 60 above anything the models were trained on (6 standard
    # deviations), recomputed into the features (a rewritten Gold table without days is a
    # dimension to the daily run, which would recompute only the latest day).
    facts = runtime.lakehouse.read_arrow(runtime.settings.gold("facts")).to_pandas()
    last_week = facts["day"] > facts["day"].max() - dt.timedelta(days=7)
    facts.loc[last_week, "value"] += 60.0
    runtime.lakehouse.write(runtime.settings.gold("facts"), pa.Table.from_pandas(facts, preserve_index=False))
    run_features(runtime, host, progress=False)

    quiet = run_daily(runtime, host, DailySettings(train_every_days=None, retain_days=None))
    assert quiet.details["trained"] == {}  # no drift check unless asked for
    asked = DailySettings(train_every_days=None, retain_days=None, retrain_drift=3.0)
    later(monkeypatch, RECENT_DAYS)  # a week after training
    result = run_daily(runtime, host, asked)
    assert list(result.details["trained"]) == ["fake_anomaly", "fake_failure"]
    for why in result.details["trained"].values():
        moved = re.fullmatch(r"its output moved by PSI (\d+\.\d\d) since training \(over 3\)", why)
        assert moved is not None and float(moved[1]) > 3.0, why
    versions = runtime.registry.versions(runtime.settings.registered_model("fake_failure"))
    assert len(versions) == 2
    assert [r.stage for r in result.reports] == ["features", "train", "infer"]
    monkeypatch.undo()  # the same day: the new versions are not retrained for the same drift
    assert run_daily(runtime, host, asked).details["trained"] == {}


def test_the_run_command_refuses_a_threshold_that_is_not_above_zero(capsys):
    for bad in ("0", "-1", "x", "inf"):
        with pytest.raises(SystemExit) as refused:
            main(["run", "--retrain-drift", bad])
        assert refused.value.code == 2
        assert "--retrain-drift" in capsys.readouterr().err
