"""Predictions over HTTP on loopback: one JSON request -> one prediction.

``POST`` a model's ``endpoint`` (e.g. ``/cost-anomaly``) or ``/models/<model>`` with the entity
(the model's non-time lookup keys) and, for a point-in-time model, optionally ``as_of``
(``YYYY-MM-DD``); ``GET /health``, ``/openapi.json``, ``/report`` and ``/report/<page>.html``
(under a CSP that forbids scripts). The answer is the row ``infer`` wrote, when the serving
champion wrote it (:meth:`ScoringService._stored`), else it is scored live from the online store.
A model whose champion cannot be loaded answers 503 with the reason; the others are served.
Stored text is cleaned; nothing is written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model

import health_monitor
from health_monitor.errors import HealthMonitorError
from health_monitor.reports.html import PAGE_HEADERS, ServedReport
from health_monitor.sdk.args import Identifier, IsoDate, ToolArgs, problems
from health_monitor.serving import httpd
from health_monitor.serving.httpd import App, Reply, RequestError, Server, json_reply
from health_monitor.serving.online import MISSING, equality_keys
from health_monitor.serving.scoring import Champion, Champions, plain
from health_monitor.untrusted import clean, message

log = logging.getLogger(__name__)

BOOKKEEPING = ("model_name", "model_version", "scored_at")  # prediction columns that are not outputs
_NO_ENDPOINT = "no endpoint {}; GET /openapi.json lists them"
_AS_OF = (IsoDate, Field(None, description="features as of this day (default: latest)"))
Key = Annotated[Identifier, BeforeValidator(lambda v: str(v) if type(v) is int else v)]  # 42 is "42"


def request_fields(champions: Champions, model: str) -> dict[str, str]:
    """What a request names -> 'date' or 'text': the lookup keys that are not points in time;
    a date when it is the model's time column or a looked-up table's timestamp key."""
    spec, tables = champions.spec(model), champions.host.feature_tables
    stamps = {lk.timestamp_lookup_key for lk in spec.lookups}
    looked_up = [tables[lk.table].spec.timestamp_key for lk in spec.lookups if lk.table in tables]
    dates = {spec.time_column, *looked_up}
    keys = [k for lk in spec.lookups for k in lk.lookup_key if k not in stamps]
    return {k: "date" if k in dates else "text" for k in dict.fromkeys(keys)}


class ScoringService:
    """Routes, validation and answers, independent of the HTTP server (and tested directly)."""

    def __init__(self, champions: Champions):
        self.champions, host = champions, champions.host
        self.report = ServedReport(champions.runtime, host)  # page name -> HTML or None
        self.routes = dict(sorted(host.endpoints.items())) | {f"/models/{m}": m for m in sorted(host.models)}
        self.fields = {m: request_fields(champions, m) for m in sorted(host.models)}
        self.requests: dict[str, type[BaseModel]] = {}
        for model, fields in self.fields.items():
            args: dict[str, Any] = {
                f: (IsoDate if kind == "date" else Key, Field(description=f"the entity's {f}"))
                for f, kind in fields.items()
            }
            if any(lk.timestamp_lookup_key for lk in host.models[model].spec.lookups):
                args["as_of"] = _AS_OF
            self.requests[model] = create_model(f"{model}_request", __base__=ToolArgs, **args)

    def warm(self, progress: Callable[[str], object] = lambda model: None) -> dict[str, str]:
        """Load every champion and the tables and indexes a request reads; ``progress(model)``
        after each. Returns each model's status."""
        status = {}
        for model, fields in self.fields.items():
            try:
                champion = self.champions.get(model)
                for lookup in champion.feature_spec.lookups:
                    table = self.champions.store.table(lookup.table_name)
                    table.index(tuple(equality_keys(table, lookup)))
                    if table.timestamp_key:
                        table.times()
                scored = "no predictions: scored live"
                if (rows := self.champions.predictions(model)) is not None:
                    rows.index(tuple(fields))
                    for column in {champion.spec.time_column, *champion.stamps} & set(rows.frame):
                        rows.times(column)
                    scored = f"{len(rows.frame):,} rows scored"
                status[model] = f"v{champion.version}, {scored}"
            except Exception as exc:  # one model's failure (or bug) leaves the others served
                if not isinstance(exc, HealthMonitorError):
                    log.exception("warming %s failed", model)
                    exc = HealthMonitorError(f"{type(exc).__name__}: {exc}")
                self.champions.hold(model, exc)  # its endpoint answers 503 with why, as /health says
                status[model] = f"unavailable: {exc}"
            progress(model)
        return status

    def health(self) -> dict[str, Any]:
        """``ok`` with every model's champion version; ``degraded`` with the reason under the
        name of a model whose champion could not be loaded when last tried."""
        models: dict[str, Any] = {}
        for model in self.fields:  # a model not tried yet is neither loaded nor unavailable
            held = self.champions.loaded.get(model, (None,))[0]
            found = {"champion_version": held.version} if isinstance(held, Champion) else {"loaded": False}
            models[model] = found | ({"unavailable": str(held)} if isinstance(held, Exception) else {})
        status = "degraded" if any("unavailable" in m for m in models.values()) else "ok"
        return {"status": status, "version": health_monitor.__version__, "models": models}

    def score(self, path: str, body: bytes) -> dict[str, Any]:
        """The answer to ``body`` (JSON text, as a client sent it) on ``path``."""
        if (model := self.routes.get(path)) is None:
            raise RequestError(HTTPStatus.NOT_FOUND, _NO_ENDPOINT.format(path[:100]))
        try:
            champion = self.champions.get(model)
        except HealthMonitorError as exc:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message(str(exc))) from None
        request = self.requests[model]
        try:
            args = dict(request.model_validate_json(body))
            json.loads(body, object_pairs_hook=_unique)  # pydantic keeps a repeated field's last value
        except ValidationError as exc:
            name, why = problems(exc, request, "this endpoint")[0]
            raise RequestError(HTTPStatus.BAD_REQUEST, why, name) from None
        at = None if (day := args.pop("as_of", None)) is None else str(day)
        keys = {k: str(v) for k, v in args.items()}
        answer = {"model": model, "model_version": champion.version, "request": {**keys, "as_of": at}}
        return clean({**answer, **self.predict(champion, keys, at)})

    def predict(self, champion: Champion, keys: dict[str, str], at: str | None) -> dict[str, Any]:
        """The outputs for a validated request: the row ``infer`` wrote, else scored live."""
        stored = self._stored(champion, keys, at)
        if stored is not None:
            return stored
        tables, positions = self.champions.store.resolve(champion.feature_spec, keys, at)
        for lookup, table, position in zip(champion.feature_spec.lookups, tables, positions, strict=True):
            if position == MISSING:  # 404 naming the field: no feature row at all, or none as of `at`
                field = lookup.keys[0]
                if tuple(keys[k] for k in lookup.keys) in table.index(tuple(equality_keys(table, lookup))):
                    why = f"no features for {field}={keys[field]!r} as of {at}"
                    raise RequestError(HTTPStatus.NOT_FOUND, why, "as_of")
                shown = ", ".join(f"{k}={keys[k]!r}" for k in lookup.keys)
                raise RequestError(HTTPStatus.NOT_FOUND, f"unknown {shown}: no features for it", field)
        return self.champions.score_rows(champion, (tables, positions))

    def _stored(self, champion: Champion, keys: dict[str, str], at: str | None) -> dict[str, Any] | None:
        """The outputs of the entity's row in the prediction table if the champion wrote it, else
        None: its latest row, or (``at``) the row whose point-in-time lookups were as of ``at``,
        whose features are those live scoring would look up (the model's inputs are looked up)."""
        table = self.champions.predictions(champion.spec.name)
        if table is None or not len(positions := table.positions(keys)):
            return None
        if at is None:
            i = int(positions[np.argmax(table.times(champion.spec.time_column)[positions])])
        elif not (stamps := champion.stamps) or not stamps <= set(table.frame.columns):
            return None
        else:
            day = np.datetime64(at, "ns")
            hits = np.logical_and.reduce([table.times(s)[positions] == day for s in stamps])
            if not hits.any():
                return None
            i = int(positions[np.argmax(hits)])
        frame = table.frame
        if "model_version" in frame and frame["model_version"].iat[i] != champion.version:
            return None
        skip = {*champion.spec.base_columns, *BOOKKEEPING}  # a row's cells, not frame.iloc (slower)
        return {str(c): plain(frame[c].iat[i]) for c in frame.columns if c not in skip}

    def allowed(self, path: str) -> str:
        if path in ("/health", "/openapi.json", "/report") or path.startswith("/report/"):
            return "GET"
        return "POST" if path in self.routes else "GET, POST"

    async def answer(self, method: str, path: str, body: bytes | None) -> Reply:
        """The reply to a request the HTTP layer admitted (``body``: a POST's)."""
        if body is not None:
            return json_reply(200, self.score(path, body))
        if path in ("/health", "/openapi.json"):
            return json_reply(200, self.health() if path == "/health" else self.openapi())
        if path != "/report" and not path.startswith("/report/"):
            raise RequestError(HTTPStatus.NOT_FOUND, _NO_ENDPOINT.format(path[:100]))
        if (html := await asyncio.to_thread(self.report.at, path)) is None:  # a build takes a thread
            raise RequestError(
                HTTPStatus.NOT_FOUND, f"no report page {path[:100]}; GET /report is the overview"
            )
        return 200, html.encode(), PAGE_HEADERS

    def openapi(self) -> dict[str, Any]:
        responses = {
            "200": {"description": "the prediction: standard outputs and the model's own columns"},
            "400": {"description": "a field is missing, unknown or malformed (named in `field`)"},
            "404": {"description": "the entity has no features"},
            "503": {"description": "no loadable champion (why: `error`, /health), or busy (`Retry-After`)"},
        }
        paths: dict[str, Any] = {"/health": {"get": {"responses": {"200": {"description": "status"}}}}}
        for path, model in self.routes.items():
            spec, schema = self.champions.spec(model), self.requests[model].model_json_schema()
            body = {"required": True, "content": {"application/json": {"schema": schema}}}
            summary = f"Score {model} ({spec.problem_type.value})"
            post = {"summary": summary, "description": spec.description, "requestBody": body}
            paths[path] = {"post": {**post, "responses": responses}}
        info = {"title": "health-monitor scoring", "version": health_monitor.__version__}
        return {"openapi": "3.1.0", "info": info, "paths": paths}


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a field appears twice (``{"a": 1, "a": 2}``)."""
    out = dict(pairs)
    if len(out) < len(pairs):
        twice = next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i]))
        raise RequestError(HTTPStatus.BAD_REQUEST, f"field {twice!r} appears more than once", twice)
    return out


def make_server(
    service: ScoringService,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    allow_hosts: tuple[str, ...] = (),
    token: str | None = None,
    limit: int = 256,
    timeout: float = 10.0,
) -> Server:
    """A server on loopback (``port=0``: a free one), at most ``limit`` open connections (503
    beyond), for requests whose ``Host`` is loopback, ``host`` or one of ``allow_hosts``, with
    ``Authorization: Bearer <token>`` if set (:func:`httpd.load_token` reads and checks it);
    ``timeout`` idle seconds close a connection."""
    hosts = httpd.allowed_hosts((httpd.check_loopback(host), *allow_hosts))
    return Server(App(service.answer, service.allowed, hosts, token, limit, timeout), host, port)
