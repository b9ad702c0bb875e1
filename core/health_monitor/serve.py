"""Real-time scoring over HTTP on loopback: champion models loaded once, features from the
online store, one JSON request -> one prediction.

Endpoints (each a ``POST`` with a JSON object):

- the design documents' paths (``/cost-anomaly``, ``/job-failure-risk``, ...) for the models that
  are installed, and ``/models/<model>`` for every model;
- ``GET /health``: status and the champion version of every model;
- ``GET /openapi.json``: an OpenAPI 3.1 description of all of it.

A request names the entity (the model's non-time lookup keys, e.g. ``{"job_id": "42"}``) and
optionally ``as_of`` (``YYYY-MM-DD``): point-in-time features are taken as of that day, else the
latest. A bad request gets a 4xx whose message names the field. Nothing is ever written.
Answers carry stored text cleaned (:mod:`health_monitor.untrusted`): capped, no control or
bidirectional characters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

import health_monitor
from health_monitor.champions import Champion, Champions
from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.online import MISSING, OnlineTable
from health_monitor.untrusted import clean, message

log = logging.getLogger(__name__)

# The design documents' endpoints and the model behind each.
ENDPOINTS: dict[str, str] = {
    "/cost-anomaly": "cost_anomaly_detector",
    "/budget-forecast": "budget_forecaster",
    "/security-threat": "security_threat_detector",
    "/exfiltration-risk": "exfiltration_detector",
    "/query-forecast": "query_performance_forecaster",
    "/warehouse-recommend": "warehouse_optimizer",
    "/job-failure-risk": "job_failure_predictor",
    "/retry-success": "retry_success_predictor",
    "/sla-breach-risk": "sla_breach_predictor",
}
MAX_BODY = 16 * 1024
_VALUE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class ScoringService:
    """Routes, validation and scoring, independent of the HTTP server (and tested directly)."""

    def __init__(self, champions: Champions):
        self.champions = champions
        installed = champions.host.models
        self.routes: dict[str, str] = {p: m for p, m in ENDPOINTS.items() if m in installed}
        self.routes.update({f"/models/{m}": m for m in sorted(installed)})
        self._fields: dict[str, tuple[tuple, dict[str, str]]] = {}

    def warm(self, prefill: bool = True, progress=None) -> dict[str, str]:
        """Load every champion and its feature tables now, and (``prefill``) score every row of
        single-lookup models' tables, so that requests are lookups. ``progress(model)`` is
        called after each model."""
        status = {}
        for model in sorted(set(self.routes.values())):
            try:
                champion = self.champions.get(model)
                for lookup in champion.feature_spec.lookups:  # what a request resolves against
                    table = self.champions.store.table(lookup.table_name)
                    table.index(tuple(table.keys_for(lookup)))
                    if table.timestamp_key is not None:
                        table.times()
                self.fields(champion)
                rows = self.champions.prefill(model) if prefill else 0
                status[model] = f"v{champion.version}" + (f", {rows:,} rows scored" if rows else "")
            except HealthMonitorError as exc:
                status[model] = f"unavailable: {exc}"
            if progress is not None:
                progress(model)
        return status

    def health(self) -> dict[str, Any]:
        models = {}
        for model in sorted(set(self.routes.values())):
            cached = self.champions._loaded.get(model)
            models[model] = {"champion_version": cached[0].version} if cached else {"loaded": False}
        return {"status": "ok", "version": health_monitor.__version__, "models": models}

    def fields(self, champion: Champion) -> dict[str, str]:
        """Request fields of a model -> 'date' or 'text', from its feature tables' columns."""
        tables = [self.champions.store.table(lk.table_name) for lk in champion.feature_spec.lookups]
        valid_for = champion.stamp(tables)
        cached = self._fields.get(champion.spec.name)
        if cached is not None and cached[0] == valid_for:
            return cached[1]
        out = {}
        for lookup, table in zip(champion.feature_spec.lookups, tables, strict=True):
            for table_key, key in zip(table.keys_for(lookup), lookup.keys, strict=True):
                if key in out or key == lookup.timestamp_lookup_key:
                    continue
                column = table.frame[table_key]
                is_date = pd.api.types.is_datetime64_any_dtype(column) or (
                    len(column) > 0 and isinstance(column.iloc[0], dt.date)
                )
                out[key] = "date" if is_date else "text"
        self._fields[champion.spec.name] = (valid_for, out)
        return out

    def score(self, path: str, body: Any) -> dict[str, Any]:
        model = self.routes.get(path)
        if model is None:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {path}; GET /openapi.json lists them")
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        try:
            champion = self.champions.get(model)
        except HealthMonitorError as exc:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(str(exc))) from None
        fields = self.fields(champion)
        allowed = set(fields) | ({"as_of"} if champion.point_in_time else set())
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise RequestError(
                HTTPStatus.BAD_REQUEST,
                f"unknown field(s) {unknown}; this endpoint takes {sorted(allowed)}",
                unknown[0],
            )
        keys: dict[str, str] = {}
        for name, kind in fields.items():
            if name not in body:
                raise RequestError(HTTPStatus.BAD_REQUEST, f"field {name!r} is required", name)
            keys[name] = _value(name, body[name], kind)
        at = _value("as_of", body["as_of"], "date") if "as_of" in body else None
        tables, positions = self.champions.resolve(champion, keys, at)
        for lookup, table, position in zip(champion.feature_spec.lookups, tables, positions, strict=True):
            if position == MISSING:
                self._not_found(lookup, table, keys, at)
        result = self.champions.score_rows(champion, tables, positions)
        answer = {
            "model": model,
            "model_version": champion.version,
            "request": {**keys, "as_of": at},
            **result,
        }
        return clean(answer)

    @staticmethod
    def _not_found(lookup, table: OnlineTable, keys: dict[str, str], at: str | None) -> None:
        """404 naming the field: the entity has no feature row at all, or none as of ``at``."""
        field = lookup.keys[0]
        key = tuple(keys[b] for b in lookup.keys)
        if key not in table.index(tuple(table.keys_for(lookup))):
            shown = ", ".join(f"{b}={keys[b]!r}" for b in lookup.keys)
            raise RequestError(HTTPStatus.NOT_FOUND, f"unknown {shown}: no features for it", field)
        raise RequestError(
            HTTPStatus.NOT_FOUND, f"no features for {field}={keys[field]!r} as of {at}", "as_of"
        )

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, Any] = {
            "/health": {
                "get": {
                    "summary": "Service status and champion versions",
                    "responses": {"200": {"description": "ok"}},
                }
            },
        }
        for path, model in sorted(self.routes.items()):
            spec = self.champions.spec(model)
            try:
                champion = self.champions.get(model)
                fields = self.fields(champion)
                point_in_time = champion.point_in_time
            except HealthMonitorError:
                fields, point_in_time = {k: "text" for k in spec.keys}, False
            properties = {
                name: {
                    "type": "string",
                    **({"format": "date"} if kind == "date" else {"pattern": _VALUE.pattern}),
                }
                for name, kind in fields.items()
            }
            if point_in_time:
                properties["as_of"] = {
                    "type": "string",
                    "format": "date",
                    "description": "Take point-in-time features as of this day (default: latest)",
                }
            paths[path] = {
                "post": {
                    "summary": f"Score {model} ({spec.problem_type.value})",
                    "description": spec.description,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": properties,
                                    "required": sorted(fields),
                                    "additionalProperties": False,
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the prediction: standard outputs and the model's own columns"
                        },
                        "400": {"description": "a field is missing, unknown or malformed (named in `field`)"},
                        "404": {"description": "the entity has no features"},
                        "503": {"description": "the model has no champion version yet"},
                    },
                }
            }
        return {
            "openapi": "3.1.0",
            "info": {"title": "health-monitor scoring", "version": health_monitor.__version__},
            "paths": paths,
        }


def body_for(fields: dict[str, str], row: Any) -> dict[str, str]:
    """The request body naming ``row``'s entity (a prediction or feature row): each field of
    :meth:`ScoringService.fields` as text, dates as ``YYYY-MM-DD``."""
    return {f: str(row[f])[:10] if kind == "date" else str(row[f]) for f, kind in fields.items()}


def _value(name: str, value: Any, kind: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"field {name!r} must be a string", name)
    text = str(value)
    if kind == "date":
        if not _DATE.match(text):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"field {name!r} must be a date as YYYY-MM-DD", name)
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"field {name!r} is not a real date: {text!r}", name
            ) from None
    elif not _VALUE.match(text):
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"field {name!r} has characters outside [A-Za-z0-9_.:@+-] or is too long",
            name,
        )
    return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A response is two writes (head, body): with Nagle's algorithm on, the body waits for the
    # client's delayed ACK, adding ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = f"health-monitor/{health_monitor.__version__}"
    service: ScoringService  # set on the subclass the server builds

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, exc: RequestError) -> None:
        self._send(exc.status, {"error": exc.message, "field": exc.field, "status": int(exc.status)})

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            self._send(200, self.service.health())
        elif self.path == "/openapi.json":
            self._send(200, self.service.openapi())
        elif self.path in self.service.routes:
            self._error(
                RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.path} takes POST with a JSON body")
            )
        else:
            self._error(
                RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {self.path}; GET /openapi.json lists them")
            )

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        try:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
            if int(length) > MAX_BODY:
                self.close_connection = True
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY} bytes")
            raw = self.rfile.read(int(length))
            try:
                body = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
            self._send(200, self.service.score(self.path, body))
        except RequestError as exc:
            self._error(exc)
        except Exception:  # a bug answers 500 and is logged; the server goes on
            log.exception("scoring %s failed", self.path)
            self._error(RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log"))


def check_loopback(host: str) -> str:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise ConfigError(f"--host {host!r} does not resolve") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ConfigError(f"--host must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
    return host


def make_server(service: ScoringService, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A threaded HTTP server bound to loopback (``port=0`` picks a free port)."""
    check_loopback(host)
    handler = type("Handler", (_Handler,), {"service": service})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(
    service: ScoringService, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; returns it and its base URL (for tests and benchmarks)."""
    server = make_server(service, host, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="health-monitor-serve").start()
    return server, f"http://{host}:{server.server_address[1]}"
