"""Alerts against a local webhook receiver (``http.server``) and a local SMTP server
(``socketserver``), both started by the tests: once per finding across runs, retries, the record."""

from __future__ import annotations

import datetime as dt
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from health_monitor.config import Settings
from health_monitor.errors import ConfigError
from health_monitor.reports.alerts import load_config, read_sent, send_alerts, slack_payload
from health_monitor.reports.findings import OPEN, RESOLVED, read_findings, update_findings
from health_monitor.runtime import Runtime
from tests.fakes import SIGNAL_MODELS, FindingsPlugin, write_signal_predictions

DAY = dt.date(2026, 3, 10)


class Receiver(ThreadingHTTPServer):
    """A webhook that answers 500 to its first ``fail_first`` posts, then 200; keeps the bodies."""

    def __init__(self, fail_first: int = 0):
        self.fail_first, self.posts, self.bodies = fail_first, 0, []
        super().__init__(("127.0.0.1", 0), _Hook)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1
        failing = self.server.posts <= self.server.fail_first
        if not failing:
            self.server.bodies.append(json.loads(body))
        self.send_response(500 if failing else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


class SMTPServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT; keeps each message's text."""

    allow_reuse_address = True

    def __init__(self):
        self.messages: list[str] = []
        super().__init__(("127.0.0.1", 0), _SMTPSession)


class _SMTPSession(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self):
        self.reply("220 test SMTP")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb == "DATA":
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk)
                self.server.messages.append("".join(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            elif verb in ("EHLO", "HELO"):
                self.reply("250 test")
            else:
                self.reply("250 ok")


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def receiver():
    server = _serve(Receiver(fail_first=1))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp():
    server = _serve(SMTPServer())
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path, make_host):
    """Findings of one day: user u1 (critical, three signals) and u2 (high, one signal)."""
    runtime = Runtime.embedded(Settings(home=tmp_path / "home"))
    host = make_host({"security": FindingsPlugin()})
    for model in SIGNAL_MODELS:
        write_signal_predictions(
            runtime, model, DAY, {"u1": 0.99, "u2": 0.98} if model == "fake_threat" else {"u1": 0.99}
        )
    update_findings(runtime, host, explain=False)
    return runtime, host


def _config(tmp_path, receiver, smtp, min_severity="high"):
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"min_severity: {min_severity}\n"
        "retries: 3\n"
        "backoff_seconds: 0.01\n"
        "channels:\n"
        f"  - {{name: ops-hook, type: webhook, url: '{receiver.url}'}}\n"
        f"  - {{name: oncall, type: email, host: 127.0.0.1, port: {smtp.server_address[1]},"
        " from: hm@example.com, to: [oncall@example.com]}\n"
    )
    return path


def test_each_finding_is_sent_once_across_runs_and_a_failing_receiver_gets_it_on_retry(
    home, tmp_path, receiver, smtp
):
    runtime, host = home
    config = load_config(_config(tmp_path, receiver, smtp))
    first = send_alerts(runtime, config)
    assert first.exit_status == 3 and not first.failed
    assert sorted(first.sent) == sorted(
        (fid, channel) for fid in {f for f, _ in first.sent} for channel in ("ops-hook", "oncall")
    )
    assert len(first.sent) == 4  # two findings x two channels
    # The webhook answered 500 once: the same message went through on the second try.
    assert receiver.posts == 3 and len(receiver.bodies) == 2
    assert receiver.bodies[0]["text"].startswith("CRITICAL user u1: 3 signals")
    assert {b["type"] for b in receiver.bodies[0]["blocks"]} >= {"header", "section"}
    assert len(smtp.messages) == 2 and "Subject: [health-monitor] CRITICAL user u1" in smtp.messages[0]
    sent = read_sent(runtime)
    hook = sent[sent["channel"] == "ops-hook"].sort_values("attempts")
    assert list(hook["status"]) == ["sent", "sent"] and sorted(hook["attempts"]) == [1, 2]
    # A second daily run on the same data: findings unchanged, nothing new to send.
    assert not update_findings(runtime, host, explain=False).written
    second = send_alerts(runtime, config)
    assert second.exit_status == 0 and not second.sent
    assert receiver.posts == 3 and len(smtp.messages) == 2 and len(read_sent(runtime)) == 4


def test_only_open_findings_are_read_and_announced(home, tmp_path, receiver, smtp):
    runtime, host = home
    for model in SIGNAL_MODELS:  # the next day flags u1 only: u2's finding resolves
        write_signal_predictions(runtime, model, DAY + dt.timedelta(days=1), {"u1": 0.99})
    update_findings(runtime, host, explain=False)
    assert sorted(read_findings(runtime)["state"]) == [OPEN, RESOLVED]
    assert list(read_findings(runtime, state=OPEN)["entity_id"]) == ["u1"]
    planned = send_alerts(runtime, load_config(_config(tmp_path, receiver, smtp)), dry_run=True).planned
    assert {f["entity_id"] for f, _ in planned} == {"u1"}


def test_a_channel_that_keeps_failing_exits_1_and_is_retried_next_run(home, tmp_path, smtp):
    runtime, _ = home
    broken = _serve(Receiver(fail_first=3))  # fails every try of the first finding
    try:
        config = load_config(_config(tmp_path, broken, smtp, min_severity="critical"))
        first = send_alerts(runtime, config)
        assert first.exit_status == 1 and [c for _, c, _ in first.failed] == ["ops-hook"]
        assert "HTTP 500" in first.failure_lines()[0]
        assert first.sent and all(c == "oncall" for _, c in first.sent)  # the other channel went on
        failed = read_sent(runtime).query("status == 'failed'")
        assert list(failed["attempts"]) == [3]
        second = send_alerts(runtime, config)  # the receiver is back
        assert second.exit_status == 3 and second.sent == [(first.failed[0][0], "ops-hook")]
    finally:
        broken.shutdown()
        broken.server_close()


def test_dry_run_prints_and_records_nothing(home, tmp_path, receiver, smtp, capsys):
    import health_monitor.cli as cli

    runtime, _ = home
    path = _config(tmp_path, receiver, smtp)
    assert cli.main(["alerts", "--home", str(runtime.settings.home), "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 4 message(s) would be sent" in out and "to ops-hook: CRITICAL user u1" in out
    assert receiver.posts == 0 and not smtp.messages and read_sent(runtime).empty
    assert cli.main(["alerts", "--home", str(runtime.settings.home), "--config", str(path)]) == 3
    assert cli.main(["alerts", "--home", str(runtime.settings.home), "--config", str(path)]) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("channels: []\n", "channels must be a non-empty list"),
        ("channels:\n  - {type: pager}\n", "channels[0].type must be 'webhook' or 'email'"),
        ("channels:\n  - {type: webhook, url: 'ftp://x'}\n", "channels[0].url must start with http"),
        ("channels:\n  - {type: webhook, url: 'http://x', retry: 2}\n", "unknown key(s) ['retry']"),
        (
            "channels:\n  - {type: email, host: h, port: 99999, from: a@b, to: c@d}\n",
            "channels[0].port must be at most 65535",
        ),
        (
            "channels:\n  - {type: email, host: h, from: a@b, to: nobody}\n",
            "channels[0].to must be an e-mail address",
        ),
        (
            "channels:\n  - {type: email, host: h, from: a@b, to: c@d, user: u}\n",
            "channels[0].password_env must name",
        ),
        (
            "min_severity: urgent\nchannels:\n  - {type: webhook, url: 'http://x'}\n",
            "min_severity must be one of",
        ),
        ("retries: 0\nchannels:\n  - {type: webhook, url: 'http://x'}\n", "retries must be >= 1"),
        ("channels: [\n", "not valid YAML"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_stored_text_cannot_ping_a_slack_channel():
    finding = {
        "finding_id": "f1",
        "severity": "high",
        "entity_kind": "user",
        "entity_id": "<!channel>",
        "domains": ["security"],
        "signals": [{"model": "m", "severity": "high", "reason": "<https://evil|click> & co"}],
        "action": "look",
        "first_seen": "2026-03-10",
        "last_seen": "2026-03-10",
    }
    payload = json.dumps(slack_payload(finding))
    assert "<!channel>" not in payload and "<https://evil" not in payload and "&lt;!channel&gt;" in payload
