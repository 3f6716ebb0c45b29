"""What the app answers senders besides its JSON: the Salesforce Ack only once the row is stored, handshakes
answered without a row, logged and counted, and HubSpot's URL rebuilt from what the request carried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service.model.senders import BodyToken, HubSpot, Keap, Salesforce
from service.model.service_env import ServiceSpec
from service.model.stream import Stream
from service.runtime.app import create_app
from service.runtime.settings import ServiceSettings
from service.runtime.sink import WriteFailed
from tests.fakes import MemorySink

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "operator" / "samples"
TOKEN = "sender-answers-token-0123456789"
ACK = (b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
       b'envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
       b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")


def app_for(stream: Stream, sink: MemorySink, secret: str = TOKEN, now_ms: int = 1_764_421_200_000) -> FlaskClient:
    settings = ServiceSettings(spec=ServiceSpec.of(stream, "my-project"), metrics_endpoint=True, secrets=(secret,))
    return create_app(settings, sink=sink, clock_ms=lambda: now_ms).test_client()


def test_salesforce_gets_its_ack_only_once_the_row_is_stored() -> None:
    sink = MemorySink()
    client = app_for(Stream(name="sf", dataset="crm", table="sf", auth=Salesforce(("00D7Q000006hT3bUAE",))), sink)
    body = (SAMPLES / "salesforce.xml").read_bytes()
    sink.fail_with = WriteFailed("the warehouse did not accept the write; retry later", retry_after_seconds=7)
    failed = client.post(f"/hooks/{TOKEN}", data=body, content_type="text/xml; charset=utf-8")
    assert failed.status_code == 503 and b"<Ack>" not in failed.data  # no Ack: Salesforce sends it again
    assert sink.rows == []
    sink.fail_with = None
    stored = client.post(f"/hooks/{TOKEN}", data=body, content_type="text/xml; charset=utf-8")
    assert (stored.status_code, stored.data, stored.headers["Content-Type"]) == (200, ACK, "text/xml; charset=utf-8")
    assert [row["delivery_id"] for row in sink.rows] == ["04l7Q00000Bq1XyQAJ 04l7Q00000Bq1XzQAJ"]


def test_keap_handshake_is_answered_logged_and_counted_but_not_stored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hookstream")
    sink = MemorySink()
    client = app_for(Stream(name="keap", dataset="crm", table="keap", auth=Keap()), sink)
    answer = client.post(f"/hooks/{TOKEN}", data=b"", headers={"X-Hook-Secret": "f00dfeed0123"})
    assert (answer.status_code, answer.headers["X-Hook-Secret"]) == (200, "f00dfeed0123")
    refused = client.post("/hooks/not-the-token-0123456789", data=b"", headers={"X-Hook-Secret": "f00dfeed0123"})
    assert refused.status_code == 401 and "X-Hook-Secret" not in refused.headers
    event = client.post(f"/hooks/{TOKEN}", data=(SAMPLES / "keap.json").read_bytes(),
                        content_type="application/json")
    assert event.status_code == 200
    assert len(sink.rows) == 1  # the event only
    assert [r.getMessage() for r in caplog.records].count("handshake answered") == 1
    metrics = client.get("/metrics").json
    assert metrics is not None
    hits = metrics["hits"]
    assert (hits["received"], hits["handshakes"], hits["written"]) == (3, 1, 1)


def test_hubspot_url_is_rebuilt_as_https_with_the_host_and_the_target_as_sent() -> None:
    sink = MemorySink()
    secret = "hubspot-client-secret-0123456789"
    client = app_for(Stream(name="hs", dataset="crm", table="hs", auth=HubSpot()), sink, secret=secret)
    body, timestamp = b'[{"eventId":1}]', "1764421200000"
    signed_uri = "https://hooks.example.run.app/hooks?portal=46811123&src=a:b"  # %3A decoded, as HubSpot says
    signature = base64.b64encode(hmac.new(secret.encode(), b"POST" + signed_uri.encode() + body + timestamp.encode(),
                                          hashlib.sha256).digest()).decode()
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp,
               "Host": "hooks.example.run.app"}
    answer = client.post("/hooks?portal=46811123&src=a%3Ab", data=body, headers=headers,
                         content_type="application/json")
    assert answer.status_code == 200, answer.data
    other_host = client.post("/hooks?portal=46811123&src=a%3Ab", data=body,
                             headers={**headers, "Host": "attacker.example"}, content_type="application/json")
    assert other_host.status_code == 401 and len(sink.rows) == 1


def test_a_body_token_is_checked_then_replaced_in_the_stored_payload() -> None:
    sink = MemorySink()
    secret = "shared/secret+with=odd&chars-0123"
    client = app_for(Stream(name="bt", dataset="crm", table="bt", auth=BodyToken("meta.secret")), sink, secret=secret)
    body = b'{"orderId": "N1", "meta": {"secret": "shared/secret+with=odd&chars-0123"}, "status": "paid"}'
    assert client.post("/hooks", data=body, content_type="application/json").status_code == 200
    assert [row["payload"] for row in sink.rows] == [
        '{"orderId": "N1", "meta": {"secret": "[redacted]"}, "status": "paid"}']
    form = app_for(Stream(name="bf", dataset="crm", table="bf", auth=BodyToken("token", format="form")), sink,
                   secret=secret)
    answer = form.post("/hooks", data=b"orderId=N2&token=shared%2Fsecret%2Bwith%3Dodd%26chars-0123&status=paid",
                       content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert sink.rows[-1]["payload"] == "orderId=N2&token=[redacted]&status=paid"
