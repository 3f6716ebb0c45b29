"""Every sender preset through a real gunicorn into the emulator's table: a request built with the vendor's
documented algorithm is stored (and answered as the sender expects), the same request tampered is refused
with 401 and stores nothing, and handshakes are answered byte for byte without becoming rows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.model.auth_settings import Auth
from service.model.senders import (
    Bitrix24,
    Close,
    Dynamics,
    GitHub,
    HubSpot,
    Keap,
    Monday,
    Pipedrive,
    Salesforce,
    Shopify,
    Slack,
    StandardWebhooks,
    Stripe,
    WooCommerce,
    Zendesk,
)
from service.model.stream import Stream
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.local.dev_secrets import generate_secret
from tools.operator.sender_requests import ShapedRequest, handshake_request, shape_request

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "operator" / "samples"
ORG = "00D7Q000006hT3bUAE"
ORDER = b'{"orderId": "N1", "status": "delivered", "total": 120.13}'
SALESFORCE_ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
    b'envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")


@dataclass(frozen=True)
class Case:
    auth: Auth
    body: bytes
    content_type: str = "application/json"
    secret_in_url: bool = False  # the secret is part of the endpoint URL the CRM is given
    delivery_id: str | None = None
    # Headers the vendor sends besides its signature (values as its documentation shows them), and the
    # `headers` column the row must get: written out, with no signature, timestamp or secret in it.
    vendor_headers: tuple[tuple[str, str], ...] = ()
    kept: tuple[tuple[str, str], ...] = (("method", "POST"), ("content-type", "application/json"))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


FORM = (("method", "POST"), ("content-type", "application/x-www-form-urlencoded"))
JSON = (("method", "POST"), ("content-type", "application/json"))
USER_AGENT = ("User-Agent", "Shopify-Captain-Hook")  # sent by most vendors, kept by none
CASES: dict[str, Case] = {
    "HubSpot": Case(HubSpot(), sample("hubspot.json"), vendor_headers=(("X-HubSpot-Signature-Version", "v3"),)),
    "Stripe": Case(Stripe(), sample("stripe.json"), delivery_id="evt_3QxR2cLkdIwHu7ix0fG8Yh1a",
                   vendor_headers=(("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),)),
    "Salesforce": Case(Salesforce((ORG,)), sample("salesforce.xml"), "text/xml; charset=utf-8", True,
                       "04l7Q00000Bq1XyQAJ 04l7Q00000Bq1XzQAJ", (("SOAPAction", '""'),),
                       (("method", "POST"), ("content-type", "text/xml; charset=utf-8"))),
    "Keap": Case(Keap(), sample("keap.json"), secret_in_url=True),
    "Close": Case(Close(), sample("close.json")),
    "Pipedrive": Case(Pipedrive(), sample("pipedrive.json")),
    "Dynamics": Case(Dynamics(), sample("dynamics.json"), delivery_id="msg-e2e-1", vendor_headers=(
        ("x-ms-dynamics-organization", "contoso.crm4.dynamics.com"), ("x-ms-dynamics-entity-name", "account"),
        ("x-ms-dynamics-request-name", "Update"),
        ("x-ms-correlation-request-id", "2ae7b3a4-0d5c-4a3c-9c67-0f5e1b4d2c11")), kept=(
        *JSON, ("x-request-id", "msg-e2e-1"), ("x-ms-dynamics-organization", "contoso.crm4.dynamics.com"),
        ("x-ms-dynamics-entity-name", "account"), ("x-ms-dynamics-request-name", "Update"),
        ("x-ms-correlation-request-id", "2ae7b3a4-0d5c-4a3c-9c67-0f5e1b4d2c11"))),
    "Bitrix24": Case(Bitrix24(), sample("bitrix24.form"), "application/x-www-form-urlencoded", kept=FORM),
    "Monday": Case(Monday(), sample("monday.json"), secret_in_url=True),
    "GitHub": Case(GitHub(), ORDER, delivery_id="msg-e2e-1", vendor_headers=(
        ("X-GitHub-Event", "issues"), ("X-GitHub-Hook-ID", "292430182"),
        ("X-GitHub-Hook-Installation-Target-ID", "79929171"),
        ("X-GitHub-Hook-Installation-Target-Type", "repository"), ("User-Agent", "GitHub-Hookshot/044aadd")),
        kept=(*JSON, ("x-github-event", "issues"), ("x-github-delivery", "msg-e2e-1"),
              ("x-github-hook-id", "292430182"), ("x-github-hook-installation-target-type", "repository"),
              ("x-github-hook-installation-target-id", "79929171"))),
    "Slack": Case(Slack(), b"orderId=N1&status=delivered", "application/x-www-form-urlencoded", vendor_headers=(
        ("X-Slack-Retry-Num", "1"), ("X-Slack-Retry-Reason", "http_timeout")),
        kept=(*FORM, ("x-slack-retry-num", "1"), ("x-slack-retry-reason", "http_timeout"))),
    "Shopify": Case(Shopify(), ORDER, delivery_id="msg-e2e-1", vendor_headers=(
        ("X-Shopify-Topic", "orders/paid"), ("X-Shopify-Shop-Domain", "johns-apparel.myshopify.com"),
        ("X-Shopify-API-Version", "2024-07"), ("X-Shopify-Triggered-At", "2023-03-29T18:00:27.877041743Z"),
        ("X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5"), USER_AGENT),
        kept=(*JSON, ("x-shopify-topic", "orders/paid"), ("x-shopify-shop-domain", "johns-apparel.myshopify.com"),
              ("x-shopify-webhook-id", "msg-e2e-1"), ("x-shopify-triggered-at", "2023-03-29T18:00:27.877041743Z"),
              ("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5"), ("x-shopify-api-version", "2024-07"))),
    "WooCommerce": Case(WooCommerce(), ORDER, delivery_id="msg-e2e-1", vendor_headers=(
        ("X-WC-Webhook-Source", "https://shop.example.com/"), ("X-WC-Webhook-Topic", "order.updated"),
        ("X-WC-Webhook-Resource", "order"), ("X-WC-Webhook-Event", "updated"), ("X-WC-Webhook-ID", "12")),
        kept=(*JSON, ("x-wc-webhook-topic", "order.updated"), ("x-wc-webhook-resource", "order"),
              ("x-wc-webhook-event", "updated"), ("x-wc-webhook-id", "12"),
              ("x-wc-webhook-delivery-id", "msg-e2e-1"), ("x-wc-webhook-source", "https://shop.example.com/"))),
    "Zendesk": Case(Zendesk(), ORDER, vendor_headers=(
        ("x-zendesk-account-id", "123456"), ("x-zendesk-webhook-id", "01F1KRFQ6BG29CNWFR60NK5FNY"),
        ("x-zendesk-webhook-invocation-id", "8350205582")),
        kept=(*JSON, ("x-zendesk-account-id", "123456"), ("x-zendesk-webhook-id", "01F1KRFQ6BG29CNWFR60NK5FNY"),
              ("x-zendesk-webhook-invocation-id", "8350205582"))),
    "StandardWebhooks": Case(StandardWebhooks(), ORDER, delivery_id="msg-e2e-1",
                             kept=(*JSON, ("webhook-id", "msg-e2e-1"))),
}
WRONG_SECRET = "not-this-streams-secret-0123456789abcdef"
TIMESTAMPED = ("HubSpot", "Stripe", "Close", "Slack", "Zendesk", "StandardWebhooks")


def send(service: RunningService, shaped: ShapedRequest, content_type: str,
         vendor_headers: tuple[tuple[str, str], ...] = ()) -> tuple[int, bytes, http.client.HTTPResponse]:
    target = urlsplit(shaped.url)
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request(shaped.method, path, body=shaped.body,
                           headers={"Content-Type": content_type, **dict(vendor_headers), **shaped.headers})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def table_of(emulator: Emulator, stream: Stream) -> str:
    return f"{emulator.project}.{stream.table_ref}"


def rows_of(emulator: Emulator, stream: Stream) -> list[dict[str, object]]:
    return emulator.query(f"SELECT payload, delivery_id FROM `{emulator.project}.{stream.table_ref}`")


def endpoint(service: RunningService, case: Case, secret: str) -> str:
    return f"{service.hooks_url}/{secret}" if case.secret_in_url else service.hooks_url


@pytest.mark.parametrize("name", CASES)
def test_preset_stores_a_documented_request_and_refuses_it_tampered(
        name: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    case = CASES[name]
    stream = Stream(name="sender", dataset="it_senders", table=name.lower(), auth=case.auth)
    secret = generate_secret(case.auth)
    service = start_stream_service(stream, secrets=(secret,))
    url = endpoint(service, case, secret)
    shaped = shape_request(case.auth, secret, url, case.body, time.time(), "msg-e2e-1")

    status, answer, response = send(service, shaped, case.content_type, case.vendor_headers)
    assert status == 200, answer
    if name == "Salesforce":
        assert answer == SALESFORCE_ACK
        assert response.getheader("Content-Type") == "text/xml; charset=utf-8"
    else:
        assert json.loads(answer)["status"] == "stored"
    stored = shaped.body.decode()
    if name == "Bitrix24":  # the token the body carries is not kept in the table
        stored = sample("bitrix24.form").decode() + "&auth%5Bapplication_token%5D=[redacted]"
    assert rows_of(emulator, stream) == [{"payload": stored, "delivery_id": case.delivery_id}]
    (kept_text,) = [row["headers"] for row in emulator.query(f"SELECT headers FROM `{table_of(emulator, stream)}`")]
    assert json.loads(kept_text) == dict(case.kept)
    for signature_part in (secret, *shaped.headers.values()):  # nothing the check reads but a delivery id
        assert signature_part == case.delivery_id or signature_part not in kept_text

    if case.secret_in_url or name in ("Pipedrive", "Dynamics", "Bitrix24"):
        # A token covers no body: the tampered part is the secret the request carries.
        tampered = shape_request(case.auth, WRONG_SECRET, endpoint(service, case, WRONG_SECRET), case.body,
                                 time.time(), "msg-e2e-1")
    else:
        tampered = ShapedRequest(shaped.url, shaped.body.replace(b"1", b"2", 1), shaped.headers)
    tampered_status, tampered_answer, _ = send(service, tampered, case.content_type)
    assert tampered_status == 401, tampered_answer
    assert secret not in tampered_answer.decode()
    if name in TIMESTAMPED:  # signed correctly, but 400 s ago: a replay
        stale = shape_request(case.auth, secret, url, case.body, time.time() - 400, "msg-e2e-2")
        stale_status, stale_answer, _ = send(service, stale, case.content_type)
        assert (stale_status, json.loads(stale_answer)["error"]["code"]) == (401, "stale_timestamp")
    assert len(rows_of(emulator, stream)) == 1


def test_hubspot_uri_timestamp_and_header_tampering_is_refused(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="hubspot", dataset="it_senders", table="hubspot_tamper", auth=HubSpot())
    secret = generate_secret(stream.auth)
    service = start_stream_service(stream, secrets=(secret,))
    body = sample("hubspot.json")
    good = shape_request(stream.auth, secret, service.hooks_url, body, time.time(), "")
    stale = shape_request(stream.auth, secret, service.hooks_url, body, time.time() - 301, "")
    other_path = ShapedRequest(service.hooks_url + "?portal=46811123", body, good.headers)
    other_time = ShapedRequest(good.url, body, {**good.headers, "X-HubSpot-Request-Timestamp": str(
        int(good.headers["X-HubSpot-Request-Timestamp"]) + 1)})
    no_signature = ShapedRequest(good.url, body, {"X-HubSpot-Request-Timestamp":
                                                  good.headers["X-HubSpot-Request-Timestamp"]})
    expected = {"stale_timestamp": stale, "bad_signature": other_path, "missing_header": no_signature}
    for code, shaped in expected.items():
        status, answer, _ = send(service, shaped, "application/json")
        assert (status, json.loads(answer)["error"]["code"]) == (401, code)
    status, answer, _ = send(service, other_time, "application/json")
    assert (status, json.loads(answer)["error"]["code"]) == (401, "bad_signature")
    assert rows_of(emulator, stream) == []
    status, _, _ = send(service, good, "application/json")
    assert status == 200 and len(rows_of(emulator, stream)) == 1


@pytest.mark.parametrize("name", ["Keap", "Monday"])
def test_handshake_is_answered_after_the_token_check_and_never_stored(
        name: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    case = CASES[name]
    stream = Stream(name="handshake", dataset="it_senders", table=f"{name.lower()}_handshake", auth=case.auth)
    secret = generate_secret(case.auth)
    service = start_stream_service(stream, secrets=(secret,))
    value = "6c2e1f0a9b8d7c6e5f4a3b2c1d0e9f8a"
    shaped = handshake_request(case.auth, secret, endpoint(service, case, secret), value)
    assert shaped is not None
    status, answer, response = send(service, shaped, "application/json")
    assert status == 200, answer
    if name == "Keap":
        assert response.getheader("X-Hook-Secret") == value
    else:
        assert answer == b'{"challenge":"6c2e1f0a9b8d7c6e5f4a3b2c1d0e9f8a"}'
    stranger = handshake_request(case.auth, WRONG_SECRET, endpoint(service, case, WRONG_SECRET), value)
    assert stranger is not None
    status, answer, response = send(service, stranger, "application/json")
    assert status == 401 and response.getheader("X-Hook-Secret") is None and value.encode() not in answer
    assert rows_of(emulator, stream) == []
    status, answer, _ = send(service, ShapedRequest(service.base_url + "/metrics", b"", method="GET"), "text/plain")
    hits = json.loads(answer)["hits"]
    assert (hits["handshakes"], hits["written"]) == (1, 0)


def test_hubspot_signature_over_a_url_with_encoded_query_characters_through_gunicorn(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    # HubSpot decodes %3A %2F %28 %29 (among others) before signing and leaves %20 as sent; the expected
    # string is written out here, not built by the code under test.
    stream = Stream(name="hubspot", dataset="it_senders", table="hubspot_query", auth=HubSpot())
    secret = generate_secret(stream.auth)
    service = start_stream_service(stream, secrets=(secret,))
    body, timestamp = sample("hubspot.json"), str(int(time.time() * 1000))
    signed_uri = f"https://127.0.0.1:{service.port}/hooks?src=hs:app/v3&x=(a)&y=%20"
    signature = base64.b64encode(hmac.new(secret.encode(), b"POST" + signed_uri.encode() + body + timestamp.encode(),
                                          hashlib.sha256).digest()).decode()
    shaped = ShapedRequest(f"{service.hooks_url}?src=hs%3Aapp%2Fv3&x=%28a%29&y=%20", body,
                           {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp})
    status, answer, _ = send(service, shaped, "application/json")
    assert status == 200, answer
    assert len(rows_of(emulator, stream)) == 1
