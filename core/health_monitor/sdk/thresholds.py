"""Decision thresholds tuned on training data, for baselines and plugin estimators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def best_f1_threshold(
    y: ArrayLike,
    score: np.ndarray,
    quantiles: Sequence[float] | np.ndarray,
    default: float | None = 0.5,
    max_flagged: float | None = None,
) -> float | None:
    """The threshold ``t`` among ``score``'s ``quantiles`` whose rule ``score >= t`` has the best
    F1 on labels ``y`` (the lowest such on ties), skipping thresholds that flag a share of rows
    above ``max_flagged``; ``default`` when none qualifies. Baselines and plugin estimators tune
    their decision thresholds with it."""
    y = np.asarray(y).astype(int)
    best, best_f1 = default, -1.0
    for t in np.unique(np.quantile(score, quantiles)):
        pred = score >= t
        if max_flagged is not None and pred.mean() > max_flagged:
            continue
        tp = np.sum(pred & (y == 1))
        f1 = 2 * tp / max(pred.sum() + (y == 1).sum(), 1)
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best
