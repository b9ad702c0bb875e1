"""Real-time scoring over HTTP on loopback: one JSON request -> one prediction.

Endpoints (each a ``POST`` with a JSON object):

- the path each installed model declares (``Model.endpoint``: ``/cost-anomaly``,
  ``/job-failure-risk``, ...), and ``/models/<model>`` for every model;
- ``GET /health``: status and the champion version of every model;
- ``GET /openapi.json``: an OpenAPI 3.1 description, generated from the request models;
- ``GET /report`` (and ``/report/<page>.html``): the HTML report (:mod:`health_monitor.reports.html`),
  only the report's own page names, with a Content-Security-Policy that forbids scripts.

A request names the entity (the model's non-time lookup keys, e.g. ``{"job_id": "42"}``) and,
for a point-in-time model, optionally ``as_of`` (``YYYY-MM-DD``). Its body is validated by a
pydantic model built from the model's spec with the argument types the agent tools use
(:mod:`health_monitor.sdk.args`); a bad request gets a 4xx whose message names the field.

The latest prediction is the row ``infer`` wrote to ``<model>_predictions`` (read through the
online store), so an endpoint answers what the batch table says. It is scored live, from the
online store's features, when the request names ``as_of``, when ``infer`` has no row for the
entity, or when the row was written by another version than the champion's. A model whose
champion cannot be loaded answers 503 with the reason, which ``/health`` reports too; the others
are served. Answers carry stored text cleaned (:mod:`health_monitor.untrusted`). Nothing is written.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http import HTTPStatus
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model

import health_monitor
from health_monitor.errors import HealthMonitorError, TableNotFoundError
from health_monitor.sdk.args import Identifier, IsoDate, ToolArgs
from health_monitor.sdk.specs import Model
from health_monitor.serving.httpd import JSONRequestHandler, PooledHTTPServer, RequestError, allowed_hosts
from health_monitor.serving.online import MISSING, OnlineTable
from health_monitor.serving.scoring import Champion, Champions, plain
from health_monitor.untrusted import clean, message

log = logging.getLogger(__name__)

RETRY_LOAD_SECONDS = 30.0  # a model that failed to load is tried again at most this often
BOOKKEEPING = ("model_name", "model_version", "scored_at")  # prediction columns that are not outputs
_REPORT_PAGE = re.compile(r"^/report(?:/(?P<page>[a-z0-9][a-z0-9_-]{0,100}\.html)?)?$")
# An entity key: an identifier as the tools take it; a JSON number is taken as its text.
Key = Annotated[Identifier, BeforeValidator(lambda v: str(v) if type(v) is int else v)]
_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_pattern_mismatch": "has characters outside [A-Za-z0-9_.:@+-] or is too long",
}


def request_fields(spec: Model, host: Any) -> dict[str, str]:
    """What a request for ``spec`` names -> 'date' or 'text': every lookup key that is not a
    point in time; a date when it is the model's time column or its feature table's timestamp."""
    stamps = {lk.timestamp_lookup_key for lk in spec.lookups}
    out: dict[str, str] = {}
    for lookup in spec.lookups:
        owned = host.feature_tables.get(lookup.table)
        table = owned.spec if owned is not None else None
        columns = (
            [k for k in table.primary_keys if not (lookup.timestamp_lookup_key and k == table.timestamp_key)]
            if table
            else []
        )
        for i, key in enumerate(lookup.lookup_key):
            if key not in stamps and key not in out:
                stamp = table is not None and i < len(columns) and columns[i] == table.timestamp_key
                out[key] = "date" if stamp or key == spec.time_column else "text"
    return out


def request_model(spec: Model, fields: dict[str, str]) -> type[BaseModel]:
    """The pydantic model of a request body for ``spec``: the one validation of the endpoint."""
    args: dict[str, Any] = {
        name: (IsoDate if kind == "date" else Key, Field(description=f"{name} of the entity to score"))
        for name, kind in fields.items()
    }
    if any(lk.timestamp_lookup_key for lk in spec.lookups):
        args["as_of"] = (
            IsoDate,
            Field(None, description="Take point-in-time features as of this day (default: latest)"),
        )
    return create_model(f"{spec.name}_request", __base__=ToolArgs, **args)


def body_for(fields: dict[str, str], row: Any) -> dict[str, str]:
    """The request body naming ``row``'s entity (a prediction or feature row): each of
    ``fields`` (:attr:`ScoringService.fields` of the model) as text, dates as ``YYYY-MM-DD``."""
    return {f: str(row[f])[:10] if kind == "date" else str(row[f]) for f, kind in fields.items()}


class ScoringService:
    """Routes, validation and answers, independent of the HTTP server (and tested directly)."""

    def __init__(self, champions: Champions, report: Any = None):
        self.champions = champions
        if report is None:
            from health_monitor.reports.html import ServedReport

            report = ServedReport(champions.runtime, champions.host)
        self.report = report  # answers GET /report: page name -> HTML or None
        host = champions.host
        self.routes: dict[str, str] = dict(sorted(host.endpoints.items()))
        self.routes.update({f"/models/{m}": m for m in sorted(host.models)})
        self.fields = {m: request_fields(o.spec, host) for m, o in sorted(host.models.items())}
        self.requests = {m: request_model(host.models[m].spec, f) for m, f in self.fields.items()}
        self.unavailable: dict[str, tuple[str, float]] = {}  # model -> (why, when it was tried)

    def warm(self, progress: Any = None) -> dict[str, str]:
        """Load every champion, its feature tables and its prediction table now, with the
        indexes a request uses. ``progress(model)`` is called after each model."""
        status = {}
        for model in self.fields:
            try:
                champion = self.champions.get(model)
                for lookup in champion.feature_spec.lookups:
                    table = self.champions.store.table(lookup.table_name)
                    table.index(tuple(table.keys_for(lookup)))
                    if table.timestamp_key is not None:
                        table.times()
                rows = self._predictions(model)
                if rows is not None:
                    rows.index(tuple(self.fields[model]))
                    rows.sort_key(champion.spec.time_column)
                done = (
                    f"{len(rows.frame):,} rows scored" if rows is not None else "no predictions: scored live"
                )
                status[model] = f"v{champion.version}, {done}"
            except Exception as exc:  # one model's failure (or bug) leaves the others served
                if not isinstance(exc, HealthMonitorError):
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
        models: dict[str, Any] = {}
        for model in self.fields:
            loaded, failed = self.champions.loaded.get(model), self.unavailable.get(model)
            if failed is not None:
                models[model] = {"loaded": False, "unavailable": failed[0]}
            else:
                models[model] = {"champion_version": loaded[0].version} if loaded else {"loaded": False}
        status = "degraded" if self.unavailable else "ok"
        return {"status": status, "version": health_monitor.__version__, "models": models}

    def _ready(self, model: str) -> Champion:
        """The champion of ``model``, or 503 naming why not. A model that failed is not tried
        again for ``RETRY_LOAD_SECONDS``: a broken one costs requests nothing."""
        failed = self.unavailable.get(model)
        if failed is not None and time.monotonic() - failed[1] < RETRY_LOAD_SECONDS:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(failed[0]))
        try:
            champion = self.champions.get(model)
        except HealthMonitorError as exc:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(self._failed(model, exc))) from None
        self.unavailable.pop(model, None)
        return champion

    def score(self, path: str, body: Any) -> dict[str, Any]:
        model = self.routes.get(path)
        if model is None:
            raise RequestError(
                HTTPStatus.NOT_FOUND, f"no endpoint {path[:100]}; GET /openapi.json lists them"
            )
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        champion = self._ready(model)
        try:
            args = dict(self.requests[model].model_validate(body))
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else None
            if error["type"] == "extra_forbidden":
                why = (
                    f"unknown field {name!r}; this endpoint takes {sorted(self.requests[model].model_fields)}"
                )
            else:
                why = f"field {name!r} {_MESSAGES.get(error['type'], error['msg'].removeprefix('Value error, '))}"
            raise RequestError(HTTPStatus.BAD_REQUEST, why, name) from None
        at = args.pop("as_of", None)
        keys = {k: str(v) for k, v in args.items()}
        at = None if at is None else str(at)
        answer = {"model": model, "model_version": champion.version, "request": {**keys, "as_of": at}}
        return clean({**answer, **self.predict(champion, keys, at)})

    def predict(self, champion: Champion, keys: dict[str, str], at: str | None) -> dict[str, Any]:
        """The outputs for a validated request: the row ``infer`` wrote, else scored live."""
        stored = None if at is not None else self._stored(champion, keys)
        if stored is not None:
            return stored
        tables, positions = self.champions.resolve(champion, keys, at)
        for lookup, table, position in zip(champion.feature_spec.lookups, tables, positions, strict=True):
            if position == MISSING:
                _not_found(lookup, table, keys, at)
        return self.champions.score_rows(champion, tables, positions)

    def _predictions(self, model: str) -> OnlineTable | None:
        try:
            return self.champions.store.table(self.champions.runtime.settings.predictions(model))
        except TableNotFoundError:
            return None

    def _stored(self, champion: Champion, keys: dict[str, str]) -> dict[str, Any] | None:
        """The outputs of the latest prediction of the entity ``keys`` name, if the champion
        wrote it; None when there is none (a miss)."""
        spec = champion.spec
        table = self._predictions(spec.name)
        positions = table.positions(keys) if table is not None else None
        if table is None or positions is None or not len(positions):
            return None
        latest = positions[np.argmax(table.sort_key(spec.time_column)[positions])]
        (row,) = table.records([latest])
        if "model_version" in row and row["model_version"] != champion.version:
            return None
        skip = {*spec.base_columns, *BOOKKEEPING}
        return {c: plain(v) for c, v in row.items() if c not in skip}

    def openapi(self) -> dict[str, Any]:
        responses = {
            "200": {"description": "the prediction: standard outputs and the model's own columns"},
            "400": {"description": "a field is missing, unknown or malformed (named in `field`)"},
            "404": {"description": "the entity has no features"},
            "503": {
                "description": "the model has no champion version yet or cannot be loaded (why: in "
                "`error` and on /health), or the server is busy (`Retry-After`)"
            },
        }
        paths: dict[str, Any] = {
            "/health": {
                "get": {
                    "summary": "Service status and champion versions",
                    "responses": {"200": {"description": "ok"}},
                }
            }
        }
        for path, model in sorted(self.routes.items()):
            spec = self.champions.spec(model)
            schema = self.requests[model].model_json_schema()
            paths[path] = {
                "post": {
                    "summary": f"Score {model} ({spec.problem_type.value})",
                    "description": spec.description,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                    "responses": responses,
                }
            }
        info = {"title": "health-monitor scoring", "version": health_monitor.__version__}
        return {"openapi": "3.1.0", "info": info, "paths": paths}


def _not_found(lookup: Any, table: OnlineTable, keys: dict[str, str], at: str | None) -> None:
    """404 naming the field: the entity has no feature row at all, or none as of ``at``."""
    field = lookup.keys[0]
    if tuple(keys[b] for b in lookup.keys) not in table.index(tuple(table.keys_for(lookup))):
        shown = ", ".join(f"{b}={keys[b]!r}" for b in lookup.keys)
        raise RequestError(HTTPStatus.NOT_FOUND, f"unknown {shown}: no features for it", field)
    raise RequestError(HTTPStatus.NOT_FOUND, f"no features for {field}={keys[field]!r} as of {at}", "as_of")


class _Handler(JSONRequestHandler):
    service: ScoringService  # set on the subclass make_server builds

    def allowed_methods(self) -> str:
        if self.path in ("/health", "/openapi.json", "/report") or self.path.startswith("/report/"):
            return "GET"
        return "POST" if self.path in self.service.routes else "GET, POST"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path == "/health":
            self.send_json(200, self.service.health())
        elif self.path == "/openapi.json":
            self.send_json(200, self.service.openapi())
        elif self.allowed_methods() == "GET":
            self._report()
        elif self.path in self.service.routes:
            self.not_allowed()
        else:
            why = f"no endpoint {self.path[:100]}; GET /openapi.json lists them"
            self.send_problem(RequestError(HTTPStatus.NOT_FOUND, why))

    def _report(self) -> None:
        """A page of the report, by an allow-list: the report's own page names, nothing else."""
        found = _REPORT_PAGE.match(self.path)
        try:
            html = self.service.report.page(found["page"] or "index.html") if found else None
        except Exception:  # a report that cannot be built answers 500, logged; scoring goes on
            log.exception("building the report failed")
            why = "the report could not be built; see the server log"
            self.send_problem(RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, why))
            return
        if html is None:
            why = f"no report page {self.path[:100]}; GET /report is the overview"
            self.send_problem(RequestError(HTTPStatus.NOT_FOUND, why))
            return
        from health_monitor.reports.html import CSP

        headers = {
            "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        }
        self.send_body(200, html.encode(), "text/html; charset=utf-8", headers)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.allowed_methods() == "GET":
            self.not_allowed()
            return
        try:
            self.send_json(200, self.service.score(self.path, self.read_json()))
        except RequestError as exc:
            self.send_problem(exc)
        except Exception:  # a bug answers 500 and is logged; the server goes on
            log.exception("scoring %s failed", self.path)
            self.send_problem(
                RequestError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log")
            )


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
    """An HTTP server bound to loopback (``port=0`` picks a free port) handling at most
    ``workers`` connections at once and ``waiting`` more (503 beyond). Requests must name a
    loopback host, ``host`` or one of ``allow_hosts`` in their ``Host`` header, and carry
    ``Authorization: Bearer <token>`` if ``token`` is set. A connection idle for ``timeout``
    seconds is closed."""
    from health_monitor.serving.httpd import check_loopback, check_token

    check_loopback(host)
    attributes = {
        "service": service,
        "hosts": allowed_hosts((host, *allow_hosts)),
        "token": None if token is None else check_token(token),
        "timeout": timeout,
    }
    handler = type("Handler", (_Handler,), attributes)
    return PooledHTTPServer((host, port), handler, workers=workers, waiting=waiting)


def serve_in_thread(
    service: ScoringService, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[PooledHTTPServer, str]:
    """Start a server in a daemon thread; returns it and its base URL (for tests and benchmarks).
    ``options`` are :func:`make_server`'s."""
    server = make_server(service, host, port, **options)
    threading.Thread(target=server.serve_forever, daemon=True, name="health-monitor-serve").start()
    return server, f"http://{host}:{server.server_address[1]}"
