"""Drift: how far today's features and predictions are from what the champion was trained on.

The measure is the population stability index (PSI) of one numeric column between a
*reference* sample (the rows of the ``REFERENCE_DAYS`` days before the champion's train/test
cutoff, ``split_cutoff`` of its training run: the end of the training window) and a *current*
sample (the latest ``RECENT_DAYS`` days of the table)::

    PSI = sum over bins of (current share - reference share) * ln(current share / reference share)

Bins are the reference's deciles (quintiles when either sample has fewer than
``FINE_BINS_FROM`` rows), plus one bin for missing values; an empty bin counts as a share of
``EPSILON``. Rule of thumb: under 0.1 stable, 0.1-0.25 moderate, over ``WARN_PSI`` (0.25) a
shift worth a look. Fewer than ``MIN_ROWS`` rows on either side gives no figure.

Cheap by construction: each table is read through the lakehouse's Arrow reader with only the
columns compared and a filter on its time column (both windows are a bounded number of days),
never collected through Spark; a reference larger than ``MAX_SAMPLE`` rows is sampled (fixed seed).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from health_monitor.registry import CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import Model, ProblemType

log = logging.getLogger(__name__)

WARN_PSI = 0.25
RECENT_DAYS = 7
REFERENCE_DAYS = 90  # the training window's latest days: what the champion learnt most recently
MIN_ROWS = 20
FINE_BINS_FROM = 200
MAX_SAMPLE = 50_000
EPSILON = 1e-4
SEED = 20261130

# The column that carries a model's output, per problem type.
OUTPUT_COLUMN = {
    ProblemType.REGRESSION: "prediction",
    ProblemType.CLASSIFICATION: "probability",
    ProblemType.MULTICLASS: "probability",
    ProblemType.ANOMALY_DETECTION: "anomaly_score",
}


def psi(reference: np.ndarray, current: np.ndarray) -> float | None:
    """The population stability index of ``current`` against ``reference`` (floats; NaN is the
    missing bin), or None with fewer than ``MIN_ROWS`` values on either side."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    if len(reference) < MIN_ROWS or len(current) < MIN_ROWS:
        return None
    present = reference[~np.isnan(reference)]
    bins = 10 if min(len(reference), len(current)) >= FINE_BINS_FROM else 5
    if len(present):
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
        if len(edges) == 0 or (len(edges) == 1 and present.min() == present.max()):
            edges = np.array([present[0], np.nextafter(present[0], np.inf)])  # below, at, above a constant
    else:
        edges = np.array([0.0])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
        counts = np.append(counts, missing.sum()).astype(float)
        return np.maximum(counts / len(values), EPSILON)

    r, c = shares(reference), shares(current)
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass
class Drift:
    """A model's drift: PSI of its output and of each numeric input feature (None: too few rows or
    not comparable), the two windows compared, and why nothing could be compared."""

    prediction_psi: float | None = None
    features: dict[str, float | None] = field(default_factory=dict)
    reference: str = ""  # "2026-07-03 to before 2026-10-01"
    current: str = ""  # "2026-10-25 to 2026-10-31"
    note: str = ""

    @property
    def worst_feature(self) -> tuple[str, float] | None:
        known = [(n, v) for n, v in self.features.items() if v is not None]
        return max(known, key=lambda kv: kv[1]) if known else None

    @property
    def warning(self) -> bool:
        worst = self.worst_feature
        return (self.prediction_psi or 0.0) > WARN_PSI or (worst is not None and worst[1] > WARN_PSI)


def time_bound(column_type: pa.DataType, when: dt.datetime) -> object:
    """``when`` in the type of a time column, for an Arrow filter."""
    if pa.types.is_date(column_type):
        return when.date()
    if pa.types.is_timestamp(column_type) and column_type.tz is not None:
        return when.replace(tzinfo=dt.timezone.utc)
    return when


def _windows(
    runtime: Runtime, table: str, time: str, cutoff: dt.datetime
) -> tuple[list, list, str, str] | None:
    """Arrow filters of the reference (``REFERENCE_DAYS`` before ``cutoff``) and current (latest
    ``RECENT_DAYS`` days) windows of ``table`` by ``time``, and their descriptions; None if the
    table is empty."""
    times = runtime.lakehouse.read_arrow(table, columns=[time])[time]
    latest = pc.max(times).as_py()
    if latest is None:
        return None
    latest = pd.Timestamp(latest).tz_localize(None).to_pydatetime()
    start = latest.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=RECENT_DAYS - 1)
    start = max(start, cutoff)  # the current window never reaches back into training
    kind = times.type
    first = cutoff - dt.timedelta(days=REFERENCE_DAYS)
    reference = [(time, ">=", time_bound(kind, first)), (time, "<", time_bound(kind, cutoff))]
    current = [(time, ">=", time_bound(kind, start))]
    return (
        reference,
        current,
        f"{first.date().isoformat()} to before {cutoff.date().isoformat()}",
        f"{start.date().isoformat()} to {latest.date().isoformat()}",
    )


def _numeric(frame: pa.Table, column: str) -> np.ndarray | None:
    values = frame[column]
    kind = values.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        if pa.types.is_decimal(kind):
            values = pc.cast(values, pa.float64())
        else:
            return None
    return values.to_numpy(zero_copy_only=False).astype(float)


def _sample(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values if len(values) <= MAX_SAMPLE else rng.choice(values, MAX_SAMPLE, replace=False)


def champion_drift(runtime: Runtime, spec: Model, inputs: bool = True) -> Drift:
    """The drift of ``spec``'s champion since it was trained: :func:`model_drift` with the
    train/test cutoff of the run that trained it (no figures, and a note, without a champion)."""
    champion = runtime.registry.version_by_alias(runtime.settings.registered_model(spec.name), CHAMPION)
    if champion is None or champion.run_id is None:
        return Drift(note="no champion")
    params = runtime.registry.client().get_run(champion.run_id).data.params
    return model_drift(runtime, spec, params.get("split_cutoff"), inputs)


def model_drift(runtime: Runtime, spec: Model, split_cutoff: str | None, inputs: bool = True) -> Drift:
    """PSI of the model's output (its prediction table) and, with ``inputs``, of its numeric input
    features (its feature tables with a timestamp key), between the training window and the
    latest days."""
    if not split_cutoff:
        return Drift(note="no training run with a train/test cutoff")
    try:
        cutoff = pd.Timestamp(split_cutoff).tz_localize(None).to_pydatetime()
    except (ValueError, TypeError):
        return Drift(note=f"unreadable train/test cutoff {split_cutoff!r}")
    rng = np.random.default_rng(SEED)
    drift = Drift()
    settings, lakehouse = runtime.settings, runtime.lakehouse
    predictions = settings.predictions(spec.name)
    output = OUTPUT_COLUMN[spec.problem_type]
    if lakehouse.exists(predictions):
        windows = _windows(runtime, predictions, spec.time_column, cutoff)
        if windows is not None:
            reference, current, drift.reference, drift.current = windows
            ref = lakehouse.read_arrow(predictions, columns=[output], filters=reference)
            cur = lakehouse.read_arrow(predictions, columns=[output], filters=current)
            a, b = _numeric(ref, output), _numeric(cur, output)
            if a is not None and b is not None:
                drift.prediction_psi = psi(_sample(a, rng), b)
    wanted = set(spec.input_names) if inputs else set()
    for lookup in spec.lookups:
        names = [f for f, o in zip(lookup.features, lookup.output_names, strict=True) if o in wanted]
        table = settings.feature_table(lookup.table)
        if not names or not lakehouse.exists(table):  # (without inputs, no table is opened)
            continue
        info = lakehouse.describe(table)
        if info.timestamp_key is None:
            for name in names:
                drift.features.setdefault(name, None)
            continue
        windows = _windows(runtime, table, info.timestamp_key, cutoff)
        if windows is None:
            continue
        reference, current, ref_text, cur_text = windows
        drift.reference, drift.current = drift.reference or ref_text, drift.current or cur_text
        ref = lakehouse.read_arrow(table, columns=names, filters=reference)
        cur = lakehouse.read_arrow(table, columns=names, filters=current)
        for name in names:
            a, b = _numeric(ref, name), _numeric(cur, name)
            drift.features[name] = None if a is None or b is None else psi(_sample(a, rng), b)
    if drift.prediction_psi is None and not any(v is not None for v in drift.features.values()):
        drift.note = f"too few rows to compare (at least {MIN_ROWS} on each side)"
    return drift
