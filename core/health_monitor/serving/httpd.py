"""The HTTP layer of ``health-monitor serve``: an ASGI app on uvicorn (httptools), refusing cleanly.

Whatever a client sends gets ``{"error", "field", "status"}`` or a closed connection: well-formed
HTTP/1.1 with a head of at most ``MAX_HEAD`` bytes (400, 431), a body of one ``Content-Length`` of
at most ``MAX_BODY`` bytes (411, 413) holding a JSON object within limits, 405 with ``Allow``, a
``Host`` naming the server (against DNS rebinding), the bearer token if one is set (401), at most
``limit`` open connections (503 with ``Retry-After`` beyond), connections idle for ``timeout``
seconds closed (from their first byte on: uvicorn alone times out only between requests), no banner.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httptools
import threadpoolctl
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from health_monitor.errors import ConfigError

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # bytes
MAX_HEAD = 64 * 1024  # bytes of a request line and headers
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
RETRY_AFTER = 1  # seconds a refused client is told to wait
TOKEN_ENV = "HEALTH_MONITOR_SERVE_TOKEN"
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+?)\.?(?::[0-9]{1,5})?")
Reply = tuple[int, bytes, dict[str, str]]  # status, body, headers (with Content-Type)
Answer = Callable[[str, str, bytes | None], Awaitable[Reply]]  # (method, path, a POST's body) -> reply


class RequestError(Exception):
    """A request refused with ``status``, ``message`` saying why, ``field`` the body field at fault."""

    def __init__(self, status: HTTPStatus, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def host_name(header: str) -> str | None:
    """The lower-case host name of a ``Host`` header (``[::1]:8080`` -> ``[::1]``), or None."""
    found = _HOST.fullmatch(header.strip())
    return found["name"].lower() if found else None


def allowed_hosts(names: Iterable[str]) -> frozenset[str]:
    """The loopback names and ``names`` (as ``serve --allow-host`` takes them), normalised."""
    out = set(LOOPBACK_HOSTS)
    for name in names:
        normal = host_name(f"[{name}]" if ":" in name and not name.startswith("[") else name)
        if normal is None:
            raise ConfigError(f"--allow-host {name!r} is not a host name or address")
        out.add(normal)
    return frozenset(out)


def check_loopback(host: str) -> str:
    try:
        addresses = {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise ConfigError(f"--host {host!r} does not resolve") from None
    if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ConfigError(f"--host must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
    return host


def load_token(path: Path | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token ``serve`` requires: the contents of ``path`` (``--token-file``), else
    ``$HEALTH_MONITOR_SERVE_TOKEN``, else None (no token)."""
    try:
        token = path.read_text().strip() if path is not None else environ.get(TOKEN_ENV, "").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {path} cannot be read: {exc}") from None
    if not token and path is None:
        return None
    if not (16 <= len(token) <= 1024 and token.isascii() and token.isprintable() and " " not in token):
        raise ConfigError("the serve token must be 16-1024 printable ASCII characters without spaces")
    return token


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, default=str).encode()
    return status, body, {"Content-Type": "application/json", **(headers or {})}


def problem(exc: RequestError, headers: dict[str, str] | None = None) -> Reply:
    """The JSON answer to a refused request."""
    if exc.status == HTTPStatus.UNAUTHORIZED:
        headers = {"WWW-Authenticate": 'Bearer realm="health-monitor"'}
    payload = {"error": exc.message, "field": exc.field, "status": int(exc.status)}
    return json_reply(exc.status, payload, headers)


@dataclass
class App:
    """The checks every request passes, then ``answer(method, path, body)``; ``allowed(path)`` names
    the methods a path takes. A POST's body (bytes) is read first, within ``timeout`` seconds."""

    answer: Answer
    allowed: Callable[[str], str]
    hosts: frozenset[str]  # what a Host header may name (allowed_hosts)
    token: str | None  # the bearer token requests must send, if any (load_token)
    limit: int  # open connections; past it, 503
    timeout: float  # seconds a connection may idle, or a body stall
    connections: set[Any] = field(default_factory=set)  # uvicorn's open connections (see Server)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        method, path, extra = scope["method"], scope["path"], {}
        unread = method == "POST"  # a refusal before the body is read closes the connection
        try:
            if len(self.connections) > self.limit:
                extra = {"Retry-After": str(RETRY_AFTER), "Connection": "close"}
                why = f"the server is busy; retry in {RETRY_AFTER} s"
                raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, why)
            self._admit(headers)
            if method not in (allow := self.allowed(path)).split(", "):
                extra = {"Allow": allow}
                raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path[:100]} takes {allow}, not {method}")
            body = await asyncio.wait_for(self._body(headers, receive), self.timeout) if unread else None
            if unread and body is None:
                return  # the client left before its body arrived: nobody to answer
            unread = False
            status, data, extra = await self.answer(method, path, body)
        except asyncio.TimeoutError:  # TimeoutError from Python 3.11
            why = f"the body stalled for {self.timeout:g} s before its Content-Length"
            status, data, extra = problem(RequestError(HTTPStatus.BAD_REQUEST, why))
        except RequestError as exc:
            status, data, extra = problem(exc, extra)
        except Exception:  # a bug answers 500 and is logged; the server goes on
            log.exception("%s %s failed", method, path[:100])
            why = "internal error; see the log"
            status, data, extra = problem(RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, why))
        extra = {**extra, "Content-Length": str(len(data)), "Server": "health-monitor"}
        extra |= {"Connection": "close"} if unread else {}
        head = [(k.lower().encode(), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    def _admit(self, headers: dict[str, list[str]]) -> None:
        """Refuses a request whose ``Host`` or token is wrong."""
        values = headers.get("host", [])
        if len(values) != 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, "send exactly one Host header")
        if (name := host_name(values[0])) is None:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the Host header {values[0][:100]!r} is malformed")
        if name not in self.hosts:
            allowed = ", ".join(sorted(self.hosts))
            why = f"Host {name[:100]!r} is not served here; allowed: {allowed} (add names with serve --allow-host)"
            raise RequestError(HTTPStatus.FORBIDDEN, why)
        if self.token is not None:
            scheme, _, given = (headers.get("authorization") or [""])[0].strip().partition(" ")
            if scheme.lower() != "bearer" or not given:
                raise RequestError(HTTPStatus.UNAUTHORIZED, "send the header Authorization: Bearer <token>")
            if not hmac.compare_digest(given.strip().encode("latin-1"), self.token.encode()):
                raise RequestError(HTTPStatus.UNAUTHORIZED, "the bearer token is wrong")

    async def _body(self, headers: dict[str, list[str]], receive: Any) -> bytes | None:
        """The body, or None if the client left (httptools refuses a malformed ``Content-Length``)."""
        if "transfer-encoding" in headers:
            why = "Transfer-Encoding is not accepted; send a Content-Length header"
            raise RequestError(HTTPStatus.BAD_REQUEST, why)
        if "content-length" not in headers:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        if int(headers["content-length"][0]) > MAX_BODY:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes")
        raw, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            raw, more = raw + message.get("body", b""), message.get("more_body", False)
        return raw


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering malformed HTTP in JSON, limiting a request's head
    to ``MAX_HEAD`` bytes, and timing out a connection idle before or inside a request's head."""

    _head = 0  # bytes received since the last request's head was complete

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, which create_server's
        # are not: a response's head and body (two writes) then waited for a delayed ACK, p50 44 ms.
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._idle()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        waiting = self.cycle is None or self.cycle.response_complete  # for a request's head
        self._head = self._head + len(data) if waiting else 0
        try:
            if self._head > MAX_HEAD:
                why = f"the request head is over {MAX_HEAD} bytes"
                return self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, why)
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # served as a plain request (no WebSocket here)
        except httptools.HttpParserError as exc:
            return self._refuse(HTTPStatus.BAD_REQUEST, f"malformed HTTP/1.1 request: {str(exc)[:100]}")
        if self.cycle is None or self.cycle.response_complete:
            self._idle()
        else:  # a request's head is complete: count the next one from zero
            self._head = 0

    def _idle(self) -> None:
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        _, body, _ = problem(RequestError(status, message))
        head = f"HTTP/1.1 {status} {status.phrase}\r\nServer: health-monitor\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.transport.write(head.encode() + body)
        self.transport.close()


# uvicorn without its logging set-up, banner, proxy headers, WebSocket and lifespan events
_OPTIONS: Any = dict(
    ws="none", lifespan="off", log_config=None, access_log=False, server_header=False, proxy_headers=False
)


class Server:
    """uvicorn on a socket bound at once (``port=0``: a free one), with ``app``'s limit and timeout:
    :meth:`serve_forever` here, or :meth:`start` in a thread; :meth:`shutdown` stops either."""

    def __init__(self, app: App, host: str, port: int):
        config = uvicorn.Config(app, http=_Protocol, timeout_keep_alive=app.timeout, **_OPTIONS)  # type: ignore[arg-type]
        self.uvicorn = uvicorn.Server(config)  # (timeout_keep_alive is typed int; a float works)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.socket = socket.create_server((host, port), family=family, backlog=512)
        except OSError as exc:  # said in one line, naming the option (the CLI exits 2)
            why = f"cannot be listened on: {exc.strerror}"
            if exc.errno == errno.EADDRINUSE:
                why = "is in use; pick another --port, or 0 for a free one"
            raise ConfigError(f"--port {port}: {host}:{port} {why}") from None
        self.server_address = self.socket.getsockname()
        app.connections = self.uvicorn.server_state.connections
        self.thread: threading.Thread | None = None

    def start(self) -> Server:
        """:meth:`serve_forever` in a daemon thread (for tests and benchmarks)."""
        self.thread = threading.Thread(target=self.serve_forever, daemon=True, name="health-monitor-serve")
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        # One thread for OpenMP and BLAS in the thread that scores: one row gains nothing from a team
        # of threads, whose spinning cost as_of requests p99 92 ms against 13 ms with one (small home).
        with threadpoolctl.threadpool_limits(1):
            self.uvicorn.run(sockets=[self.socket])

    def shutdown(self) -> None:
        """Stops serving (and the thread :meth:`start` made) and closes the socket."""
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join()
        self.socket.close()
