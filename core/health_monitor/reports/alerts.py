"""Alerts: send new findings to the channels a config file names, once each, with retries.

``health-monitor alerts`` reads the open findings (``<catalog>.ml.findings``), keeps those at or
over the minimum severity that a channel has not yet announced at that severity, and sends each
as one message per channel: a webhook (Slack-compatible JSON ``{"text", "blocks"}``) or an
e-mail over SMTP. Each message is tried up to ``retries`` times, waiting ``backoff_seconds``,
then twice as long, between tries. Every outcome is appended to ``<catalog>.ops.alerts_sent``
(finding id, channel, severity, sent_at, status, attempts, error): a finding sent on a channel is
never sent there again unless its severity rises; one that failed stays unannounced on that
channel, so the next run tries it again.

Exit status (:attr:`AlertsResult.exit_status`): 0 when nothing new was sent, 3 when something
was, 1 when a channel still failed after its retries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, overload

import pandas as pd
import pyarrow as pa

from health_monitor.errors import ConfigError
from health_monitor.reports.findings import OPEN, SEVERITY_RANK, ranked, read_findings
from health_monitor.runtime import Runtime
from health_monitor.sdk.specs import SEVERITIES
from health_monitor.untrusted import clean_text

ALERTS_TABLE = "alerts_sent"
DEFAULT_MIN_SEVERITY = "high"
SENT, FAILED = "sent", "failed"
RECORD_SCHEMA = pa.schema(
    [
        ("finding_id", pa.string()),
        ("channel", pa.string()),
        ("severity", pa.string()),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("attempts", pa.int32()),
        ("error", pa.string()),
    ]
)


# -- the config file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    timeout: float = 10.0

    def send(self, finding: dict[str, Any]) -> None:
        body = json.dumps(slack_payload(finding)).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"HTTP {exc.code} from the webhook") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from None
        if not 200 <= status < 300:
            raise ChannelError(f"HTTP {status} from the webhook")


@dataclass(frozen=True)
class Email:
    name: str
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    user: str | None = None
    password_env: str | None = None
    timeout: float = 10.0

    def send(self, finding: dict[str, Any]) -> None:
        message = EmailMessage()
        message["Subject"] = f"[health-monitor] {headline(finding)}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message.set_content(plain_text(finding))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, os.environ.get(self.password_env or "", ""))
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None


Channel = Webhook | Email


@dataclass(frozen=True)
class AlertsConfig:
    channels: tuple[Channel, ...]
    min_severity: str = DEFAULT_MIN_SEVERITY
    retries: int = 3
    backoff_seconds: float = 1.0


class ChannelError(Exception):
    """A channel refused or could not take a message."""


def load_config(path: Path, min_severity: str | None = None) -> AlertsConfig:
    """The alerts config file, validated: any problem is a ConfigError naming the file and key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; write one as docs/alerts.md shows")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'channels', got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"channels", "min_severity", "retries", "backoff_seconds"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {unknown}; expected channels, min_severity, retries, backoff_seconds"
        )
    severity = min_severity or raw.get("min_severity", DEFAULT_MIN_SEVERITY)
    if severity not in SEVERITIES:
        raise ConfigError(f"{path}: min_severity must be one of {list(SEVERITIES)}, got {severity!r}")
    retries = _number(raw, "retries", 3, path, int, minimum=1)
    backoff = _number(raw, "backoff_seconds", 1.0, path, float, minimum=0)
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels:
        raise ConfigError(f"{path}: channels must be a non-empty list of webhook or email channels")
    parsed = tuple(_channel(c, f"{path}: channels[{i}]") for i, c in enumerate(channels))
    names = [c.name for c in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: channel name(s) {twice} used twice; each channel needs its own name")
    return AlertsConfig(parsed, severity, retries, backoff)


def _number(raw: dict, key: str, default: float, where: Any, kind: type, minimum: float) -> Any:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
        raise ConfigError(f"{where}: {key} must be a {'whole ' if kind is int else ''}number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{where}: {key} must be >= {minimum}, got {value!r}")
    return kind(value)


@overload
def _text(raw: dict, key: str, where: str, required: Literal[True] = True) -> str: ...
@overload
def _text(raw: dict, key: str, where: str, required: bool) -> str | None: ...
def _text(raw: dict, key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} must be non-empty text, got {value!r}")
    return value.strip()


def _channel(raw: Any, where: str) -> Channel:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with a type (webhook or email), got {raw!r}")
    kind = raw.get("type")
    allowed = {
        "webhook": {"type", "name", "url", "timeout"},
        "email": {
            "type",
            "name",
            "host",
            "port",
            "from",
            "to",
            "starttls",
            "user",
            "password_env",
            "timeout",
        },
    }
    if kind not in allowed:
        raise ConfigError(f"{where}.type must be 'webhook' or 'email', got {kind!r}")
    unknown = sorted(set(raw) - allowed[kind])
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {unknown} for a {kind} channel; allowed: {sorted(allowed[kind])}"
        )
    name = _text(raw, "name", where, required=False) or kind
    timeout = _number(raw, "timeout", 10.0, where, float, minimum=0.1)
    if kind == "webhook":
        url = _text(raw, "url", where)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url must start with http:// or https://, got {url!r}")
        return Webhook(name, url, timeout)
    port = _number(raw, "port", 25, where, int, minimum=1)
    if port > 65535:
        raise ConfigError(f"{where}.port must be at most 65535, got {port}")
    to = raw.get("to")
    to = [to] if isinstance(to, str) else to
    if not isinstance(to, list) or not to or not all(isinstance(t, str) and "@" in t for t in to):
        raise ConfigError(f"{where}.to must be an e-mail address or a list of them, got {raw.get('to')!r}")
    sender = _text(raw, "from", where)
    starttls = raw.get("starttls", False)
    if not isinstance(starttls, bool):
        raise ConfigError(f"{where}.starttls must be true or false, got {starttls!r}")
    user = _text(raw, "user", where, required=False)
    password_env = _text(raw, "password_env", where, required=False)
    if user and not password_env:
        raise ConfigError(
            f"{where}.password_env must name the environment variable holding {user!r}'s password"
        )
    if password_env and password_env not in os.environ:
        raise ConfigError(f"{where}.password_env: environment variable {password_env} is not set")
    return Email(
        name, _text(raw, "host", where), port, sender, tuple(to), starttls, user, password_env, timeout
    )


# -- the message ----------------------------------------------------------------------------------


def headline(finding: dict[str, Any]) -> str:
    signals = len(finding["signals"])
    return clean_text(
        f"{finding['severity'].upper()} {finding['entity_kind']} {finding['entity_id']}: "
        f"{signals} signal{'s' if signals != 1 else ''} ({', '.join(finding['domains'])})"
    )


def plain_text(finding: dict[str, Any]) -> str:
    lines = [headline(finding), ""]
    lines += [f"- {s['model']} [{s['severity']}]: {s['reason']}" for s in finding["signals"]]
    lines += [
        "",
        f"Action: {finding['action']}",
        f"Finding {finding['finding_id']}, first seen {finding['first_seen']}, last seen {finding['last_seen']}.",
        "Values come from the monitored account: read them as data.",
    ]
    return "\n".join(lines)


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped: stored text cannot ping a channel or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(finding: dict[str, Any]) -> dict[str, Any]:
    signals = "\n".join(
        f"• *{s['model']}* [{s['severity']}]: {_mrkdwn(s['reason'])}" for s in finding["signals"]
    )
    return {
        "text": _mrkdwn(headline(finding)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _mrkdwn(headline(finding))[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": signals[:2900]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Action:* {_mrkdwn(finding['action'])}"[:2900]},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"finding {finding['finding_id']} · first seen {finding['first_seen']} · "
                        "values are data from the monitored account",
                    }
                ],
            },
        ],
    }


# -- sending --------------------------------------------------------------------------------------


@dataclass
class AlertsResult:
    dry_run: bool
    sent: list[tuple[str, str]] = field(default_factory=list)  # (finding id, channel)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (finding id, channel, error)
    planned: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # dry run: (finding, channel)

    @property
    def exit_status(self) -> int:
        if self.failed:
            return 1
        return 3 if self.sent else 0

    def lines(self) -> list[str]:
        if self.dry_run:
            out = [f"dry run: {len(self.planned)} message(s) would be sent; nothing sent or recorded"]
            for finding, channel in self.planned:
                out.append(f"  to {channel}: {headline(finding)}")
                out += [f"    {line}" for line in plain_text(finding).splitlines()[2:] if line]
            return out
        out = [f"sent {len(self.sent)} message(s)" + (f", {len(self.failed)} failed" if self.failed else "")]
        out += [f"  {channel}: finding {fid}" for fid, channel in self.sent]
        return out

    def failure_lines(self) -> list[str]:
        return [
            f"alerts: {channel} failed for finding {fid} after its retries: {error} (tried again next run)"
            for fid, channel, error in self.failed
        ]


def alerts_table(runtime: Runtime) -> str:
    return runtime.settings.ops(ALERTS_TABLE)


def read_sent(runtime: Runtime) -> pd.DataFrame:
    table = alerts_table(runtime)
    if not runtime.lakehouse.exists(table):
        return pd.DataFrame(columns=RECORD_SCHEMA.names)
    return runtime.lakehouse.read_arrow(table).to_pandas()


def pending(findings: list[dict[str, Any]], sent: pd.DataFrame, channel: str) -> list[dict[str, Any]]:
    """The findings ``channel`` has not announced at their current severity or higher."""
    done = sent[(sent["channel"] == channel) & (sent["status"] == SENT)]
    best: dict[str, int] = {}
    for fid, severity in zip(done["finding_id"], done["severity"], strict=True):
        best[fid] = max(best.get(fid, -1), SEVERITY_RANK.get(severity, -1))
    return [f for f in findings if best.get(f["finding_id"], -1) < SEVERITY_RANK[f["severity"]]]


def _try(channel: Channel, finding: dict[str, Any], retries: int, backoff: float) -> tuple[int, str | None]:
    """(attempts, None) once sent, or (attempts, the last error) after ``retries`` failures."""
    error = None
    for attempt in range(1, retries + 1):
        try:
            channel.send(finding)
            return attempt, None
        except ChannelError as exc:
            error = str(exc)
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    return retries, error


def send_alerts(runtime: Runtime, config: AlertsConfig, dry_run: bool = False) -> AlertsResult:
    """Send what is new to every channel; record each outcome unless ``dry_run``."""
    findings = [
        f
        for f in ranked(read_findings(runtime, state=OPEN))
        if f["state"] == OPEN and SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[config.min_severity]
    ]
    sent = read_sent(runtime)
    result = AlertsResult(dry_run=dry_run)
    records = []
    for channel in config.channels:
        for finding in pending(findings, sent, channel.name):
            if dry_run:
                result.planned.append((finding, channel.name))
                continue
            attempts, error = _try(channel, finding, config.retries, config.backoff_seconds)
            records.append(
                {
                    "finding_id": finding["finding_id"],
                    "channel": channel.name,
                    "severity": finding["severity"],
                    "sent_at": dt.datetime.now(dt.timezone.utc),
                    "status": SENT if error is None else FAILED,
                    "attempts": attempts,
                    "error": error,
                }
            )
            if error is None:
                result.sent.append((finding["finding_id"], channel.name))
            else:
                result.failed.append((finding["finding_id"], channel.name, error))
    if records:
        _record(runtime, sent, records)
    return result


def _record(runtime: Runtime, sent: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    new = pa.Table.from_pylist(records, schema=RECORD_SCHEMA)
    if not sent.empty:
        old = pa.Table.from_pandas(sent[RECORD_SCHEMA.names], schema=RECORD_SCHEMA, preserve_index=False)
        new = pa.concat_tables([old, new])
    runtime.lakehouse.write(
        alerts_table(runtime),
        new,
        description="Alerts sent for findings: one row per finding, channel and attempt series",
    )
