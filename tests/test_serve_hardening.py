"""The scoring service refuses cleanly: malformed bodies and lengths, other methods, malformed
HTTP, the Host check, the bearer token, no version banner, a connection limit that answers 503
past it, idle timeouts, and a model that cannot be loaded."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from health_monitor.config import Settings
from health_monitor.errors import ConfigError
from health_monitor.registry import CHAMPION
from health_monitor.runtime import Runtime
from health_monitor.serving.app import ScoringService, make_server
from health_monitor.serving.httpd import RequestError, allowed_hosts, load_token
from health_monitor.serving.scoring import Champions

TOKEN = "s3cret-token-0123456789"
GOOD = b'{"entity": "e1"}'


@pytest.fixture(scope="module")
def service(fake_trained_home):
    runtime, host = fake_trained_home
    service = ScoringService(Champions(runtime, host))
    service.warm()
    return service


@pytest.fixture
def start(service):
    """Start a server over the shared service with ``make_server``'s options; returns its port."""
    started = []

    def start(**options) -> int:
        httpd = make_server(service, port=0, **options).start()
        started.append(httpd)
        return httpd.server_address[1]

    yield start
    for httpd in started:
        httpd.shutdown()


@pytest.fixture
def port(start):
    return start()


def exchange(port: int, data: bytes, timeout: float = 10.0):
    """Send raw bytes; returns (status, headers, parsed JSON body or None) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return answer(sock)


def answer(sock: socket.socket, method: str = "POST"):
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    return response.status, response.headers, json.loads(body) if body else None


def post(body: bytes, headers: str = "", path: str = "/models/fake_failure") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, json.loads(data) if data else None


MALFORMED = [  # (body, message, field): pydantic reads the body against the endpoint's request model
    (b"[" * 8000 + b"]" * 8000, "Invalid JSON: recursion limit exceeded", None),
    (b'{"a":' * 2500 + b"1" + b"}" * 2500, "Invalid JSON: recursion limit exceeded", None),
    (b'{"entity": ' + b"[" * 40 + b"]" * 40 + b"}", "field 'entity' must be a string", "entity"),
    (b'{"entity": ' + b"9" * 5000 + b"}", "Invalid JSON: number out of range", None),
    (b'{"entity": 0.' + b"1" * 100 + b"}", "field 'entity' must be a string", "entity"),
    (b'{"entity": 1e999}', "field 'entity' must be a string", "entity"),
    (b'{"entity": NaN}', "field 'entity' must be a string", "entity"),
    (b'{"entity": -Infinity}', "field 'entity' must be a string", "entity"),
    (b'{"entity": "e1", "other": "e2"}', "unknown field 'other'", "other"),
    (b'"e1"', "must be a JSON object", None),
    (b"[]", "must be a JSON object", None),
    (b"null", "must be a JSON object", None),
    (b"", "Invalid JSON: EOF", None),
    (b"{not json", "Invalid JSON", None),
    (b"\xff\xfe\x00", "Invalid JSON", None),
]


@pytest.mark.parametrize(("body", "message", "field"), MALFORMED)
def test_malformed_bodies_get_400(port, body, message, field):
    status, headers, payload = exchange(port, post(body))
    assert (status, payload["status"], payload["field"]) == (400, 400, field), payload
    assert message in payload["error"]
    assert headers["Content-Type"] == "application/json"


def test_a_duplicated_field_is_named(port):
    """pydantic would keep a repeated field's last value: the body is refused, naming the field."""
    status, _, payload = exchange(port, post(b'{"entity": "e1", "entity": "e2"}'))
    assert (status, payload["status"], payload["field"]) == (400, 400, "entity"), payload
    assert "field 'entity' appears more than once" in payload["error"]


CHUNKED = f"{len(GOOD):x}\r\n".encode() + GOOD + b"\r\n0\r\n\r\n"
LENGTHS = [  # (header, body, status, message); httptools refuses a malformed Content-Length
    ("Content-Length: -1\r\n", GOOD, 400, "Invalid character in Content-Length"),
    ("Content-Length: abc\r\n", GOOD, 400, "Invalid character in Content-Length"),
    ("Content-Length: 1e3\r\n", GOOD, 400, "Invalid character in Content-Length"),
    ("Content-Length: \u00b2\r\n", GOOD, 400, "Invalid character in Content-Length"),
    (f"Content-Length: {'9' * 5000}\r\n", GOOD, 400, "Content-Length overflow"),
    ("Content-Length: 16\r\nContent-Length: 16\r\n", GOOD, 400, "Duplicate Content-Length"),
    ("Transfer-Encoding: chunked\r\n", CHUNKED, 400, "Transfer-Encoding is not accepted"),
    ("", b"", 411, "send a Content-Length"),
    ("", GOOD, 400, "malformed HTTP/1.1"),  # without a length, the body is taken for the next request
    ("Content-Length: 20000\r\n", GOOD, 413, "over 16384 bytes"),
]


@pytest.mark.parametrize(("header", "body", "status", "message"), LENGTHS)
def test_bad_content_lengths_are_refused_and_the_connection_closes(port, header, body, status, message):
    head = f"POST /models/fake_failure HTTP/1.1\r\nHost: localhost\r\n{header}\r\n"
    got, headers, payload = exchange(port, head.encode("latin-1") + body)
    assert (got, payload["status"]) == (status, status), payload
    assert message in payload["error"]
    assert headers["Connection"] == "close"  # the body was not read: the stream is out of step


def test_a_body_shorter_than_its_length_gets_400(start):
    port = start(timeout=0.5)
    head = b"POST /models/fake_failure HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\n"
    status, _, payload = exchange(port, head + b'{"entity"')  # then stalls
    assert status == 400 and "stalled for 0.5 s before its Content-Length" in payload["error"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b'{"entity"')
        sock.shutdown(socket.SHUT_WR)  # ends early: nobody to answer, the connection closes
        assert sock.recv(1) == b""


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_get_a_json_405_with_allow(port, method):
    status, headers, payload = request(port, method, "/models/fake_failure", GOOD)
    assert (status, payload["status"]) == (405, 405), payload
    assert headers["Allow"] == "POST" and headers["Content-Type"] == "application/json"


def test_head_gets_405_without_a_body_and_get_paths_refuse_post(port):
    status, headers, payload = request(port, "HEAD", "/health")
    assert status == 405 and headers["Allow"] == "GET" and payload is None
    status, headers, payload = request(port, "POST", "/health", b"{}")
    assert status == 405 and headers["Allow"] == "GET" and "takes GET" in payload["error"]
    status, headers, _ = request(port, "GET", "/models/fake_failure")
    assert status == 405 and headers["Allow"] == "POST"


MALFORMED_HTTP = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"FOO /models/fake_failure HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),  # no such method
    (b"GET /health HTTP/9.9\r\nHost: localhost\r\n\r\n", 400),
    (b"GET /health\r\n\r\n", 400),  # HTTP/0.9: no Host header
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 431),
    (b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET /health HTTP/1.1\r\nHost: localhost\r\n" + b"X-Many: 1\r\n" * 7000 + b"\r\n", 431),
]


@pytest.mark.parametrize(("data", "status"), MALFORMED_HTTP)
def test_malformed_http_is_refused_in_json_without_a_banner(port, data, status):
    got, headers, payload = exchange(port, data)
    assert (got, payload["status"]) == (status, status), payload
    assert headers["Content-Type"] == "application/json"
    assert headers["Server"] == "health-monitor"


def test_no_version_banner(port):
    for method, path, body in [("GET", "/health", None), ("GET", "/nope", None), ("POST", "/nope", b"{}")]:
        _, headers, _ = request(port, method, path, body)
        assert headers["Server"] == "health-monitor"
        assert not any(word in str(headers).lower() for word in ("python", "uvicorn"))


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1", 200),
        ("localhost:8080", 200),
        ("LOCALHOST.", 200),
        ("[::1]:80", 200),
        ("evil.example", 403),
        ("evil.example:8080", 403),
        ("127.0.0.1.evil.example", 403),
        ("localhost:abc", 400),
        ("", 400),
    ],
)
def test_the_host_header_must_name_loopback(port, host, status):
    got, _, payload = exchange(port, f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert got == status, payload
    if status == 403:
        assert "not served here" in payload["error"] and "--allow-host" in payload["error"]


def test_a_missing_or_doubled_host_header_is_refused(port):
    assert exchange(port, b"GET /health HTTP/1.1\r\n\r\n")[0] == 400
    assert exchange(port, b"GET /health HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n")[0] == 400


def test_allowed_hosts_can_be_added(start):
    port = start(allow_hosts=("scoring.internal",))
    assert exchange(port, b"GET /health HTTP/1.1\r\nHost: scoring.internal:9000\r\n\r\n")[0] == 200
    assert exchange(port, b"GET /health HTTP/1.1\r\nHost: other.internal\r\n\r\n")[0] == 403
    assert "[fe80::1]" in allowed_hosts(["fe80::1"])
    with pytest.raises(ConfigError, match="not a host name"):
        make_server(None, allow_hosts=("bad host!",), port=0)


def test_the_bearer_token_is_required_when_set(start):
    port = start(token=TOKEN)
    for headers, why in [
        ({}, "send the header Authorization"),
        ({"Authorization": "Bearer wrong-token-0123456789"}, "token is wrong"),
        ({"Authorization": f"Basic {TOKEN}"}, "send the header Authorization"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "token is wrong"),
    ]:
        for method, path, body in [("GET", "/health", None), ("POST", "/models/fake_failure", GOOD)]:
            status, got, payload = request(port, method, path, body, headers)
            assert status == 401 and why in payload["error"], (headers, payload)
            assert got["WWW-Authenticate"].startswith("Bearer")
    status, _, payload = request(
        port, "POST", "/models/fake_failure", GOOD, {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200 and payload["model"] == "fake_failure"


def test_the_token_comes_from_a_file_or_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_token(path, {}) == TOKEN
    assert load_token(None, {"HEALTH_MONITOR_SERVE_TOKEN": TOKEN}) == TOKEN
    assert load_token(None, {}) is None
    with pytest.raises(ConfigError, match="cannot be read"):
        load_token(tmp_path / "missing", {})
    path.write_text("short")
    with pytest.raises(ConfigError, match="16-1024 printable"):
        load_token(path, {})


def wait_for(condition, what: str) -> None:
    """Synchronise with the server's threads (not a timing assertion: the deadline only
    keeps a broken server from hanging the test)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


HEALTH = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_past_the_connection_limit_a_client_gets_503_with_retry_after(service):
    httpd = make_server(service, port=0, limit=2, timeout=30).start()
    port, open_ = httpd.server_address[1], httpd.uvicorn.server_state.connections
    try:
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        wait_for(lambda: len(open_) == 2, "the server to accept two connections")
        status, headers, payload = exchange(port, HEALTH)
        assert (status, payload["status"]) == (503, 503) and "busy" in payload["error"]
        assert headers["Retry-After"] == "1" and headers["Server"] == "health-monitor"
        assert headers["Connection"] == "close"
        held.pop().close()
        wait_for(lambda: len(open_) == 1, "the server to see a connection close")
        held[0].sendall(HEALTH)
        assert answer(held[0], "GET")[0] == 200
        held[0].close()
    finally:
        httpd.shutdown()


def test_an_idle_kept_alive_connection_holds_up_no_other(service):
    httpd = make_server(service, port=0, limit=8, timeout=30).start()
    port = httpd.server_address[1]
    try:
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        first.sendall(HEALTH)
        status, headers, _ = answer(first, "GET")
        assert status == 200 and headers.get("Connection") != "close"  # kept alive, idle
        second = socket.create_connection(("127.0.0.1", port), timeout=10)
        second.sendall(HEALTH)
        assert answer(second, "GET")[0] == 200
        first.sendall(HEALTH)  # the idle one is still served
        assert answer(first, "GET")[0] == 200
        second.close()
        first.close()
    finally:
        httpd.shutdown()


def test_an_idle_connection_is_closed_after_the_timeout(start):
    port = start(timeout=0.3)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(1) == b""  # nothing sent: the server hangs up, no answer owed
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: loc")  # a head that never ends
        assert sock.recv(1) == b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(HEALTH)
        assert answer(sock, "GET")[0] == 200
        assert sock.recv(1) == b""  # idle after an answer


def test_a_model_whose_warm_up_fails_answers_503_as_health_says(fake_trained_home, tmp_path):
    """A champion that loads but whose feature table is gone: warm-up, /health and its endpoint
    agree that it is unavailable, and why."""
    runtime, host = fake_trained_home
    home = tmp_path / "home"
    shutil.copytree(runtime.settings.home, home)
    copy = Runtime.embedded(Settings(home=home))
    table = copy.settings.feature_table("fake_features")
    copy.lakehouse.drop(table)
    service = ScoringService(Champions(copy, host))
    warmed = service.warm()
    assert warmed["fake_failure"].startswith("unavailable: ") and table in warmed["fake_failure"], warmed
    health = service.health()
    assert health["status"] == "degraded" and table in health["models"]["fake_failure"]["unavailable"]
    with pytest.raises(RequestError) as refused:
        service.score("/models/fake_failure", GOOD)
    assert refused.value.status == 503 and table in refused.value.message


def test_a_model_whose_artifacts_are_missing_does_not_stop_the_others(fake_trained_home, tmp_path):
    runtime, host = fake_trained_home
    home = tmp_path / "home"
    shutil.copytree(runtime.settings.home, home)
    copy = Runtime.embedded(Settings(home=home))
    champions = Champions(copy, host)
    version = copy.registry.version_by_alias(copy.settings.registered_model("fake_anomaly"), CHAMPION)
    source = copy.registry.client().get_model_version_download_uri(version.name, str(version.version))
    artifacts = Path(unquote(urlparse(source).path))
    assert artifacts.is_dir() and home in artifacts.parents, source
    shutil.rmtree(artifacts)

    service = ScoringService(champions)
    warmed = service.warm()
    assert warmed["fake_failure"].startswith("v1")
    assert warmed["fake_anomaly"].startswith(f"unavailable: model {version.name} v1 cannot be loaded")
    httpd = make_server(service, port=0).start()
    port = httpd.server_address[1]
    try:
        status, _, health = request(port, "GET", "/health")
        assert status == 200 and health["status"] == "degraded"
        assert health["models"]["fake_failure"] == {"champion_version": 1}
        assert "cannot be loaded" in health["models"]["fake_anomaly"]["unavailable"]
        body = json.dumps({"entity": "e2", "day": "2026-01-20"}).encode()
        status, _, payload = request(port, "POST", "/models/fake_anomaly", body)
        assert status == 503 and "fake_anomaly v1 cannot be loaded" in payload["error"]
        status, _, payload = request(port, "POST", "/models/fake_failure", GOOD)
        assert status == 200 and payload["model"] == "fake_failure"
    finally:
        httpd.shutdown()


def test_answers_go_out_without_nagle_and_score_on_one_thread(service, monkeypatch):
    """TCP_NODELAY on each connection (else a response's body waits ~40 ms for the client's
    delayed ACK), and one OpenMP/BLAS thread where requests are scored (a team's spinning
    stalled live scores)."""
    import threadpoolctl

    seen = []
    health = service.health
    monkeypatch.setattr(service, "health", lambda: seen.append(threadpoolctl.threadpool_info()) or health())
    httpd = make_server(service, port=0).start()
    try:
        with socket.create_connection(("127.0.0.1", httpd.server_address[1]), timeout=10) as sock:
            sock.sendall(HEALTH)
            assert answer(sock, "GET")[0] == 200
            (connection,) = httpd.uvicorn.server_state.connections
            raw = connection.transport.get_extra_info("socket")
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert seen[0] and all(pool["num_threads"] == 1 for pool in seen[0]), seen
    finally:
        httpd.shutdown()
