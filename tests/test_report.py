"""The HTML report without a browser: hostile text is escaped, a bad ``--out`` is refused before
any work, a report is replaced whole or not at all, drift's PSI, and ``serve`` answering
``/report`` with only the report's own pages. Prediction tables are written by hand (Arrow, no
Spark, no training); the browser test is tests/test_report_browser.py."""

from __future__ import annotations

import datetime as dt
import http.client
import re

import numpy as np
import pyarrow as pa
import pytest

from health_monitor.cli import main
from health_monitor.config import Settings
from health_monitor.models.drift import psi
from health_monitor.reports.findings import update_findings
from health_monitor.reports.html import MARKER, build_report, write_report
from health_monitor.runtime import Runtime
from health_monitor.serving.app import ScoringService, make_server
from health_monitor.serving.scoring import Champions
from tests.fakes import SIGNAL_MODELS, FindingsPlugin, write_signal_predictions

DAY = dt.date(2026, 3, 10)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory):
    """A home whose findings are about a user whose name is markup: ``(runtime, host)``. Shared
    by the module (its MLflow store costs seconds to create): treat it as read-only."""
    from health_monitor.host import load_host
    from health_monitor.plugins import make_plugin_manager

    runtime = Runtime.embedded(Settings(home=tmp_path_factory.mktemp("hostile") / "home"))
    host = load_host(make_plugin_manager(load_entry_points=False, plugins={"security": FindingsPlugin()}))
    for model in SIGNAL_MODELS:
        write_signal_predictions(runtime, model, DAY, {"u1": 0.99})
    table = runtime.settings.predictions("fake_threat")
    frame = runtime.lakehouse.read_arrow(table).to_pandas()
    frame["entity"] = frame["entity"].replace("u1", HOSTILE)
    runtime.lakehouse.write(table, pa.Table.from_pandas(frame, preserve_index=False))
    assert update_findings(runtime, host, explain=False).findings
    return runtime, host


def test_hostile_text_from_the_account_is_escaped_on_every_page(hostile_home):
    runtime, host = hostile_home
    report = build_report(runtime, host)
    assert set(report.pages) == {"index.html", "domain-security.html", "models.html"}
    for name, html in report.pages.items():
        assert "<script" not in html.lower(), name  # no markup from the data, and no scripts of ours
        assert "<img" not in html.lower(), name
        assert "onerror=alert" not in html or "&lt;img src=x onerror=alert(1)&gt;" in html, name
    index = report.pages["index.html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in index  # shown, as text
    assert (
        report.pages["domain-security.html"].count('<svg xmlns="http://www.w3.org/2000/svg"')
        == report.plots["domain-security.html"]
    )
    for html in report.pages.values():
        assert 'http-equiv="Content-Security-Policy" content="default-src \'none\';' in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing loaded from anywhere


def test_a_bad_out_is_refused_before_any_work_and_writes_nothing(hostile_home, tmp_path, capsys):
    runtime, _ = hostile_home
    home = str(runtime.settings.home)
    a_file = tmp_path / "report.html"
    a_file.write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["report", "--home", home, "--out", str(a_file)]) == 2
    assert f"--out {a_file}: is a file, not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == before
    someone_elses = tmp_path / "notes"
    someone_elses.mkdir()
    (someone_elses / "todo.txt").write_text("keep me")
    assert main(["report", "--home", home, "--out", str(someone_elses)]) == 2
    assert "holds files that are not a health-monitor report" in capsys.readouterr().err
    assert [p.name for p in someone_elses.iterdir()] == ["todo.txt"]
    assert main(["report", "--home", home, "--out", str(tmp_path / "no" / "such" / "out")]) == 2
    assert "its parent folder" in capsys.readouterr().err


def test_the_command_writes_the_pages_and_replaces_its_own_report(
    hostile_home, tmp_path, monkeypatch, capsys
):
    import health_monitor.cli as cli

    runtime, host = hostile_home
    monkeypatch.setattr(cli, "_host", lambda: host)
    out = tmp_path / "report"
    args = ["report", "--home", str(runtime.settings.home), "--out", str(out), "--no-explain"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 pages" in printed and "index.html" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, "index.html", "domain-security.html", "models.html"]
    )
    assert main(args) == 0  # its own report is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging left behind


def test_a_failed_write_leaves_the_previous_report(hostile_home, tmp_path, monkeypatch):
    runtime, host = hostile_home
    report = build_report(runtime, host)
    out = tmp_path / "report"
    write_report(report, out)
    before = (out / "models.html").read_text()
    report.pages["models.html"] = "changed"
    original = type(out).write_text
    calls = []

    def failing(self, data, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(type(out), "write_text", failing)
    with pytest.raises(OSError):
        write_report(report, out)
    monkeypatch.undo()
    assert (out / "models.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    assert psi(reference, rng.normal(0, 1, 1000)) < 0.05
    assert psi(reference, rng.normal(1.5, 1, 1000)) > 0.25
    assert psi(reference, reference[:10]) is None  # too few rows
    constant = np.zeros(100)
    assert psi(constant, constant) == pytest.approx(0.0) and psi(constant, constant + 1) > 0.25
    with_missing = reference.copy()
    with_missing[:2500] = np.nan
    assert psi(reference, with_missing) > 0.25  # half missing is a shift


def _get(port: int, path: str, host: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_serve_answers_the_report_and_only_its_pages(hostile_home):
    runtime, host = hostile_home
    httpd = make_server(ScoringService(Champions(runtime, host)), port=0).start()
    port = httpd.server_address[1]
    try:
        for path in (
            "/report",
            "/report/",
            "/report/index.html",
            "/report/models.html",
            "/report/domain-security.html",
        ):
            status, headers, body = _get(port, path)
            assert status == 200, (path, body[:300])
            assert headers["content-type"] == "text/html; charset=utf-8"
            assert "default-src 'none'" in headers["content-security-policy"]
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert b'href="/report/models.html"' in body  # links work below /report/
        for path in (
            "/report/nope.html",
            "/report/../serve.py",
            "/report/%2e%2e/x",
            "/report/index.htm",
            "/reports",
        ):
            status, headers, body = _get(port, path)
            assert status == 404 and headers["content-type"] == "application/json", path
        assert _get(port, "/report", host="evil.example")[0] == 403  # the Host check still applies
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/report", body=b"{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 405 and response.getheader("Allow") == "GET"
        conn.close()
    finally:
        httpd.shutdown()


def test_drift_compares_the_latest_days_with_the_last_days_of_the_training_window(tmp_path):
    """Both windows are a bounded number of days: REFERENCE_DAYS before the cutoff (not the whole
    history before it) and the latest RECENT_DAYS, read with filters."""
    import datetime as dt
    from types import SimpleNamespace

    import pyarrow as pa

    from health_monitor.lakehouse.local import LocalLakehouse
    from health_monitor.models.drift import RECENT_DAYS, REFERENCE_DAYS, _windows

    lakehouse = LocalLakehouse(tmp_path)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(335)]  # to 2026-12-01
    lakehouse.write(
        "hm.ml.x_predictions", pa.table({"day": pa.array(days, pa.date32()), "v": range(len(days))})
    )
    cutoff = dt.datetime(2026, 10, 1)
    reference, current, said_reference, said_current = _windows(
        SimpleNamespace(lakehouse=lakehouse), "hm.ml.x_predictions", "day", cutoff
    )
    before = lakehouse.read_arrow("hm.ml.x_predictions", filters=reference)["day"].to_pylist()
    assert len(before) == REFERENCE_DAYS and max(before) == dt.date(2026, 9, 30)
    assert said_reference == f"{min(before).isoformat()} to before 2026-10-01"
    latest = lakehouse.read_arrow("hm.ml.x_predictions", filters=current)["day"].to_pylist()
    assert sorted(latest) == days[-RECENT_DAYS:] and said_current == "2026-11-25 to 2026-12-01"
