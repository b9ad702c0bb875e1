"""A self-contained HTML report of a home: ``health-monitor report --out DIR`` writes it, ``serve``
answers it at ``/report``.

Pages (docs/report.md says what each shows): ``index.html`` (findings by severity and domain,
health over time, top risks), ``domain-<domain>.html`` per domain of the loaded plugins (each
model's findings with their reasons, the series behind them with flagged days and P10-P90
intervals), ``models.html`` (each model's metric next to its baseline, when it was trained, and
drift since training by population stability index).

Plots are inline SVG drawn in Python (:mod:`~health_monitor.reports.html.svg`): no JavaScript, no
CDN, no network; a Content-Security-Policy in every page forbids loads. The report only reads the
home: findings are what ``findings``/``run``/``demo`` last stored.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from health_monitor.errors import ConfigError
from health_monitor.host import Host
from health_monitor.reports.html.collect import ReportData, collect
from health_monitor.reports.html.pages import CSP, render
from health_monitor.runtime import Runtime

MARKER = ".health-monitor-report"  # in a folder the report wrote: it may be replaced


@dataclass
class Report:
    """The pages (file name -> HTML), the plots on each, what they were built from, and how long
    collecting and rendering took (seconds)."""

    pages: dict[str, str]
    plots: dict[str, int]
    data: ReportData
    seconds: float

    @property
    def bytes(self) -> dict[str, int]:
        return {name: len(html.encode()) for name, html in self.pages.items()}


def build_report(
    runtime: Runtime,
    host: Host,
    domain: str | None = None,
    link_base: str = "",
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Read the home and render every page in memory. ``link_base`` prefixes links between
    pages (``""`` for files side by side, ``"/report/"`` when served)."""
    start = time.perf_counter()
    data = collect(runtime, host, domain=domain, progress=progress)
    pages = render(data, link_base)
    return Report(
        pages={n: p.render() for n, p in pages.items()},
        plots={n: p.plots for n, p in pages.items()},
        data=data,
        seconds=time.perf_counter() - start,
    )


def check_out(out: Path) -> Path:
    """``--out``: a new folder, an empty one, or one this command wrote before (replaced whole).
    Anything else (a file, a folder with other files) is refused before any work is done."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(
            f"--out {out}: holds files that are not a health-monitor report; choose a new or empty "
            "folder (a folder the report wrote before is replaced)"
        )
    parent = out.resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: cannot write in {parent}")
    return out


def write_report(report: Report, out: Path) -> list[Path]:
    """Write every page into a temporary folder next to ``out``, then rename it into place: a
    failure leaves ``out`` as it was (no half-written report)."""
    out = check_out(out)
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        for name, html in report.pages.items():
            (staging / name).write_text(html, encoding="utf-8")
        (staging / MARKER).write_text("written by `health-monitor report`; replaced whole by the next one\n")
        os.chmod(staging, 0o755)
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            try:
                staging.rename(out)
            except BaseException:
                old.rename(out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out / name for name in report.pages]


REPORT_MAX_AGE = 300.0  # seconds a served report is reused before it is built again
PAGE_HEADERS = {  # what a served page goes with: not kept, not framed, not sniffed, no scripts
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_PATH = re.compile(r"^/report(?:/(?P<page>[a-z0-9][a-z0-9_-]{0,100}\.html)?)?$")


class ServedReport:
    """The report as ``serve`` answers it under ``/report/``: built on the first request, reused
    for ``max_age`` seconds, then built again (one build at a time; requests wait for it).
    Page names are the built report's own: anything else is unknown."""

    def __init__(self, runtime: Runtime, host: Host, max_age: float = REPORT_MAX_AGE):
        import threading

        self.runtime, self.host, self.max_age = runtime, host, max_age
        self._lock = threading.Lock()
        self._report: Report | None = None
        self._built = 0.0

    def at(self, path: str) -> str | None:
        """The HTML served at ``path`` (``/report`` is ``index.html``), or None if no such page."""
        found = _PATH.match(path)
        return self.page(found["page"] or "index.html") if found else None

    def page(self, name: str) -> str | None:
        """The HTML of page ``name`` (``index.html``, ``models.html``...), or None if no such page."""
        with self._lock:
            if self._report is None or time.monotonic() - self._built > self.max_age:
                self._report = build_report(self.runtime, self.host, link_base="/report/")
                self._built = time.monotonic()
            return self._report.pages.get(name)


__all__ = [
    "CSP",
    "MARKER",
    "PAGE_HEADERS",
    "Report",
    "ServedReport",
    "build_report",
    "check_out",
    "write_report",
]
