"""Model cards are written from the spec and the champion's MLflow run."""

from __future__ import annotations

from health_monitor.models.cards import write_cards


def test_a_card_per_model_and_an_index(fake_trained_home, tmp_path):
    runtime, host = fake_trained_home
    written = write_cards(runtime, host, tmp_path / "cards", "the fake account")
    assert sorted(p.name for p in written) == ["fake_anomaly.md", "fake_failure.md", "index.md"]
    card = (tmp_path / "cards" / "fake_failure.md").read_text()
    assert "| Problem type | classification |" in card
    assert "`fake_features` by `entity` as of `as_of`: `rate`, `value`" in card
    assert "| Baseline | history |" in card
    assert "| **f1** |" in card and "Verdict:" in card
    index = (tmp_path / "cards" / "index.md").read_text()
    assert "[fake_failure](fake_failure.md) | reliability | classification | f1 |" in index


def test_a_detector_card_shows_the_incident_benchmark_per_type(fake_trained_home, tmp_path):
    import json

    runtime, host = fake_trained_home
    figures = {"window_recall": 0.5, "window_precision": 0.25, "false_alarms_per_1000": 12.5, "pa_f1": 0.4}
    bench = {
        "alarm_budget": 1.0,
        "folds": 4,
        "command": "benchmarks/bench_incidents.py evaluate --out X",
        "models": {
            "fake_anomaly": {
                "accounts": 3,
                "entity_days": 900,
                "candidates": {
                    "spec": {**figures, "per_type": {"spike": {"windows": 40, "found": 30, "recall": 0.75}}},
                    "baseline": {
                        **figures,
                        "per_type": {"spike": {"windows": 40, "found": 10, "recall": 0.25}},
                    },
                },
            }
        },
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    write_cards(runtime, host, tmp_path / "cards", "the fake account", incident_benchmark=path)
    card = (tmp_path / "cards" / "fake_anomaly.md").read_text()
    assert "## Incidents by type" in card and "3 simulated accounts" in card
    assert "| spike | 0.750 (30/40) | 0.250 (10/40) |" in card
    assert "| false alarms per 1,000 normal entity-days | 12.500 | 12.500 |" in card
    assert "## Incidents by type" not in (tmp_path / "cards" / "fake_failure.md").read_text()


def test_incident_benchmarks_of_several_files_merge_by_model(tmp_path):
    """One file per domain: each model keeps its own file's budget and command; a model in
    several files takes the last one's figures."""
    import json

    from health_monitor.models.cards import load_incident_benchmark

    def bench(budget: float, command: str, **models: int) -> dict:
        return {
            "alarm_budget": budget,
            "folds": 4,
            "command": command,
            "models": {name: {"accounts": accounts} for name, accounts in models.items()},
        }

    first, second = tmp_path / "all.json", tmp_path / "performance.json"
    first.write_text(json.dumps(bench(1.0, "evaluate --out A", fake_anomaly=6, other_detector=6)))
    second.write_text(json.dumps(bench(0.25, "evaluate --out B", fake_anomaly=11)))
    merged = load_incident_benchmark([first, second])
    assert merged is not None
    assert merged["models"]["fake_anomaly"] == {
        "alarm_budget": 0.25,
        "folds": 4,
        "command": "evaluate --out B",
        "accounts": 11,
    }
    assert merged["models"]["other_detector"]["alarm_budget"] == 1.0
    assert load_incident_benchmark(first) == load_incident_benchmark([first])
    assert load_incident_benchmark(None) is None


def test_a_detector_card_says_when_its_alarm_budget_is_a_ceiling(fake_trained_home):
    from health_monitor.models.cards import render_card
    from health_monitor.models.scorecards import scorecards

    runtime, host = fake_trained_home
    (card,) = scorecards(runtime, host, model="fake_anomaly")
    spec = host.models["fake_anomaly"].spec
    assert card["alarm_budget"] is None  # an IsolationForest has no budget
    assert "Alarm budget" not in render_card(spec, host, card, "the fake account")
    spent = render_card(
        spec, host, {**card, "alarm_budget": {"per_1000": 33.3, "reachable_per_1000": 30.1}}, "x"
    )
    assert "Alarm budget: 33.3 false alarms per 1,000 normal entity-days; 30.1 per 1,000 of its" in spent
    assert "ceiling" not in spent
    unspent = render_card(
        spec, host, {**card, "alarm_budget": {"per_1000": 33.3, "reachable_per_1000": 0.2}}, "x"
    )
    assert (
        "33.3 false alarms per 1,000 normal entity-days, a ceiling it cannot spend: only 0.2 per" in unspent
    )
