"""Measure the HTML report: build time, bytes per page, and render time per page in headless Chromium.

python benchmarks/bench_report.py --home HOME [--runs 3] [--screenshot docs/img/report-overview.png] [--json]

HOME is a home the main job has run on (``health-monitor demo --home HOME``); its stored findings
are reported as they are (run ``health-monitor findings --home HOME`` first to update them). The
report is built in this process (the figure excludes the interpreter's start and imports), written
to a temporary folder, and each page is loaded ``--runs`` times in the system's Chromium driven by
Playwright (to the ``load`` event, a fresh tab each time; the median is reported). For comparison,
the same kind of chart (a 90-day line with a P10-P90 band and flagged days) is drawn with
matplotlib's SVG backend and with the report's own helpers, and both are timed and sized.
``--screenshot`` writes a PNG of the overview page (1100 px wide) for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def chart_comparison() -> dict:
    """One 90-day chart with a band and flagged days: bytes and milliseconds, ours vs matplotlib."""
    import numpy as np

    from health_monitor.reports.html import svg

    rng = np.random.default_rng(0)
    days = [dt.date(2026, 8, 1) + dt.timedelta(days=i) for i in range(90)]
    values = list(np.cumsum(rng.normal(100, 20, 90)))
    low, high = [v * 0.9 for v in values], [v * 1.1 for v in values]
    flagged = [bool(i % 17 == 0) for i in range(90)]
    start = time.perf_counter()
    ours = svg.day_chart(
        svg.DaySeries(days, [svg.Line("prediction", values)], low, high, flagged=flagged), "chart"
    )
    ours_ms = (time.perf_counter() - start) * 1000
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    def draw() -> str:
        fig, ax = plt.subplots(figsize=(6.4, 2.2))
        ax.fill_between(days, low, high, alpha=0.2)
        ax.plot(days, values)
        marked = [(d, v) for d, v, f in zip(days, values, flagged, strict=True) if f]
        ax.scatter([d for d, _ in marked], [v for _, v in marked], c="red")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
        plt.close(fig)
        return buffer.getvalue()

    draw()  # the first figure pays matplotlib's set-up; time the second
    start = time.perf_counter()
    drawn = draw()
    mpl_ms = (time.perf_counter() - start) * 1000
    return {
        "inline_svg_bytes": len(ours.encode()),
        "inline_svg_ms": round(ours_ms, 2),
        "matplotlib_svg_bytes": len(drawn.encode()),
        "matplotlib_svg_ms": round(mpl_ms, 1),
    }


def _shrink(path: Path) -> None:
    """A README image: 256 colours are plenty for flat charts and text (a third of the bytes)."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from health_monitor.config import Settings
    from health_monitor.host import load_host
    from health_monitor.reports.html import build_report, write_report
    from health_monitor.reports.html.browser import CHROMIUM_ARGS, chromium_path
    from health_monitor.runtime import Runtime

    runtime, host = Runtime.embedded(Settings(home=args.home)), load_host()
    report = build_report(runtime, host)
    out = Path(tempfile.mkdtemp(prefix="hm-report-")) / "report"
    written = write_report(report, out)
    browser_path = chromium_path()
    render: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        for path in written:
            times = []
            for _ in range(args.runs):
                page = browser.new_page(viewport={"width": 1100, "height": 1300})
                start = time.perf_counter()
                page.goto(path.as_uri(), wait_until="load")
                times.append(time.perf_counter() - start)
                if args.screenshot is not None and path.name == "index.html":
                    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshot))
                    _shrink(args.screenshot)
                page.close()
            render[path.name] = statistics.median(times)
        browser.close()
    shutil.rmtree(out.parent, ignore_errors=True)
    sizes = report.bytes
    result = {
        "home": str(args.home),
        "build_seconds": round(report.seconds, 2),
        "total_bytes": sum(sizes.values()),
        "pages": {
            name: {
                "bytes": sizes[name],
                "plots": report.plots[name],
                "render_ms": round(render[name] * 1000, 1),
            }
            for name in report.pages
        },
        "chart": chart_comparison(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"report of {args.home}: built in {result['build_seconds']}s, {result['total_bytes']:,} bytes")
    for name, page in result["pages"].items():
        print(
            f"  {name:<28} {page['bytes']:>9,} bytes {page['plots']:>3} plots  {page['render_ms']:>7.1f} ms to load"
        )
    chart = result["chart"]
    print(
        f"one 90-day chart: inline SVG {chart['inline_svg_bytes']:,} bytes in {chart['inline_svg_ms']} ms; "
        f"matplotlib SVG {chart['matplotlib_svg_bytes']:,} bytes in {chart['matplotlib_svg_ms']} ms"
    )
    if args.screenshot is not None:
        print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
