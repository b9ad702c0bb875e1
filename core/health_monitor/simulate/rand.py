"""Named random streams derived from the seed with fixed spawn keys.

Each generation step draws from its own stream, so adding draws to one step does not shift
the numbers of another, and nothing depends on Python's hash() or set order.
"""

from __future__ import annotations

import numpy as np

_STREAMS = {
    "entities": 1,
    "incidents": 2,
    "reliability": 3,
    "performance": 4,
    "cost": 5,
    "security": 6,
    "quality": 7,
    "ids": 8,
    "system-billing": 9,
    "system-lakeflow": 10,
    "system-compute": 11,
    "system-access": 12,
    "system-quality": 13,
    "memory": 14,
}


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of step `name` for `seed`."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAMS[name],)))
