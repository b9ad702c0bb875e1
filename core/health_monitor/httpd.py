"""The HTTP layer of ``health-monitor serve``: a server that refuses cleanly.

Whatever a client sends, it gets a JSON answer ``{"error", "field", "status"}`` or a closed
connection, never a traceback, an HTML page or a reset:

- **Bodies** are read only with one well-formed ``Content-Length`` of at most ``MAX_BODY``
  bytes, and parsed with limits: nesting depth, digits per number, no NaN or Infinity, no
  duplicated field, a JSON object at the top (400 otherwise, 411 or 413 for the length).
- **Methods** other than the ones a path takes get a JSON 405 with ``Allow``; the standard
  library's own refusals (a malformed request line, headers too long) are JSON too.
- **Who may ask**: the ``Host`` header must name the server (loopback names by default), which
  defeats DNS rebinding from a web page; with a token configured, every request must carry
  ``Authorization: Bearer <token>``.
- **Load**: a fixed pool of workers takes connections from a bounded queue; past it, a
  connection gets 503 with ``Retry-After`` at once. A connection idle for ``timeout`` seconds
  is closed, and a kept-alive connection is closed as soon as others wait for a worker.
- **No banner**: the ``Server`` header names no version.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import queue
import re
import select
import socket
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024  # bytes
MAX_DEPTH = 32  # nested objects and arrays in a body
MAX_NUMBER = 40  # characters of one JSON number (10**30 passes, to be refused by name)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
SERVER_NAME = "health-monitor"
RETRY_AFTER = 1  # seconds a refused client is told to wait
_IDLE_POLL = 0.05  # seconds between checks of an idle kept-alive connection for waiting others
# An idle kept-alive connection gives its worker up to waiting connections only after this long:
# a client that sends its next request at once must not find the connection closed under it.
_YIELD_AFTER = 0.5
_LINGER_SECONDS = 1.0  # a client's time to read a refusal before its connection is closed
_LENGTH = re.compile(r"[0-9]{1,9}")
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+?)\.?(?::[0-9]{1,5})?")


class RequestError(Exception):
    """A request refused with ``status``; ``message`` says why and ``field`` names the body
    field at fault, if one is."""

    def __init__(self, status: HTTPStatus, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or :class:`RequestError` (400) saying what is wrong."""
    if not raw.strip():
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body is empty; send a JSON object")
    try:
        body = json.loads(
            raw,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except RecursionError:  # the C scanner's own guard, long before the stack runs out
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
    if depth_over(body, MAX_DEPTH):
        raise _too_deep()
    return body


def _too_deep() -> RequestError:
    return RequestError(HTTPStatus.BAD_REQUEST, f"the body nests objects or arrays over {MAX_DEPTH} deep")


def _number(kind: type):
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"a number in the body is longer than {MAX_NUMBER} characters"
            )
        value = kind(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the number {text} is out of range")
        return value

    return parse


def _constant(name: str) -> None:
    raise RequestError(HTTPStatus.BAD_REQUEST, f"{name} is not a JSON number; send a finite number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise RequestError(HTTPStatus.BAD_REQUEST, f"field {twice!r} appears more than once", twice)
    return out


def depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests dicts and lists more than ``limit`` deep (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def host_name(header: str) -> str | None:
    """The lower-case host name of a ``Host`` header (``[::1]:8080`` -> ``[::1]``), or None if
    it is malformed."""
    found = _HOST.fullmatch(header.strip())
    return found["name"].lower() if found else None


def allowed_hosts(names: Iterable[str]) -> frozenset[str]:
    """The loopback names and ``names`` (as ``serve --allow-host`` takes them), normalised."""
    out = set(LOOPBACK_HOSTS)
    for name in names:
        bracketed = f"[{name}]" if ":" in name and not name.startswith("[") else name
        normal = host_name(bracketed)
        if normal is None:
            raise ValueError(f"--allow-host {name!r} is not a host name or address")
        out.add(normal)
    return frozenset(out)


class JSONRequestHandler(BaseHTTPRequestHandler):
    """Answers in JSON and refuses cleanly (see the module). A subclass defines ``do_GET`` /
    ``do_POST`` and :meth:`allowed_methods`; :meth:`read_json` reads a body with the limits."""

    protocol_version = "HTTP/1.1"
    # A response is two writes (head, body): with Nagle's algorithm on, the body waits for the
    # client's delayed ACK, adding ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = SERVER_NAME
    timeout = 10.0  # seconds a connection may stay idle (the socket timeout)
    hosts: frozenset[str] = LOOPBACK_HOSTS
    token: str | None = None
    server: PooledHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s " + format, self.address_string(), *args)

    def allowed_methods(self) -> str:
        """The ``Allow`` header for this request's path."""
        return "GET, POST"

    # -- the request's life -------------------------------------------------------------

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and self._next_request_arrives():
            self.handle_one_request()

    def _next_request_arrives(self) -> bool:
        """On a kept-alive connection: True once the next request starts arriving; False to
        close it, after ``timeout`` seconds idle, or ``_YIELD_AFTER`` seconds if other
        connections wait for a worker."""
        self.connection.settimeout(0)
        try:
            if self.rfile.peek(1):  # already buffered (pipelined); b"" if nothing is there yet
                return True
        except OSError:
            return False
        finally:
            self.connection.settimeout(self.timeout)
        poller = select.poll()
        poller.register(self.connection, select.POLLIN)
        start = time.monotonic()
        while not poller.poll(_IDLE_POLL * 1000):
            idle = time.monotonic() - start
            if idle > self.timeout or (idle > _YIELD_AFTER and self.server.waiting()):
                return False
        return True  # data, or the client closed: handle_one_request sees which

    def finish(self) -> None:
        super().finish()
        if getattr(self, "_linger", False):
            linger(self.connection)

    def parse_request(self) -> bool:
        self._body_read = False
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported; send HTTP/1.1")
            return False
        refusal = self._host_refusal() or self._token_refusal()
        if refusal is not None:
            self.send_problem(refusal)
            return False
        return True

    def _host_refusal(self) -> RequestError | None:
        values = self.headers.get_all("Host") or []
        if len(values) != 1:
            return RequestError(HTTPStatus.BAD_REQUEST, "send exactly one Host header")
        name = host_name(values[0])
        if name is None:
            return RequestError(HTTPStatus.BAD_REQUEST, f"the Host header {values[0][:100]!r} is malformed")
        if name not in self.hosts:
            return RequestError(
                HTTPStatus.FORBIDDEN,
                f"Host {name[:100]!r} is not served here; allowed: {', '.join(sorted(self.hosts))} "
                "(add names with serve --allow-host)",
            )
        return None

    def _token_refusal(self) -> RequestError | None:
        if self.token is None:
            return None
        scheme, _, given = (self.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given:
            return RequestError(HTTPStatus.UNAUTHORIZED, "send the header Authorization: Bearer <token>")
        if not hmac.compare_digest(given.strip().encode("latin-1"), self.token.encode()):
            return RequestError(HTTPStatus.UNAUTHORIZED, "the bearer token is wrong")
        return None

    def read_json(self) -> dict[str, Any]:
        """The body as a JSON object, read with one well-formed ``Content-Length``."""
        if self.headers.get("Transfer-Encoding") is not None:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, "Transfer-Encoding is not accepted; send a Content-Length header"
            )
        values = self.headers.get_all("Content-Length") or []
        if not values:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        if len(values) > 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"send one Content-Length header, not {len(values)}")
        if not _LENGTH.fullmatch(values[0].strip()):
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"Content-Length must be a whole number of bytes, got {values[0][:20]!r}",
            )
        length = int(values[0])
        if length > MAX_BODY:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes")
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            raw = b""
        if len(raw) < length:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"the body ended (or stalled for {self.timeout:g} s) before its Content-Length of {length} bytes",
            )
        self._body_read = True
        return parse_body(raw)

    # -- answers ------------------------------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(payload, default=str).encode(), "application/json", headers)

    def send_body(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """An answer of ``content_type`` (JSON, or the report's HTML pages)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self._body_pending():
            self.close_connection = self._linger = True  # the stream is out of step
        if self.server.waiting():
            self.close_connection = True  # make room for a waiting connection
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_problem(self, exc: RequestError) -> None:
        headers = {}
        if exc.status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers["Allow"] = self.allowed_methods()
        elif exc.status == HTTPStatus.UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Bearer realm="health-monitor"'
        payload = {"error": exc.message, "field": exc.field, "status": int(exc.status)}
        self.send_json(exc.status, payload, headers)

    def _body_pending(self) -> bool:
        """Whether this request announced a body that was not read (the connection must close)."""
        headers = getattr(self, "headers", None)
        if headers is None or getattr(self, "_body_read", False):
            return False
        if headers.get("Transfer-Encoding") is not None:
            return True
        length = headers.get("Content-Length")
        # A POST without a length may still be followed by a body: where the next request starts is unknown.
        return length != "0" if length is not None else self.command == "POST"

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's refusals (bad request line, headers too long, unknown
        method, ...) as JSON, on a closing connection."""
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # answer with a status line and headers
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method no do_* takes
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"method {str(self.command)[:20]!r} is not allowed"
        self.close_connection = self._linger = True  # what the client sent may be unread
        status = HTTPStatus(code)
        self.send_problem(RequestError(status, (message or status.phrase)[:200]))

    def _not_allowed(self) -> None:
        self.send_problem(
            RequestError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{self.path[:100]} takes {self.allowed_methods()}, not {self.command}",
            )
        )

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed


class PooledHTTPServer(HTTPServer):
    """An HTTP server with ``workers`` threads that take connections from a queue of at most
    ``waiting``; a connection beyond that gets 503 with ``Retry-After`` at once (from a
    separate thread, which lets the client read it before the connection closes)."""

    request_queue_size = 512  # the listen backlog: bursts of connections wait, not reset

    def __init__(self, address, handler, *, workers: int = 16, waiting: int = 256):
        if workers < 1 or waiting < 1:
            raise ValueError(f"workers and waiting must be at least 1, got {workers} and {waiting}")
        # Unbounded queues, bounded by process_request: only the accepting thread adds to them,
        # and the sentinels that stop the threads always fit.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._refusals: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting = waiting
        self._busy_lock = threading.Lock()
        self.busy = 0  # workers handling a connection now
        self.refused = 0  # connections answered 503 so far
        super().__init__(address, handler)
        self._threads = [
            threading.Thread(target=self._work, daemon=True, name=f"health-monitor-worker-{i}")
            for i in range(workers)
        ] + [threading.Thread(target=self._refuse_loop, daemon=True, name="health-monitor-refuser")]
        for thread in self._threads:
            thread.start()

    def waiting(self) -> int:
        """Connections accepted and waiting for a worker."""
        return self._queue.qsize()

    def process_request(self, request, client_address) -> None:
        if self._queue.qsize() < self._waiting:
            self._queue.put((request, client_address))
            return
        self.refused += 1
        if self._refusals.qsize() < self._waiting:
            self._refusals.put(request)
        else:  # swamped: no time even to say so
            self.shutdown_request(request)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            request, client_address = item
            with self._busy_lock:
                self.busy += 1
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
                with self._busy_lock:
                    self.busy -= 1

    def _refuse_loop(self) -> None:
        while (request := self._refusals.get()) is not None:
            try:
                request.settimeout(_LINGER_SECONDS)
                request.sendall(_BUSY)
                linger(request)
            except OSError:
                pass
            finally:
                request.close()

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        while True:  # connections still waiting are closed
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for thread in self._threads:
            (self._refusals if thread.name.endswith("refuser") else self._queue).put(None)


def linger(sock: socket.socket) -> None:
    """Stop sending, then read what the client sent until it closes (at most ``_LINGER_SECONDS``):
    closing a socket with unread data resets the connection, and the client could lose the
    answer it has not read yet."""
    deadline = time.monotonic() + _LINGER_SECONDS
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(_LINGER_SECONDS)
        while sock.recv(65536) and time.monotonic() < deadline:
            pass
    except OSError:
        pass


def _busy_response() -> bytes:
    body = json.dumps(
        {
            "error": f"the server is busy; retry in {RETRY_AFTER} s",
            "field": None,
            "status": int(HTTPStatus.SERVICE_UNAVAILABLE),
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        f"Server: {SERVER_NAME}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


_BUSY = _busy_response()
