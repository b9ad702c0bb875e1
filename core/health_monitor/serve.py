"""Real-time scoring over HTTP on loopback: champion models loaded once, features from the
online store, one JSON request -> one prediction.

Endpoints (each a ``POST`` with a JSON object):

- the path each installed model declares (``Model.endpoint``: the design documents'
  ``/cost-anomaly``, ``/job-failure-risk``, ...), and ``/models/<model>`` for every model;
- ``GET /health``: status and the champion version of every model;
- ``GET /openapi.json``: an OpenAPI 3.1 description of all of it;
- ``GET /report`` (and ``/report/<page>.html``): the HTML report (:mod:`health_monitor.reports.html`),
  built on first request and reused for a few minutes; only the report's own page names are
  answered, with a Content-Security-Policy that forbids scripts and network loads.

A request names the entity (the model's non-time lookup keys, e.g. ``{"job_id": "42"}``) and
optionally ``as_of`` (``YYYY-MM-DD``): point-in-time features are taken as of that day, else the
latest. A bad request gets a 4xx whose message names the field. Nothing is ever written.

The HTTP layer (limits, methods, Host and token checks, the bounded worker pool) is
:mod:`health_monitor.httpd`. A model that cannot be loaded does not stop the others: its
endpoint answers 503 with the reason, which ``/health`` reports too.

Answers carry stored text cleaned (:mod:`health_monitor.untrusted`): capped, no control or
bidirectional characters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pandas as pd

import health_monitor
from health_monitor.champions import Champion, Champions
from health_monitor.errors import ConfigError, HealthMonitorError
from health_monitor.httpd import JSONRequestHandler, PooledHTTPServer, RequestError, allowed_hosts
from health_monitor.online import MISSING, OnlineTable
from health_monitor.untrusted import clean, message

log = logging.getLogger(__name__)

RETRY_LOAD_SECONDS = 30.0  # a model that failed to load is tried again at most this often
_GET_PATHS = ("/health", "/openapi.json")
REPORT_PATH = "/report"
_REPORT_PAGE = re.compile(r"^/report(?:/(?P<page>[a-z0-9][a-z0-9_-]{0,100}\.html)?)?$")
_VALUE = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ScoringService:
    """Routes, validation and scoring, independent of the HTTP server (and tested directly)."""

    def __init__(self, champions: Champions, report: Any = None):
        self.champions = champions
        if report is None:
            from health_monitor.reports.html import ServedReport

            report = ServedReport(champions.runtime, champions.host)
        self.report = report  # answers GET /report: page name -> HTML or None
        installed = champions.host.models
        # The endpoints the installed models declare (``Model.endpoint``), then /models/<name> for each.
        self.routes: dict[str, str] = dict(sorted(champions.host.endpoints.items()))
        self.routes.update({f"/models/{m}": m for m in sorted(installed)})
        self._fields: dict[str, tuple[tuple, dict[str, str]]] = {}
        self.unavailable: dict[str, tuple[str, float]] = {}  # model -> (why, when it was tried)

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
                status[model] = f"unavailable: {self._failed(model, exc)}"
            except Exception as exc:  # a bug in one model's warm-up: serve the others
                log.exception("warming %s failed", model)
                status[model] = f"unavailable: {self._failed(model, exc)}"
            else:
                self.unavailable.pop(model, None)
            if progress is not None:
                progress(model)
        return status

    def _failed(self, model: str, exc: Exception) -> str:
        why = str(exc) if isinstance(exc, HealthMonitorError) else f"{type(exc).__name__}: {exc}"
        self.unavailable[model] = (why, time.monotonic())
        return why

    def health(self) -> dict[str, Any]:
        """``ok`` with every model's champion version; ``degraded`` when a model is
        unavailable, with the reason under its name."""
        models = {}
        for model in sorted(set(self.routes.values())):
            cached = self.champions._loaded.get(model)
            failed = self.unavailable.get(model)
            if failed is not None:
                models[model] = {"loaded": False, "unavailable": failed[0]}
            else:
                models[model] = {"champion_version": cached[0].version} if cached else {"loaded": False}
        status = "degraded" if self.unavailable else "ok"
        return {"status": status, "version": health_monitor.__version__, "models": models}

    def _ready(self, model: str) -> tuple[Champion, dict[str, str]]:
        """The champion of ``model`` and its request fields, or 503 naming why not. A model that
        failed is not tried again for ``RETRY_LOAD_SECONDS``: a broken one costs requests nothing."""
        failed = self.unavailable.get(model)
        if failed is not None and time.monotonic() - failed[1] < RETRY_LOAD_SECONDS:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(failed[0]))
        try:
            champion = self.champions.get(model)
            fields = self.fields(champion)
        except HealthMonitorError as exc:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(self._failed(model, exc))) from None
        if failed is not None:
            self.unavailable.pop(model, None)
        return champion, fields

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
        champion, fields = self._ready(model)
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
                        "503": {
                            "description": "the model has no champion version yet or cannot be "
                            "loaded (why: in `error` and on /health), or the server is busy "
                            "(`Retry-After`)"
                        },
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


class _Handler(JSONRequestHandler):
    service: ScoringService  # set on the subclass the server builds

    def allowed_methods(self) -> str:
        if self.path in _GET_PATHS or _is_report(self.path):
            return "GET"
        return "POST" if self.path in self.service.routes else "GET, POST"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            self.send_json(200, self.service.health())
        elif self.path == "/openapi.json":
            self.send_json(200, self.service.openapi())
        elif _is_report(self.path):
            self._report()
        elif self.path in self.service.routes:
            self._not_allowed()
        else:
            self.send_problem(
                RequestError(
                    HTTPStatus.NOT_FOUND, f"no endpoint {self.path[:100]}; GET /openapi.json lists them"
                )
            )

    def _report(self) -> None:
        """A page of the report, by an allow-list: the report's own page names, nothing else."""
        found = _REPORT_PAGE.match(self.path)
        name = (found["page"] if found else None) or "index.html"
        try:
            html = self.service.report.page(name) if found else None
        except Exception:  # a report that cannot be built answers 500, logged; scoring goes on
            log.exception("building the report failed")
            self.send_problem(
                RequestError(
                    HTTPStatus.INTERNAL_SERVER_ERROR, "the report could not be built; see the server log"
                )
            )
            return
        if html is None:
            self.send_problem(
                RequestError(
                    HTTPStatus.NOT_FOUND, f"no report page {self.path[:100]}; GET /report is the overview"
                )
            )
            return
        from health_monitor.reports.html import CSP

        headers = {
            "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
        self.send_body(200, html.encode(), "text/html; charset=utf-8", headers)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path in _GET_PATHS or _is_report(self.path):
            self._not_allowed()
            return
        try:
            body = self.read_json()
            self.send_json(200, self.service.score(self.path, body))
        except RequestError as exc:
            self.send_problem(exc)
        except Exception:  # a bug answers 500 and is logged; the server goes on
            log.exception("scoring %s failed", self.path)
            self.send_problem(
                RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log")
            )


def _is_report(path: str) -> bool:
    return path == REPORT_PATH or path.startswith(REPORT_PATH + "/")


def check_loopback(host: str) -> str:
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        raise ConfigError(f"--host {host!r} does not resolve") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ConfigError(f"--host must be a loopback address (127.0.0.1, ::1, localhost), got {host!r}")
    return host


def make_server(
    service: ScoringService,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    allow_hosts: tuple[str, ...] = (),
    token: str | None = None,
    workers: int = 16,
    waiting: int = 256,
    timeout: float = 10.0,
) -> PooledHTTPServer:
    """An HTTP server bound to loopback (``port=0`` picks a free port) with ``workers`` threads
    and at most ``waiting`` connections queued for them (503 beyond). Requests must name a
    loopback host, ``host`` or one of ``allow_hosts`` in their ``Host`` header, and carry
    ``Authorization: Bearer <token>`` if ``token`` is set. A connection idle for ``timeout``
    seconds is closed."""
    check_loopback(host)
    if token is not None:
        check_token(token)
    hosts = check_hosts((host, *allow_hosts))
    attributes = {"service": service, "hosts": hosts, "token": token, "timeout": timeout}
    handler = type("Handler", (_Handler,), attributes)
    return PooledHTTPServer((host, port), handler, workers=workers, waiting=waiting)


def check_hosts(names: tuple[str, ...]) -> frozenset[str]:
    """The ``Host`` names answered: loopback names and ``names`` (``serve --allow-host``)."""
    try:
        return allowed_hosts(names)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


TOKEN_ENV = "HEALTH_MONITOR_SERVE_TOKEN"


def load_token(path: Path | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token ``serve`` requires: the contents of ``path`` (``--token-file``), else
    the environment variable ``HEALTH_MONITOR_SERVE_TOKEN``, else None (no token)."""
    if path is not None:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--token-file {path} cannot be read: {exc}") from None
        return check_token(text.strip())
    found = environ.get(TOKEN_ENV, "").strip()
    return check_token(found) if found else None


def check_token(token: str) -> str:
    """A bearer token must be printable ASCII without spaces, and long enough not to guess."""
    if not (16 <= len(token) <= 1024 and token.isascii() and token.isprintable() and " " not in token):
        raise ConfigError("the serve token must be 16-1024 printable ASCII characters without spaces")
    return token


def serve_in_thread(
    service: ScoringService, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[PooledHTTPServer, str]:
    """Start a server in a daemon thread; returns it and its base URL (for tests and benchmarks).
    ``options`` are :func:`make_server`'s."""
    server = make_server(service, host, port, **options)
    threading.Thread(target=server.serve_forever, daemon=True, name="health-monitor-serve").start()
    return server, f"http://{host}:{server.server_address[1]}"
