"""Model notes carry reasoning, never measured figures: the figures of a model card come from the
registry (the champion's run) when the card is generated, so a number written in source goes stale
at the next training. This loads every installed model, whatever the plugins."""

from __future__ import annotations

import re

from health_monitor.host import load_host

# What a measured figure looks like in prose.
MEASURED = re.compile(
    r"\d+\.\d+"  # a metric or a rate: F1 0.286, MAPE 0.078, 9.38 workers
    r"|~?\d+(?:\.\d+)?\s?%"  # a measured share: ~70% of the bill, 0.3% of job-days
    r"|\b\d{1,3}(?:,\d{3})+\b"  # a row count: 17,363 job-days
    r"|\b20\d\d-\d\d-\d\d\b"  # the day a test split started: test from 2025-05-17
    r"|\b\d+ (?:of|test|rows|positive|breaking|job|user|table|warehouse)\b"  # 19 of 567, 228 rows
)

# Design constants: settings and goals a note may name, as written in the note.
ALLOWED = (
    "MAPE <= 15%",  # the domain's forecasting goal, a target and not a measurement
    "contamination 0.02",  # IsolationForest's contamination parameter, set in advance
    "80% +/- 5 coverage goal",  # the target coverage of a P10-P90 interval
)


def measured_figures(text: str) -> list[str]:
    for allowed in ALLOWED:
        text = text.replace(allowed, "")
    return MEASURED.findall(text)


def test_no_model_note_quotes_a_measured_figure():
    host = load_host()
    assert host.models, "no model installed: the check would pass vacuously"
    quoted = {
        name: found
        for name, owned in host.models.items()
        if (found := measured_figures(owned.spec.notes or ""))
    }
    assert not quoted, f"notes quoting measured figures (move them to the registry/card): {quoted}"


def test_the_pattern_catches_measured_figures_and_lets_design_constants_through():
    assert measured_figures("F1 0.286 vs 0.000")
    assert measured_figures("on the usage day itself, ~70% of the bill")
    assert measured_figures("test from 2025-05-17, 228 rows")
    assert measured_figures("few positives (19 of 567 warehouse-days)")
    assert not measured_figures("Misses the MAPE <= 15% goal; contamination 0.02 is set in advance")
    assert not measured_figures("at most 3x the training failure rate; P10-P90 interval; 7 days")
