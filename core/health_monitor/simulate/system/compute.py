"""System tables of the compute family, written out from the simulated account's Gold tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def to_system(gold: dict[str, pa.Table], rng: np.random.Generator, config) -> dict[str, pa.Table]:
    return {}
