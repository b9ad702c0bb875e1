"""The champion gate fails closed, and promoting by hand records why: on a fake registry and
pandas frames (the gate), and on a real MLflow store without Spark (``health-monitor promote``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.models.verdicts import paired_bootstrap
from health_monitor.pipelines import train
from health_monitor.registry import CHALLENGER, CHAMPION, ModelRegistry, RegisteredVersion
from tests.fakes import anomaly_model, failure_model

NAME = "health_monitor.ml.fake_failure"
ROWS = 200
DAYS = pd.Series(np.repeat(pd.date_range("2026-01-01", periods=20, freq="D"), ROWS // 20))
Y = pd.Series((np.random.default_rng(0).random(ROWS) < 0.3).astype(float))


def predictions(error_rate: float, seed: int) -> pd.DataFrame:
    wrong = np.random.default_rng(seed).random(ROWS) < error_rate
    pred = np.where(wrong, 1 - Y, Y)
    return pd.DataFrame({"prediction": pred, "probability": pred})


GOOD, FAIR, BAD = predictions(0.05, 1), predictions(0.2, 2), predictions(0.45, 3)


class FakeRegistry:
    """Aliases in a dict; versions are numbers."""

    def __init__(self, champion: int | None = None):
        self.aliases: dict[str, int] = {} if champion is None else {CHAMPION: champion}

    def version_by_alias(self, name, alias=CHAMPION):
        version = self.aliases.get(alias)
        return None if version is None else RegisteredVersion(name, version, f"run{version}")

    def set_alias(self, name, alias, version):
        self.aliases[alias] = version


class Scores:
    """A champion's packed model: predicts fixed frames, or raises."""

    def __init__(self, predicted: pd.DataFrame | Exception):
        self.model = self
        self.predicted = predicted

    def predict(self, X):
        if isinstance(self.predicted, Exception):
            raise self.predicted
        return self.predicted


class FakeRuntime:
    def __init__(self, registry):
        self.registry = registry


def gate(monkeypatch, new, baseline, champion=None, labelled=True, spec=None):
    """Run the gate for version 2 (or 1 without a champion); returns (alias, reason, registry)."""
    registry = FakeRegistry(None if champion is None else 1)
    monkeypatch.setattr(train, "load_packed_model", lambda uri: Scores(champion))
    spec = spec or failure_model()
    X = pd.DataFrame({"rate": np.zeros(ROWS), "value": np.zeros(ROWS)})
    test = train.Evaluated(spec, X, Y if labelled else None, DAYS)
    comparison = test.compare(new, baseline)
    version = 1 if champion is None else 2
    alias, reason, _ = train._promote(FakeRuntime(registry), spec, NAME, version, comparison, new, test)
    assert registry.aliases[alias] == version
    return alias, reason, registry


def test_a_first_version_that_loses_to_its_baseline_is_not_champion(monkeypatch):
    alias, reason, registry = gate(monkeypatch, BAD, GOOD)
    assert alias == CHALLENGER and CHAMPION not in registry.aliases
    assert "does not beat its baseline outside the noise" in reason
    assert "health-monitor promote --model fake_failure --version 1" in reason


def test_a_first_version_that_ties_or_has_no_labels_is_champion(monkeypatch):
    assert gate(monkeypatch, FAIR, FAIR)[:2] == (CHAMPION, "first version (tie)")
    alias, reason, _ = gate(monkeypatch, FAIR, FAIR, labelled=False, spec=anomaly_model())
    assert (alias, reason) == (CHAMPION, "first version (not evaluated)")


def test_a_version_that_cannot_be_compared_with_the_champion_stays_challenger(monkeypatch):
    alias, reason, registry = gate(monkeypatch, GOOD, BAD, champion=KeyError("input has no column(s) ['z']"))
    assert alias == CHALLENGER and registry.aliases[CHAMPION] == 1
    assert "champion v1 could not be scored on the same test rows" in reason
    assert "KeyError" in reason and "promote --model fake_failure --version 2" in reason


def test_without_labels_a_champion_that_cannot_score_still_keeps_its_place(monkeypatch):
    alias, reason, _ = gate(monkeypatch, FAIR, FAIR, champion=ValueError("boom"), labelled=False)
    assert alias == CHALLENGER and "could not be scored" in reason


def test_a_version_that_loses_to_its_baseline_stays_challenger_even_against_a_worse_champion(monkeypatch):
    alias, reason, registry = gate(monkeypatch, BAD, GOOD, champion=BAD)
    assert alias == CHALLENGER and registry.aliases[CHAMPION] == 1
    assert "does not beat its baseline" in reason and "champion v1 is better" not in reason


def test_a_champion_better_outside_the_noise_keeps_its_place(monkeypatch):
    alias, reason, _ = gate(monkeypatch, FAIR, BAD, champion=GOOD)
    assert alias == CHALLENGER
    assert "champion v1 is better on the same test rows outside the noise" in reason


@pytest.mark.parametrize("champion", [FAIR, BAD], ids=["tie", "worse"])
def test_a_version_not_worse_than_the_champion_outside_the_noise_replaces_it(monkeypatch, champion):
    alias, reason, registry = gate(monkeypatch, FAIR, BAD, champion=champion)
    assert alias == CHAMPION and registry.aliases[CHAMPION] == 2
    assert reason.startswith("not worse than v1 outside the noise (f1 difference")


def test_without_labels_the_newest_wins(monkeypatch):
    alias, reason, _ = gate(monkeypatch, FAIR, BAD, champion=GOOD, labelled=False, spec=anomaly_model())
    assert (alias, reason) == (CHAMPION, "no labels to compare with v1; newest wins")


def test_the_gate_uses_the_same_rule_as_the_verdict(monkeypatch):
    """The difference with the champion is the paired bootstrap of the two on the same rows."""
    _, reason, _ = gate(monkeypatch, FAIR, BAD, champion=GOOD)
    versus = paired_bootstrap("classification", Y, FAIR, GOOD, DAYS)
    assert f"[{versus.difference_ci95[0]:+.3f}, {versus.difference_ci95[1]:+.3f}]" in reason


# -- health-monitor promote on a real MLflow store (no Spark) --------------------------------------


@pytest.fixture
def registered(tmp_path):
    """A home whose registry holds three versions of fake_failure: v1 champion, v3 challenger."""
    settings = Settings(home=tmp_path / "home")
    registry = ModelRegistry.local(settings.mlflow_dir)
    client = registry.client()
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, source=(tmp_path / "model").as_uri())
    registry.set_alias(NAME, CHAMPION, 1)
    registry.set_alias(NAME, CHALLENGER, 3)
    return settings, registry


def test_promote_records_who_when_why_and_rolls_back(registered, capsys):
    settings, registry = registered
    home = ["--home", str(settings.home)]
    argv = [
        "promote",
        "--model",
        "fake_failure",
        "--version",
        "3",
        "--reason",
        "checked by hand",
        "--by",
        "ana",
    ]
    assert main([*argv, *home]) == 0
    assert "champion is now v3 (was v1)" in capsys.readouterr().out
    champion = registry.version_by_alias(NAME, CHAMPION)
    assert champion.version == 3 and registry.version_by_alias(NAME, CHALLENGER) is None
    assert champion.tags["promotion.reason"] == "checked by hand" and champion.tags["promotion.by"] == "ana"
    assert champion.tags["promotion.replaced_version"] == "1" and champion.tags["promotion.at"]
    # Rolling back is promoting the older version.
    assert (
        main(
            ["promote", "--model", "fake_failure", "--version", "1", "--reason", "rollback", "--json", *home]
        )
        == 0
    )
    done = capsys.readouterr().out
    assert '"replaced": 3' in done and registry.version_by_alias(NAME, CHAMPION).version == 1
    assert registry.version_by_alias(NAME, CHAMPION).tags["promotion.reason"] == "rollback"


@pytest.mark.parametrize(
    "model, version, reason, message",
    [
        (
            "fake_failure",
            "7",
            "why",
            "model health_monitor.ml.fake_failure has no version 7; its versions are 1, 2, 3",
        ),
        ("nope", "1", "why", "no registered model health_monitor.ml.nope"),
        ("fake_failure", "2", "  ", "--reason must say why"),
    ],
)
def test_promote_refuses_what_does_not_exist_in_one_line(registered, capsys, model, version, reason, message):
    settings, registry = registered
    argv = [
        "promote",
        "--model",
        model,
        "--version",
        version,
        "--reason",
        reason,
        "--home",
        str(settings.home),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert registry.version_by_alias(NAME, CHAMPION).version == 1


def test_promote_in_a_home_without_a_registry_says_so(tmp_path, capsys):
    argv = ["promote", "--model", "m", "--version", "1", "--reason", "r", "--home", str(tmp_path / "empty")]
    assert main(argv) == 2
    assert "no MLflow store" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()
