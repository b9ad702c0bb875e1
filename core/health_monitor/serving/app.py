"""Predictions over HTTP on loopback: one JSON request -> one prediction.

Endpoints: ``POST`` the path a model declares (``Model.endpoint``, e.g. ``/cost-anomaly``) or
``/models/<model>``; ``GET /health`` (status, champion versions); ``GET /openapi.json``
(generated from the request models); ``GET /report`` and ``/report/<page>.html`` (the HTML
report, its own page names only, under a Content-Security-Policy that forbids scripts).

A body names the entity (the model's non-time lookup keys, e.g. ``{"job_id": "42"}``) and, for
a point-in-time model, optionally ``as_of`` (``YYYY-MM-DD``). It is validated by a pydantic
model built from the spec with the argument types of the agent tools
(:mod:`health_monitor.sdk.args`): a bad request gets a 4xx whose message names the field.

The latest prediction is the row ``infer`` wrote to ``<model>_predictions``, so an endpoint
answers what the batch table says. It is scored live from the online store's features when
the request names ``as_of``, when ``infer`` has no row for the entity, or when the row is not
the champion's. A model whose champion cannot be loaded answers 503 with the reason (on
``/health`` too); the others are served. Answers carry stored text cleaned
(:mod:`health_monitor.untrusted`). Nothing is written.
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
from health_monitor.serving import httpd
from health_monitor.serving.httpd import JSONRequestHandler, PooledHTTPServer, RequestError
from health_monitor.serving.online import MISSING, OnlineTable
from health_monitor.serving.scoring import Champion, Champions, plain
from health_monitor.untrusted import clean, message

log = logging.getLogger(__name__)

RETRY_LOAD_SECONDS = 30.0  # a model that failed to load is tried again at most this often
BOOKKEEPING = ("model_name", "model_version", "scored_at")  # prediction columns that are not outputs
_REPORT_PAGE = re.compile(r"^/report(?:/(?P<page>[a-z0-9][a-z0-9_-]{0,100}\.html)?)?$")
Key = Annotated[Identifier, BeforeValidator(lambda v: str(v) if type(v) is int else v)]  # 42 is "42"
_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_pattern_mismatch": "has characters outside [A-Za-z0-9_.:@+-] or is too long",
}


def request_fields(champions: Champions, model: str) -> dict[str, str]:
    """What a request names -> 'date' or 'text': the lookup keys that are not points in time;
    a date when it is the model's time column or a looked-up table's timestamp key."""
    spec, tables = champions.spec(model), champions.host.feature_tables
    stamps = {lk.timestamp_lookup_key for lk in spec.lookups}
    dates = {spec.time_column} | {
        tables[lk.table].spec.timestamp_key for lk in spec.lookups if lk.table in tables
    }
    keys = [k for lk in spec.lookups for k in lk.lookup_key if k not in stamps]
    return {k: "date" if k in dates else "text" for k in dict.fromkeys(keys)}


def body_for(fields: dict[str, str], row: Any) -> dict[str, str]:
    """The request body naming ``row``'s entity: each of ``fields`` as text, dates as ``YYYY-MM-DD``."""
    return {f: str(row[f])[:10] if kind == "date" else str(row[f]) for f, kind in fields.items()}


class ScoringService:
    """Routes, validation and answers, independent of the HTTP server (and tested directly)."""

    def __init__(self, champions: Champions, report: Any = None):
        from health_monitor.reports.html import ServedReport

        self.champions, host = champions, champions.host
        self.report = report or ServedReport(champions.runtime, host)  # page name -> HTML or None
        self.routes = dict(sorted(host.endpoints.items())) | {f"/models/{m}": m for m in sorted(host.models)}
        self.fields = {m: request_fields(champions, m) for m in sorted(host.models)}
        self.requests: dict[str, type[BaseModel]] = {}
        for model, fields in self.fields.items():
            args: dict[str, Any] = {
                f: (IsoDate if kind == "date" else Key, Field(description=f"the entity's {f}"))
                for f, kind in fields.items()
            }
            if any(lk.timestamp_lookup_key for lk in host.models[model].spec.lookups):
                args["as_of"] = (
                    IsoDate,
                    Field(None, description="features as of this day (default: latest)"),
                )
            self.requests[model] = create_model(f"{model}_request", __base__=ToolArgs, **args)
        self.unavailable: dict[str, tuple[str, float]] = {}  # model -> (why, when it was tried)

    def warm(self, progress: Any = None) -> dict[str, str]:
        """Load every champion, its feature tables and its prediction table with the indexes a
        request uses; ``progress(model)`` is called after each model. Returns each one's status."""
        status = {}
        for model in self.fields:
            try:
                champion = self.champions.get(model)
                for lookup in champion.feature_spec.lookups:
                    table = self.champions.store.table(lookup.table_name)
                    table.index(tuple(table.keys_for(lookup)))
                    if table.timestamp_key:
                        table.times()
                rows = self._predictions(model)
                if rows is not None:
                    rows.index(tuple(self.fields[model]))
                    for column in {champion.spec.time_column, *_stamps(champion)} & set(rows.frame.columns):
                        rows.times(column)
                scored = (
                    f"{len(rows.frame):,} rows scored" if rows is not None else "no predictions: scored live"
                )
                status[model] = f"v{champion.version}, {scored}"
                self.unavailable.pop(model, None)
            except Exception as exc:  # one model's failure (or bug) leaves the others served
                if not isinstance(exc, HealthMonitorError):
                    log.exception("warming %s failed", model)
                status[model] = f"unavailable: {self._failed(model, exc)}"
            if progress is not None:
                progress(model)
        return status

    def _failed(self, model: str, exc: Exception) -> str:
        why = str(exc) if isinstance(exc, HealthMonitorError) else f"{type(exc).__name__}: {exc}"
        self.unavailable[model] = (why, time.monotonic())
        return why

    def health(self) -> dict[str, Any]:
        """``ok`` with every model's champion version; ``degraded`` with the reason under the
        name of a model that is unavailable."""
        models: dict[str, Any] = {}
        for model in self.fields:
            loaded, failed = self.champions.loaded.get(model), self.unavailable.get(model)
            models[model] = {"champion_version": loaded[0].version} if loaded else {"loaded": False}
            if failed is not None:
                models[model] = {"loaded": False, "unavailable": failed[0]}
        status = "degraded" if self.unavailable else "ok"
        return {"status": status, "version": health_monitor.__version__, "models": models}

    def score(self, path: str, body: Any) -> dict[str, Any]:
        model = self.routes.get(path)
        if model is None:
            raise RequestError(
                HTTPStatus.NOT_FOUND, f"no endpoint {path[:100]}; GET /openapi.json lists them"
            )
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        failed = self.unavailable.get(model)  # a broken model costs requests nothing for a while
        if failed is not None and time.monotonic() - failed[1] < RETRY_LOAD_SECONDS:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(failed[0]))
        try:
            champion = self.champions.get(model)
        except HealthMonitorError as exc:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(self._failed(model, exc))) from None
        self.unavailable.pop(model, None)
        try:
            args = dict(self.requests[model].model_validate(body))
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else None
            why = f"field {name!r} {_MESSAGES.get(error['type'], error['msg'].removeprefix('Value error, '))}"
            if error["type"] == "extra_forbidden":
                why = (
                    f"unknown field {name!r}; this endpoint takes {sorted(self.requests[model].model_fields)}"
                )
            raise RequestError(HTTPStatus.BAD_REQUEST, why, name) from None
        at = None if args.get("as_of") is None else str(args.pop("as_of"))
        keys = {k: str(v) for k, v in args.items() if k != "as_of"}
        answer = {"model": model, "model_version": champion.version, "request": {**keys, "as_of": at}}
        return clean({**answer, **self.predict(champion, keys, at)})

    def predict(self, champion: Champion, keys: dict[str, str], at: str | None) -> dict[str, Any]:
        """The outputs for a validated request: the row ``infer`` wrote, else scored live."""
        stored = self._stored(champion, keys, at)
        if stored is not None:
            return stored
        tables, positions = self.champions.resolve(champion, keys, at)
        for lookup, table, position in zip(champion.feature_spec.lookups, tables, positions, strict=True):
            if position == MISSING:  # 404 naming the field: no feature row at all, or none as of `at`
                field = lookup.keys[0]
                if tuple(keys[k] for k in lookup.keys) in table.index(tuple(table.keys_for(lookup))):
                    why = f"no features for {field}={keys[field]!r} as of {at}"
                    raise RequestError(HTTPStatus.NOT_FOUND, why, "as_of")
                shown = ", ".join(f"{k}={keys[k]!r}" for k in lookup.keys)
                raise RequestError(HTTPStatus.NOT_FOUND, f"unknown {shown}: no features for it", field)
        return self.champions.score_rows(champion, tables, positions)

    def _predictions(self, model: str) -> OnlineTable | None:
        try:
            return self.champions.store.table(self.champions.runtime.settings.predictions(model))
        except TableNotFoundError:
            return None

    def _stored(self, champion: Champion, keys: dict[str, str], at: str | None) -> dict[str, Any] | None:
        """The outputs of the entity's row in the prediction table if the champion wrote it, else
        None: its latest row, or (``at``) the row whose point-in-time lookups were as of ``at``,
        whose features are those live scoring would look up (the model's inputs are looked up)."""
        spec, table = champion.spec, self._predictions(champion.spec.name)
        positions = table.positions(keys) if table is not None else None
        if table is None or positions is None or not len(positions):
            return None
        if at is None:
            i = int(positions[np.argmax(table.times(spec.time_column)[positions])])
        else:
            stamps = _stamps(champion)
            if not stamps or not stamps <= set(table.frame.columns):
                return None
            day = np.datetime64(at, "ns")
            hits = np.logical_and.reduce([table.times(s)[positions] == day for s in stamps])
            if not hits.any():
                return None
            i = int(positions[np.argmax(hits)])
        frame = table.frame
        if "model_version" in frame and frame["model_version"].iat[i] != champion.version:
            return None
        skip = {*spec.base_columns, *BOOKKEEPING}  # a row's cells, not frame.iloc: a Series costs more
        return {str(c): plain(frame[c].iat[i]) for c in frame.columns if c not in skip}

    def openapi(self) -> dict[str, Any]:
        responses = {
            "200": {"description": "the prediction: standard outputs and the model's own columns"},
            "400": {"description": "a field is missing, unknown or malformed (named in `field`)"},
            "404": {"description": "the entity has no features"},
            "503": {"description": "no loadable champion (why: `error`, /health), or busy (`Retry-After`)"},
        }
        paths: dict[str, Any] = {
            "/health": {"get": {"summary": "Status", "responses": {"200": {"description": "ok"}}}}
        }
        for path, model in self.routes.items():
            spec, schema = self.champions.spec(model), self.requests[model].model_json_schema()
            content = {"application/json": {"schema": schema}}
            paths[path] = {
                "post": {
                    "summary": f"Score {model} ({spec.problem_type.value})",
                    "description": spec.description,
                    "requestBody": {"required": True, "content": content},
                    "responses": responses,
                }
            }
        info = {"title": "health-monitor scoring", "version": health_monitor.__version__}
        return {"openapi": "3.1.0", "info": info, "paths": paths}


def _stamps(champion: Champion) -> set[str]:
    """The base columns the champion's point-in-time lookups are as of."""
    return {lk.timestamp_lookup_key for lk in champion.feature_spec.lookups if lk.timestamp_lookup_key}


class _Handler(JSONRequestHandler):
    service: ScoringService  # set on the subclass make_server builds

    def allowed_methods(self) -> str:
        if self.path in ("/health", "/openapi.json", "/report") or self.path.startswith("/report/"):
            return "GET"
        return "POST" if self.path in self.service.routes else "GET, POST"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path in ("/health", "/openapi.json"):
            self.send_json(200, self.service.health() if self.path == "/health" else self.service.openapi())
        elif self.allowed_methods() == "GET":
            self._report()
        elif self.path in self.service.routes:
            self.not_allowed()
        else:
            why = f"no endpoint {self.path[:100]}; GET /openapi.json lists them"
            self.send_problem(RequestError(HTTPStatus.NOT_FOUND, why))

    def _report(self) -> None:
        from health_monitor.reports.html import CSP

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
        csp = {
            "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
        }
        self.send_body(200, html.encode(), "text/html; charset=utf-8", {**csp, "Cache-Control": "no-store"})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.allowed_methods() == "GET":
            return self.not_allowed()
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
    """A server bound to loopback (``port=0``: a free port) handling ``workers`` connections at
    once and ``waiting`` more (503 beyond), answering requests whose ``Host`` names loopback,
    ``host`` or one of ``allow_hosts``, with ``Authorization: Bearer <token>`` if ``token`` is
    set; a connection idle for ``timeout`` seconds is closed."""
    hosts = httpd.allowed_hosts((httpd.check_loopback(host), *allow_hosts))
    token = None if token is None else httpd.check_token(token)
    handler = type(
        "Handler", (_Handler,), {"service": service, "hosts": hosts, "token": token, "timeout": timeout}
    )
    return PooledHTTPServer((host, port), handler, workers=workers, waiting=waiting)


def serve_in_thread(
    service: ScoringService, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[PooledHTTPServer, str]:
    """Start :func:`make_server` (``options`` are its) in a daemon thread, for tests and
    benchmarks; returns the server and its base URL."""
    server = make_server(service, host, port, **options)
    threading.Thread(target=server.serve_forever, daemon=True, name="health-monitor-serve").start()
    return server, f"http://{host}:{server.server_address[1]}"
