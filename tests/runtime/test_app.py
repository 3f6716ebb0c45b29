"""The HTTP contract a CRM admin sees, with an in-memory sink (the point here is the HTTP layer).

Every rejected request must leave the sink empty: a row is written only for an accepted hit.
"""

from __future__ import annotations

import json
import logging

import pytest
from flask.testing import FlaskClient

from service.model.auth_settings import NoAuth
from service.model.service_env import ServiceSpec
from service.model.stream import Stream
from service.runtime.app import create_app
from service.runtime.settings import ServiceSettings
from service.runtime.sink import WriteFailed
from tests.fakes import MemorySink

FIXED_NOW_MS = 1603131452000  # 2020-10-19T18:17:32Z, the product's example


def spec_of(stream: Stream) -> ServiceSpec:
    return ServiceSpec.of(stream, "my-project")


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(sink: MemorySink) -> FlaskClient:
    stream = Stream(name="orders", dataset="crm", table="orders", time_zone="Europe/Berlin",
                    max_body_bytes=1000, auth=NoAuth())
    app = create_app(ServiceSettings(spec=spec_of(stream)), sink=sink, clock_ms=lambda: FIXED_NOW_MS)
    return app.test_client()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"orderId=N1&status=delivered&total=120.13&userId=U1"),
        ("application/x-www-form-urlencoded; charset=utf-8", b"orderId=N1&status=delivered"),
        ("application/json", b'{"orderId": "N1", "status": "delivered", "total": 120.13}'),
        ("application/json; charset=UTF-8", b'{"name": "J\xc3\xbcrgen"}'),
        ("text/xml", b"<order><id>N1</id></order>"),
        ("text/plain", b"free text \xe2\x82\xac"),
        (None, b"no content type at all"),
    ],
)
def test_post_with_any_content_type_stores_the_body_exactly(client: FlaskClient, sink: MemorySink,
                                                          content_type: str | None, body: bytes) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/hooks", data=body, headers=headers)
    assert response.status_code == 200
    assert len(sink.rows) == 1
    row = sink.rows[0]
    assert response.json == {"status": "stored", "hit_id": row["hit_id"], "stream": "orders"}
    assert row["payload"].encode("utf-8") == body
    assert row["received_at"] == FIXED_NOW_MS
    assert row["date"] == "2020-10-19"


def test_put_and_trailing_slash_are_accepted(client: FlaskClient, sink: MemorySink) -> None:
    assert client.put("/hooks/", data=b"orderId=N2&status=refunded").status_code == 200
    assert [row["payload"] for row in sink.rows] == ["orderId=N2&status=refunded"]


def test_get_ping_stores_the_raw_query_string(client: FlaskClient, sink: MemorySink) -> None:
    response = client.get("/hooks?orderId=N1&status=paid&note=a%20b+c")
    assert response.status_code == 200
    assert sink.rows[0]["payload"] == "orderId=N1&status=paid&note=a%20b+c"


def error_of(response: object) -> dict[str, str]:
    body = json.loads(response.get_data())  # type: ignore[attr-defined]
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "hint"),
    [
        ("POST", "/hooks", b"x" * 1001, 413, "body_too_large", "limit of 1000 bytes"),
        ("POST", "/hooks", b"orderId=N1&name=\xff\xfe", 400, "invalid_utf8", "offset 16"),
        ("POST", "/hooks", b"", 400, "empty_body", "needs a body"),
        ("GET", "/hooks", b"", 400, "empty_query", "query string"),
        ("POST", "/orders", b"a=1", 404, "not_found", "/hooks"),
        ("POST", "/", b"a=1", 404, "not_found", "/hooks"),
        ("DELETE", "/hooks", b"", 405, "method_not_allowed", "POST"),
        ("PATCH", "/hooks", b"a=1", 405, "method_not_allowed", "POST"),
        ("OPTIONS", "/hooks", b"", 405, "method_not_allowed", "POST"),
        ("HEAD", "/hooks?a=1", b"", 405, "", ""),
    ],
)
def test_bad_requests_get_an_actionable_json_error_and_write_nothing(
    client: FlaskClient, sink: MemorySink, method: str, path: str, body: bytes, status: int, code: str, hint: str
) -> None:
    response = client.open(path, method=method, data=body)
    assert response.status_code == status
    if method != "HEAD":  # a HEAD answer has no body by definition
        error = error_of(response)
        assert error["code"] == code
        assert hint in error["message"]
    if status == 405:
        assert "POST" in response.headers["Allow"]
    assert sink.rows == []


def test_a_failed_write_answers_503_with_retry_after_and_stores_nothing(client: FlaskClient,
                                                                        sink: MemorySink) -> None:
    sink.fail_with = WriteFailed("the warehouse did not accept the write; retry later", retry_after_seconds=7)
    response = client.post("/hooks", data=b"orderId=N1")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert error_of(response)["code"] == "not_stored"
    assert sink.rows == []


def test_health_answers_without_touching_the_sink(client: FlaskClient, sink: MemorySink) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "stream": "orders"}
    assert sink.rows == []


def test_logs_carry_stream_and_hit_id_but_never_the_payload(client: FlaskClient, sink: MemorySink,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hookstream")
    client.post("/hooks", data=b"orderId=N1&email=someone%40example.com",
                headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"})
    records = [r for r in caplog.records if r.getMessage() == "hit stored"]
    assert len(records) == 1
    assert records[0].hit_id == sink.rows[0]["hit_id"]  # type: ignore[attr-defined]
    assert records[0].stream == "orders"  # type: ignore[attr-defined]
    assert records[0].trace == "projects/my-project/traces/105445aa7843bc8bf206b12000100000"  # type: ignore[attr-defined]
    assert "someone" not in caplog.text


def test_metrics_endpoint_is_off_unless_asked_for(sink: MemorySink) -> None:
    stream = Stream(name="orders", dataset="crm", table="orders", auth=NoAuth())
    deployed = create_app(ServiceSettings(spec=spec_of(stream)), sink=sink).test_client()
    assert deployed.get("/metrics").status_code == 404
    local = create_app(ServiceSettings(spec=spec_of(stream), metrics_endpoint=True), sink=sink).test_client()
    local.post("/hooks", data=b"a=1")
    body = local.get("/metrics").json
    assert body is not None and body["hits"]["written"] == 1
