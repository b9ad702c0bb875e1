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
