"""Helpers for finding rules (``FindingRule`` functions): vectorised text and flags over the day's
prediction rows. Each takes and returns a pandas Series, row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd


def numeric(rows: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats (missing column or unparsable values: NaN)."""
    if column not in rows.columns:
        return pd.Series(np.nan, index=rows.index)
    return pd.to_numeric(rows[column], errors="coerce").astype("float64")


def is_set(rows: pd.DataFrame, column: str) -> pd.Series:
    """True where a 0/1 or boolean flag column is set (``is_anomaly``, ``prediction``)."""
    return numeric(rows, column).fillna(0) >= 1


def number(values: pd.Series, digits: int = 0) -> pd.Series:
    """``1,234`` (or ``1,234.5`` with ``digits``); ``n/a`` for missing values."""
    values = pd.to_numeric(values, errors="coerce")
    return values.map(lambda v: "n/a" if pd.isna(v) else f"{v:,.{digits}f}")


def money(values: pd.Series) -> pd.Series:
    """``$1,234``; ``n/a`` for missing values."""
    return "$" + number(values)


def share(values: pd.Series) -> pd.Series:
    """``12%`` from a ratio 0.12."""
    values = pd.to_numeric(values, errors="coerce")
    return values.map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:.0f}%")


def times(values: pd.Series) -> pd.Series:
    """``3.2x`` from a ratio."""
    values = pd.to_numeric(values, errors="coerce")
    return values.map(lambda v: "n/a" if pd.isna(v) else f"{v:.1f}x")


def text(values: pd.Series) -> pd.Series:
    """A column as text (missing: ``n/a``)."""
    return values.astype(object).where(values.notna(), "n/a").astype(str)


def choose(conditions: list[pd.Series], choices: list[str], default: str) -> pd.Series:
    """Per row, the choice of the first true condition (``numpy.select``) as a Series."""
    index = conditions[0].index if conditions else None
    picked = np.select([np.asarray(c, dtype=bool) for c in conditions], choices, default)
    return pd.Series(picked.astype(object), index=index)
