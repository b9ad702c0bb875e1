"""Small inline SVG charts for the HTML report: pure Python, no JavaScript, no network.

Every function returns one ``<svg>`` element as text. Labels and titles are escaped here, so a
caller may pass text read from the account. Colours are presentation attributes (``fill``,
``stroke``), never ``style`` attributes: the report's Content-Security-Policy allows only its
own stylesheet. Measured against matplotlib's SVG in docs/report.md: these charts are a few
kilobytes each and render in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 220
MARGIN = {"left": 56, "right": 28, "top": 46, "bottom": 36}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
FLAG = "#d62728"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def _num(value: float) -> str:
    """Coordinates with one decimal: enough on screen, fewer bytes."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def fmt_number(value: float, step: float | None = None) -> str:
    """A tick label: ``1.2k``, ``3.4M``, ``0.25``; with ``step`` (the ticks' spacing), as many
    decimals as the spacing needs (``0.9975``, ``0.998``)."""
    if step is not None and 0 < step < 1 and abs(value) < 1e4:
        decimals = min(len(f"{step:.10f}".rstrip("0").split(".")[1]), 8)
        return f"{value:.{decimals}f}"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:g}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


class _Frame:
    """The plot area and its scales: x is a day (or an index), y a number."""

    def __init__(self, x_low: float, x_high: float, y_low: float, y_high: float, width: int, height: int):
        self.width, self.height = width, height
        self.left, self.right = MARGIN["left"], width - MARGIN["right"]
        self.top, self.bottom = MARGIN["top"], height - MARGIN["bottom"]
        self.x_low, self.x_high = x_low, x_high if x_high > x_low else x_low + 1
        self.y_ticks = nice_ticks(y_low, y_high)
        self.y_low, self.y_high = min(self.y_ticks[0], y_low), max(self.y_ticks[-1], y_high)
        if self.y_high <= self.y_low:
            self.y_high = self.y_low + 1

    def x(self, value: float) -> float:
        return self.left + (value - self.x_low) / (self.x_high - self.x_low) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y_low) / (self.y_high - self.y_low) * (self.bottom - self.top)

    def y_axis(self) -> list[str]:
        out = []
        step = self.y_ticks[1] - self.y_ticks[0] if len(self.y_ticks) > 1 else None
        for tick in self.y_ticks:
            y = _num(self.y(tick))
            out.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y}" y2="{y}" stroke="#e5e5e5"/>'
                f'<text x="{self.left - 4}" y="{y}" text-anchor="end" dominant-baseline="middle">'
                f"{esc(fmt_number(tick, step))}</text>"
            )
        return out


def _open(width: int, height: int, title: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" font-size="11" '
        f'font-family="sans-serif"><title>{esc(title)}</title>'
        f'<text x="{MARGIN["left"]}" y="14" font-weight="bold">{esc(title)}</text>'
    )


def _legend(items: Sequence[tuple[str, str]], width: int) -> str:
    """A row of swatches under the title, left to right."""
    out, x = [], MARGIN["left"]
    for label, colour in items:
        out.append(
            f'<rect x="{x}" y="20" width="10" height="10" fill="{colour}"/><text x="{x + 13}" y="29">{esc(label)}</text>'
        )
        x += int(6.5 * len(label)) + 24
    return "".join(out)


def _ordinal(day: dt.date | dt.datetime) -> float:
    return float(day.toordinal()) if isinstance(day, dt.date) else float(day)


def _x_axis_days(frame: _Frame, days: Sequence[dt.date]) -> list[str]:
    if not days:
        return []
    first, last = min(days), max(days)
    span = max((last - first).days, 1)
    step = max(1, math.ceil(span / 6))
    out, day = [], first
    while day <= last:
        x = _num(frame.x(_ordinal(day)))
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{frame.bottom}" y2="{frame.bottom + 4}" stroke="#666"/>'
            f'<text x="{x}" y="{frame.bottom + 16}" text-anchor="middle">{day.isoformat()[5:]}</text>'
        )
        day += dt.timedelta(days=step)
    out.append(
        f'<text x="{frame.right}" y="{frame.height - 4}" text-anchor="end" fill="#666">'
        f"{first.isoformat()} to {last.isoformat()}</text>"
    )
    return out


@dataclass
class Line:
    """A series over days: ``values`` row for row with the chart's days (None: no value)."""

    label: str
    values: Sequence[float | None]
    colour: str | None = None
    dashed: bool = False


@dataclass
class DaySeries:
    """What :func:`day_chart` draws: lines, an optional band (``low``/``high``, e.g. P10-P90) around
    the first line, and flagged days marked on the first line."""

    days: Sequence[dt.date]
    lines: list[Line]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None
    band_label: str = "P10-P90"
    flagged: Sequence[bool] = field(default_factory=list)
    flag_label: str = "flagged"


def _finite(values: Sequence[float | None] | None) -> list[float]:
    return [float(v) for v in values or [] if v is not None and math.isfinite(float(v))]


def _path(points: list[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{_num(x)},{_num(y)}" for x, y in points)


def _runs(days: Sequence[dt.date], values: Sequence[float | None]) -> list[list[tuple[dt.date, float]]]:
    """Consecutive stretches with a value (a missing value breaks the line)."""
    runs: list[list[tuple[dt.date, float]]] = [[]]
    for day, value in zip(days, values, strict=True):
        if value is None or not math.isfinite(float(value)):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((day, float(value)))
    return [r for r in runs if r]


def day_chart(data: DaySeries, title: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    """Lines over days, a shaded interval band around the first one, flagged days as red dots."""
    days = list(data.days)
    numbers = _finite(data.low) + _finite(data.high)
    for line in data.lines:
        numbers += _finite(line.values)
    y_low, y_high = (min(numbers), max(numbers)) if numbers else (0.0, 1.0)
    if y_low > 0 and y_low < 0.5 * y_high:
        y_low = 0.0  # start at zero unless the values sit far from it
    xs = [_ordinal(d) for d in days] or [0.0, 1.0]
    frame = _Frame(min(xs), max(xs), y_low, y_high, width, height)
    out = [_open(width, height, title, "day-chart"), *frame.y_axis(), *_x_axis_days(frame, days)]
    legend: list[tuple[str, str]] = []
    if data.low is not None and data.high is not None:
        stretch = [
            (d, float(lo), float(hi))
            for d, lo, hi in zip(days, data.low, data.high, strict=True)
            if lo is not None and hi is not None and math.isfinite(float(lo)) and math.isfinite(float(hi))
        ]
        if stretch:
            upper = [(frame.x(_ordinal(d)), frame.y(hi)) for d, _, hi in stretch]
            lower = [(frame.x(_ordinal(d)), frame.y(lo)) for d, lo, _ in reversed(stretch)]
            out.append(f'<path class="band" d="{_path(upper + lower)}Z" fill="#1f77b4" fill-opacity="0.18"/>')
            legend.append((data.band_label, "#a6c8e6"))
    for i, line in enumerate(data.lines):
        colour = line.colour or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        for run in _runs(days, line.values):
            points = [(frame.x(_ordinal(d)), frame.y(v)) for d, v in run]
            if len(points) == 1:
                x, y = points[0]
                out.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2" fill="{colour}"/>')
            else:
                out.append(
                    f'<path class="line" d="{_path(points)}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>'
                )
        legend.append((line.label, colour))
    if data.lines and data.flagged:
        marks = []
        for day, value, flagged in zip(days, data.lines[0].values, data.flagged, strict=True):
            if flagged and value is not None and math.isfinite(float(value)):
                marks.append(
                    f'<circle class="flag" cx="{_num(frame.x(_ordinal(day)))}" cy="{_num(frame.y(float(value)))}" '
                    f'r="3.5" fill="{FLAG}"><title>{day.isoformat()}: {esc(data.flag_label)}</title></circle>'
                )
        if marks:
            out += marks
            legend.append((data.flag_label, FLAG))
    out.append(_legend(legend, width))
    if not days:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>')
    out.append("</svg>")
    return "".join(out)


def stacked_bars(
    categories: Sequence[str],
    stacks: dict[str, Sequence[float]],
    colours: dict[str, str],
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One vertical bar per category, stacked by the keys of ``stacks`` (in their order)."""
    totals = [sum(float(s[i]) for s in stacks.values()) for i in range(len(categories))]
    frame = _Frame(0, max(len(categories), 1), 0.0, max(totals, default=1.0) or 1.0, width, height)
    out = [_open(width, height, title, "bars"), *frame.y_axis()]
    slot = (frame.right - frame.left) / max(len(categories), 1)
    bar = min(48.0, slot * 0.7)
    for i, category in enumerate(categories):
        x = frame.left + slot * i + (slot - bar) / 2
        base = 0.0
        for name, values in stacks.items():
            value = float(values[i])
            if value <= 0:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            out.append(
                f'<rect x="{_num(x)}" y="{_num(top)}" width="{_num(bar)}" height="{_num(bottom - top)}" '
                f'fill="{colours.get(name, "#999")}"><title>{esc(category)}: {esc(fmt_number(value))} {esc(name)}'
                "</title></rect>"
            )
            base += value
        out.append(
            f'<text x="{_num(x + bar / 2)}" y="{frame.bottom + 14}" text-anchor="middle">{esc(category)}</text>'
            f'<text x="{_num(x + bar / 2)}" y="{_num(frame.y(base) - 3)}" text-anchor="middle">'
            f"{esc(fmt_number(base))}</text>"
        )
    out.append(_legend([(k, colours.get(k, "#999")) for k in stacks], width))
    out.append("</svg>")
    return "".join(out)


def day_bars(
    days: Sequence[dt.date], counts: Sequence[float], title: str, label: str, width: int = WIDTH
) -> str:
    """A count per day as thin bars (entities flagged per day)."""
    height = 150
    xs = [_ordinal(d) for d in days] or [0.0, 1.0]
    frame = _Frame(min(xs) - 0.5, max(xs) + 0.5, 0.0, max([5, *counts]), width, height)  # whole-number ticks
    out = [_open(width, height, title, "day-bars"), *frame.y_axis(), *_x_axis_days(frame, list(days))]
    bar = max(1.0, (frame.right - frame.left) / max(len(xs), 1) * 0.8)
    for day, count in zip(days, counts, strict=True):
        if count <= 0:
            continue
        x, top = frame.x(_ordinal(day)) - bar / 2, frame.y(count)
        out.append(
            f'<rect x="{_num(x)}" y="{_num(top)}" width="{_num(bar)}" height="{_num(frame.bottom - top)}" '
            f'fill="{FLAG}"><title>{day.isoformat()}: {esc(fmt_number(count))} {esc(label)}</title></rect>'
        )
    out.append(_legend([(label, FLAG)], width))
    out.append("</svg>")
    return "".join(out)


@dataclass
class IntervalRow:
    """One row of :func:`interval_chart`: a value with an optional interval."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    colour: str = PALETTE[0]
    note: str = ""


def interval_chart(rows: Sequence[IntervalRow], title: str, zero: float = 0.0, width: int = WIDTH) -> str:
    """A forest plot: one row per item, a dot with its interval, and a vertical line at ``zero``."""
    height = MARGIN["top"] + MARGIN["bottom"] + 18 * max(len(rows), 1)
    numbers = [zero] + [
        v for r in rows for v in (r.value, r.low, r.high) if v is not None and math.isfinite(v)
    ]
    left = 230
    frame = _Frame(min(numbers), max(numbers), 0, 1, width, height)
    frame.left = left
    out = [_open(width, height, title, "intervals")]
    for tick in nice_ticks(frame.x_low, frame.x_high):
        if not frame.x_low <= tick <= frame.x_high:
            continue
        x = _num(frame.x(tick))
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.bottom}" stroke="#eee"/>'
            f'<text x="{x}" y="{frame.bottom + 14}" text-anchor="middle">{esc(fmt_number(tick))}</text>'
        )
    x0 = _num(frame.x(zero))
    out.append(f'<line x1="{x0}" x2="{x0}" y1="{frame.top}" y2="{frame.bottom}" stroke="#333"/>')
    for i, row in enumerate(rows):
        y = frame.top + 18 * i + 9
        out.append(
            f'<text x="{left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">{esc(row.label)}</text>'
        )
        if row.low is not None and row.high is not None:
            out.append(
                f'<line x1="{_num(frame.x(row.low))}" x2="{_num(frame.x(row.high))}" y1="{y}" y2="{y}" '
                f'stroke="{row.colour}" stroke-width="2"/>'
            )
        if row.value is not None and math.isfinite(row.value):
            out.append(
                f'<circle cx="{_num(frame.x(row.value))}" cy="{y}" r="3.5" fill="{row.colour}">'
                f"<title>{esc(row.label)}: {esc(row.note)}</title></circle>"
            )
        else:
            out.append(f'<text x="{left + 4}" y="{y}" dominant-baseline="middle" fill="#999">n/a</text>')
    out.append("</svg>")
    return "".join(out)


def hbars(
    labels: Sequence[str],
    groups: dict[str, Sequence[float | None]],
    title: str,
    threshold: float | None = None,
    width: int = WIDTH,
) -> str:
    """Horizontal bars, one group of bars per label (e.g. PSI of predictions and of features),
    with a dashed vertical line at ``threshold``."""
    per = 7 * len(groups) + 6
    height = MARGIN["top"] + MARGIN["bottom"] + per * max(len(labels), 1)
    numbers = [v for values in groups.values() for v in values if v is not None and math.isfinite(v)]
    high = max(numbers + ([threshold * 1.2] if threshold else []), default=1.0) or 1.0
    left = 230
    frame = _Frame(0, high, 0, 1, width, height)
    frame.left = left
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(groups)}
    out = [_open(width, height, title, "hbars")]
    for tick in nice_ticks(0, high):
        if tick > frame.x_high:
            continue
        x = _num(frame.x(tick))
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.bottom}" stroke="#eee"/>'
            f'<text x="{x}" y="{frame.bottom + 14}" text-anchor="middle">{esc(fmt_number(tick))}</text>'
        )
    for i, label in enumerate(labels):
        y0 = frame.top + per * i
        out.append(
            f'<text x="{left - 6}" y="{y0 + per / 2}" text-anchor="end" dominant-baseline="middle">{esc(label)}</text>'
        )
        for j, (name, values) in enumerate(groups.items()):
            value = values[i]
            if value is None or not math.isfinite(value):
                continue
            w = max(frame.x(min(value, frame.x_high)) - left, 0.5)
            out.append(
                f'<rect x="{left}" y="{y0 + 3 + 7 * j}" width="{_num(w)}" height="6" fill="{colours[name]}">'
                f"<title>{esc(label)}: {esc(name)} {value:.3f}</title></rect>"
            )
    if threshold is not None:
        x = _num(frame.x(threshold))
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.bottom}" stroke="{FLAG}" stroke-dasharray="4 3"/>'
            f'<text x="{x}" y="{frame.bottom - 3}" dx="3" fill="{FLAG}">{threshold:g}</text>'
        )
    out.append(_legend(list(colours.items()), width))
    out.append("</svg>")
    return "".join(out)
