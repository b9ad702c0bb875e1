"""Identifiers in the formats of the real system tables, generated vectorised.

Random IDs that must be unique (cluster, warehouse, instance, job) come from a bijection of a
counter, so they look random but never collide; UUIDs and audit event ids are 122/128 random bits.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_B36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def strings_from_bytes(chars: np.ndarray) -> pa.StringArray:
    """An (n, width) uint8 matrix of ASCII codes as an Arrow string array, without Python objects."""
    n, width = chars.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32 if n * width < 2**31 else np.int64)
    data = np.ascontiguousarray(chars, dtype=np.uint8).tobytes()
    if offsets.dtype == np.int64:
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
        return arr.cast(pa.string())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _splitmix(x: np.ndarray) -> np.ndarray:
    """A bijection on uint64 (the splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _hex_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Low `width` nibbles (width <= 16) of uint64 values as hex character codes, most significant first."""
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (values[:, None] >> shifts[None, :]) & np.uint64(0xF)
    return _HEX[nibbles.astype(np.intp)]


def unique_hex(n: int, width: int, salt: int) -> pa.StringArray:
    """n distinct pseudo-random hex strings of `width` (<= 16) chars; `salt` separates families."""
    values = _splitmix(np.arange(n, dtype=np.uint64) + np.uint64(salt) * np.uint64(1 << 40))
    if width < 16:
        # Truncation could collide; fall back to a counter-mixed value within range.
        space = np.uint64(16**width)
        values = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % space
    return strings_from_bytes(_hex_digits(values, width))


def random_hex(
    rng: np.random.Generator, n: int, width: int, window: tuple[dt.date, int] | None = None
) -> pa.StringArray:
    """n random hex strings of `width` chars (32 for audit event ids: collisions are negligible).
    ``window``: as for :func:`uuids`."""
    nibbles = rng.integers(0, 16, size=(n, width), dtype=np.uint8)
    if window is not None:
        nibbles ^= _window_mask(window, width)
    return strings_from_bytes(_HEX[nibbles])


def _window_mask(window: tuple[dt.date, int], width: int) -> np.ndarray:
    first, days = window
    return np.random.default_rng([first.toordinal(), days]).integers(0, 16, size=width, dtype=np.uint8)


def uuids(rng: np.random.Generator, n: int, window: tuple[dt.date, int] | None = None) -> pa.StringArray:
    """n random version-4 UUID strings.

    Pass the generated ``window`` (first day, number of days) for the ids of events. Two windows of
    one seed draw the same numbers at shifted places (``simulate --advance`` regenerates a longer
    window), so without it an event of the new days could take the id of an old event; the
    window's own mask keeps the ids of one window distinct and those of two windows apart.
    """
    nib = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    if window is not None:
        nib ^= _window_mask(window, 32)
    nib[:, 12] = 4
    nib[:, 16] = 8 + (nib[:, 16] & 3)
    hexed = _HEX[nib]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src in (
        (slice(0, 8), slice(0, 8)),
        (slice(9, 13), slice(8, 12)),
        (slice(14, 18), slice(12, 16)),
        (slice(19, 23), slice(16, 20)),
        (slice(24, 36), slice(20, 32)),
    ):
        out[:, dst] = hexed[:, src]
    return strings_from_bytes(out)


def instance_ids(n: int, salt: int) -> pa.StringArray:
    """AWS-style instance ids: 'i-' + 17 hex chars, distinct."""
    digits = _hex_digits(_splitmix(np.arange(n, dtype=np.uint64) + np.uint64(salt) * np.uint64(1 << 40)), 16)
    prefix = np.tile(np.frombuffer(b"i-0", dtype=np.uint8), (n, 1))
    return strings_from_bytes(np.hstack([prefix, digits]))


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digit codes of non-negative int64 values, zero-padded to `width`."""
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = ord("0") + (v % 10)
        v //= 10
    return out


def cluster_ids(create_us: np.ndarray, counter_start: int) -> pa.StringArray:
    """Cluster ids 'MMDD-HHMMSS-xxxxxxxx' from the creation time; the suffix is distinct per counter."""
    n = len(create_us)
    t = create_us.astype("datetime64[us]")
    month = (t.astype("datetime64[M]").astype(np.int64) % 12) + 1
    day = (t.astype("datetime64[D]") - t.astype("datetime64[M]")).astype(np.int64) + 1
    secs = (t - t.astype("datetime64[D]")).astype("timedelta64[s]").astype(np.int64)
    hh, mm, ss = secs // 3600, (secs // 60) % 60, secs % 60
    space = 36**8
    code = (
        (np.arange(counter_start, counter_start + n, dtype=np.int64) + 7919) * 2654435761 + 97_531
    ) % space
    suffix = np.empty((n, 8), dtype=np.uint8)
    for i in range(7, -1, -1):
        suffix[:, i] = _B36[code % 36]
        code //= 36
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [
        _digits(month, 2),
        _digits(day, 2),
        dash,
        _digits(hh, 2),
        _digits(mm, 2),
        _digits(ss, 2),
        dash,
        suffix,
    ]
    return strings_from_bytes(np.hstack(parts))


def increasing_numeric(rng: np.random.Generator, n: int, base: int, max_step: int) -> np.ndarray:
    """n distinct, increasing int64 ids from `base` (run ids grow with time in Databricks)."""
    return base + np.cumsum(rng.integers(1, max_step, size=n, dtype=np.int64))


def unique_numeric(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """n distinct random int64 values in [low, high), in random order."""
    values = rng.integers(low, high, size=n, dtype=np.int64)
    while True:
        _, first = np.unique(values, return_index=True)
        if len(first) == n:
            return values
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        values[dup] = rng.integers(low, high, size=int(dup.sum()), dtype=np.int64)
