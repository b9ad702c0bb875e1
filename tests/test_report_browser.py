"""The HTML report in a real browser: headless Chromium (the system's, driven by Playwright) opens
every page of the report of the session's trained home, as files and as ``serve`` answers them,
and finds no console error, no page error, no failed request, and every plot the page was built
with. A screenshot of each page is written to pytest's tmp folder.

Without Chromium the test is skipped, unless ``HEALTH_MONITOR_REQUIRE_BROWSER=1`` (CI sets it in
``.ci/run``): then it fails. ``scripts/bootstrap`` installs Debian's ``chromium`` when it can.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from health_monitor.config import Settings
from health_monitor.reports.findings import update_findings
from health_monitor.reports.html import build_report, write_report
from health_monitor.reports.html.browser import CHROMIUM_ARGS, chromium_path
from health_monitor.runtime import Runtime
from health_monitor.serving.app import ScoringService, make_server
from health_monitor.serving.scoring import Champions

REQUIRE = "HEALTH_MONITOR_REQUIRE_BROWSER"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser's path; skips (or fails, in CI) first, before the trained home is built."""
    executable = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        executable, missing = None, "playwright (pip)"
    else:
        missing = "Chromium (apt-get install chromium)"
    if executable is None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(
                f"{REQUIRE}=1 but {missing} is not installed: the report cannot be tested in a browser"
            )
        pytest.skip(f"{missing} is not installed; set {REQUIRE}=1 to make this a failure (CI does)")
    return executable


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report_home(trained_home, tmp_path_factory):
    """A copy of the trained home with its findings updated (the trained home stays as it was)."""
    runtime, host, _ = trained_home
    copy = tmp_path_factory.mktemp("report") / "home"
    shutil.copytree(runtime.settings.home, copy)
    copied = Runtime.embedded(Settings(home=copy))
    update_findings(copied, host, explain=False)
    return copied, host


def open_page(browser, url: str, screenshot) -> tuple[list[str], float, int]:
    """Load ``url``; returns (console errors, page errors and failed requests), seconds to the
    load event, and the number of plots on it."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    start = time.perf_counter()
    response = page.goto(url, wait_until="load")
    seconds = time.perf_counter() - start
    if response is not None and not response.ok:
        problems.append(f"status {response.status} for {url}")
    plots = page.locator("svg.chart").count()
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems, seconds, plots


def test_every_page_renders_in_chromium_with_its_plots_and_no_errors(browser, report_home, tmp_path):
    runtime, host = report_home
    report = build_report(runtime, host)
    domains = sorted({o.spec.domain for o in host.models.values()})
    assert set(report.pages) == {"index.html", "models.html", *(f"domain-{d}.html" for d in domains)}
    written = write_report(report, tmp_path / "report")
    timings = {}
    for path in written:
        problems, seconds, plots = open_page(browser, path.as_uri(), tmp_path / f"{path.stem}.png")
        timings[path.name] = seconds
        assert not problems, (path.name, problems)
        assert plots == report.plots[path.name] and plots >= 1, (path.name, plots, report.plots[path.name])
        assert (tmp_path / f"{path.stem}.png").stat().st_size > 10_000
    sizes = report.bytes
    print(f"\nreport built in {report.seconds:.2f}s, {sum(sizes.values()):,} bytes in {len(sizes)} pages")
    for name in report.pages:
        print(
            f"  {name:<28} {sizes[name]:>9,} bytes {report.plots[name]:>3} plots  loaded in {timings[name] * 1000:.0f} ms"
        )
    print(f"screenshots: {tmp_path}")


def test_the_served_report_renders_in_chromium_without_errors(browser, report_home):
    runtime, host = report_home
    httpd = make_server(ScoringService(Champions(runtime, host)), port=0).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for path in ("/report", "/report/models.html"):
            problems, _, plots = open_page(browser, url + path, None)
            assert not problems and plots >= 1, (path, problems, plots)
    finally:
        httpd.shutdown()
