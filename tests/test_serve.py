"""Real-time scoring over HTTP on loopback: requests, hostile requests, OpenAPI, health."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import math

import pytest

from health_monitor.errors import ConfigError
from health_monitor.serving.app import ScoringService, make_server
from health_monitor.serving.httpd import check_loopback
from health_monitor.serving.scoring import Champions, plain


@pytest.fixture(scope="module")
def server(fake_trained_home):
    runtime, host = fake_trained_home
    service = ScoringService(Champions(runtime, host))
    warmed = service.warm()
    assert warmed.keys() == {"fake_anomaly", "fake_failure"}
    assert all(status.startswith("v1, ") and status.endswith(" rows scored") for status in warmed.values())
    httpd = make_server(service, port=0).start()
    yield httpd.server_address[1], runtime
    httpd.shutdown()


def request(port, method, path, body=None, raw=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = json.loads(response.read() or b"null")
    conn.close()
    return response.status, payload


def test_scores_a_point_in_time_model_as_of_a_day_or_latest(server):
    port, _ = server
    status, latest = request(port, "POST", "/models/fake_failure", {"entity": "e1"})
    assert status == 200, latest
    assert latest["model"] == "fake_failure" and latest["model_version"] == 1
    assert 0 <= latest["probability"] <= 1 and latest["prediction"] in (0.0, 1.0)
    status, early = request(port, "POST", "/models/fake_failure", {"entity": "e1", "as_of": "2026-01-05"})
    assert status == 200 and early["request"]["as_of"] == "2026-01-05"


def test_scores_an_exact_lookup_model(server):
    port, _ = server
    status, out = request(port, "POST", "/models/fake_anomaly", {"entity": "e2", "day": "2026-01-20"})
    assert status == 200, out
    assert 0 <= out["anomaly_score"] <= 1 and out["is_anomaly"] in (0, 1)


def test_health_and_openapi(server):
    port, _ = server
    status, health = request(port, "GET", "/health")
    assert status == 200 and health["models"]["fake_failure"]["champion_version"] == 1
    status, spec = request(port, "GET", "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    schema = spec["paths"]["/models/fake_failure"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert schema["required"] == ["entity"] and "as_of" in schema["properties"]
    assert schema["additionalProperties"] is False


HOSTILE = [
    ("/models/fake_failure", {}, 400, "entity", "required"),
    ("/models/fake_failure", {"entity": "e1'; DROP TABLE t; --"}, 400, "entity", "characters"),
    ("/models/fake_failure", {"entity": "nobody"}, 404, "entity", "unknown entity='nobody'"),
    ("/models/fake_failure", {"entity": ["e1"]}, 400, "entity", "must be a string"),
    ("/models/fake_failure", {"entity": True}, 400, "entity", "must be a string"),
    ("/models/fake_failure", {"entity": "e1", "as_of": "2026-13-01"}, 400, "as_of", "not a real date"),
    ("/models/fake_failure", {"entity": "e1", "as_of": "1999-01-01"}, 404, "as_of", "as of 1999-01-01"),
    ("/models/fake_failure", {"entity": "e1", "limit": 10**30}, 400, "limit", "unknown field"),
    ("/models/fake_failure", {"entity": "x" * 5000}, 400, "entity", "too long"),
    ("/models/fake_anomaly", {"entity": "e1", "day": "20260101"}, 400, "day", "YYYY-MM-DD"),
    (
        "/models/fake_anomaly",
        {"entity": "e1", "day": "2026-01-01", "as_of": "2026-01-01"},
        400,
        "as_of",
        "unknown",
    ),
    ("/models/nope", {"entity": "e1"}, 404, None, "no endpoint"),
    ("/models/fake_failure", [1, 2], 400, None, "JSON object"),
]


@pytest.mark.parametrize(("path", "body", "status", "field", "message"), HOSTILE)
def test_bad_requests_get_a_4xx_naming_the_field(server, path, body, status, field, message):
    port, runtime = server
    before = {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()}
    got, payload = request(port, "POST", path, body)
    assert got == status, payload
    assert payload["field"] == field and message in payload["error"]
    assert {t: runtime.lakehouse.version(t) for t in runtime.lakehouse.list_tables()} == before


def test_malformed_bodies_and_methods(server):
    port, _ = server
    assert request(port, "POST", "/models/fake_failure", raw=b"{not json")[0] == 400
    assert request(port, "POST", "/models/fake_failure", raw=b"\xff\xfe")[0] == 400
    assert request(port, "POST", "/models/fake_failure", raw=b"x" * 20000)[0] == 413
    assert request(port, "GET", "/models/fake_failure")[0] == 405
    assert request(port, "GET", "/../../etc/passwd")[0] == 404
    # the server is still up after all of that
    assert request(port, "GET", "/health")[0] == 200


def test_a_model_without_an_endpoint_is_served_at_its_name_only(fake_trained_home):
    runtime, host = fake_trained_home
    service = ScoringService(Champions(runtime, host))
    assert set(service.routes) == {"/models/fake_anomaly", "/models/fake_failure"}


@pytest.mark.parametrize("host", ["0.0.0.0", "8.8.8.8"])
def test_refuses_to_bind_beyond_loopback(host):
    with pytest.raises(ConfigError, match="loopback"):
        check_loopback(host)


@pytest.mark.parametrize("model", ["fake_failure", "fake_anomaly"])
def test_the_latest_answer_is_the_row_infer_wrote(server, model):
    """Served equals batch: an endpoint's latest answer is the entity's latest prediction row."""
    port, runtime = server
    rows = runtime.lakehouse.read_arrow(runtime.settings.predictions(model)).to_pandas()
    for _, row in rows.sort_values("day").groupby("entity").tail(1).iterrows():
        body = {"entity": row["entity"]} | ({"day": str(row["day"])[:10]} if model == "fake_anomaly" else {})
        status, out = request(port, "POST", f"/models/{model}", body)
        assert status == 200 and out["model_version"] == row["model_version"], out
        outputs = (
            ["prediction", "probability"] if model == "fake_failure" else ["anomaly_score", "is_anomaly"]
        )
        assert {c: out[c] for c in outputs} == {c: row[c] for c in outputs}


def test_an_as_of_answer_is_the_stored_row_as_of_that_day_else_scored_live(fake_trained_home):
    """Served equals batch for ``as_of``: the row ``infer`` wrote whose point-in-time lookups
    were as of that day answers, and equals live scoring; another day, or a row another
    version wrote, is scored live."""
    runtime, host = fake_trained_home
    service = ScoringService(Champions(runtime, host))
    champion = service.champions.get("fake_failure")
    scored_live = []
    score_rows = service.champions.score_rows
    service.champions.score_rows = lambda *args: scored_live.append(args) or score_rows(*args)
    rows = runtime.lakehouse.read_arrow(runtime.settings.predictions("fake_failure")).to_pandas()
    checked = []
    for _, row in rows.iloc[::5].iterrows():
        keys, at = {"entity": row["entity"]}, str(row["as_of"])[:10]  # fake_failure looks up as of `as_of`
        served = service.predict(champion, keys, at)
        assert served == {"prediction": plain(row["prediction"]), "probability": plain(row["probability"])}
        checked.append((keys, at, served))
    assert len(checked) >= 20 and scored_live == []  # every answer came from the stored rows
    for keys, at, served in checked:
        live = service.champions.score("fake_failure", keys, at)
        assert live.keys() == served.keys()
        assert all(math.isclose(live[c], served[c], rel_tol=1e-9, abs_tol=1e-12) for c in live), (keys, at)
    scored_live.clear()

    keys = {"entity": "e1"}
    unscored = str(max(rows["as_of"]) + dt.timedelta(days=1))[:10]  # features exist, no stored row
    assert service.predict(champion, keys, unscored) == service.champions.score(
        "fake_failure", keys, unscored
    )
    newer = dataclasses.replace(champion, version=champion.version + 1)  # the stored rows are v1's
    keys, at, served = checked[-1]
    assert service.predict(newer, keys, at) == served
    assert len(scored_live) == 3  # the unscored day (and its check), the other version's request
