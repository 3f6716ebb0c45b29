"""Sender presets, checked against each vendor's documented algorithm and published example values.

Expected signatures here are written out or computed inline from the vendor's documented formula, never by
the code under test; requests are checked through the same verifiers the service runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from service.model.auth_settings import BodyTokenAuth, auth_problems
from service.model.senders import (
    PRESETS,
    Bitrix24,
    BodyToken,
    Close,
    Dynamics,
    HubSpot,
    Keap,
    Monday,
    Pipedrive,
    Salesforce,
    Stripe,
)
from service.model.service_env import ServiceSpec, from_env, to_env
from service.model.stream import Stream
from service.runtime.auth import make_verifier
from service.runtime.refusals import Rejected
from service.runtime.senders.answers import handshake_answer, stored_answer
from service.runtime.senders.salesforce import parse_outbound_message
from service.runtime.verification import AuthFailed, RequestView

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "operator" / "samples"
ORG = "00D7Q000006hT3bUAE"


def view(body: bytes, headers: dict[str, str], now: float, *, token: str | None = None, method: str = "POST",
         host: str = "hooks.example.com", uri: str = "/hooks", query: dict[str, str] | None = None) -> RequestView:
    return RequestView(body, headers, token, now, method=method, uri=uri, host=host, query=query or {})


# --- HubSpot v3 -----------------------------------------------------------------------------------

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
HUBSPOT_BODY = b"{'example_field':'example_value'}"


@pytest.mark.parametrize(("timestamp", "signature"), [
    # HubSpot/hubspot-api-python tests/spec/utils/test_signature.py (two versions of that test).
    ("15000000", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="),
    ("1693657560000", "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="),
    # HubSpot/hubspot-api-ruby spec/helpers/signature_spec.rb.
    ("1700000300000", "RnbPH7+UMKVkbV32P8bz450N4M56aPmcru1+D3kSDtw="),
])
def test_hubspot_published_examples_pass_and_each_tampered_part_fails(timestamp: str, signature: str) -> None:
    verifier = make_verifier(HubSpot(), (HUBSPOT_SECRET,))
    now = int(timestamp) / 1000 + 1
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    verifier.verify(view(HUBSPOT_BODY, headers, now, host="www.example.com", uri="/webhook_uri"))
    tampered = [
        view(HUBSPOT_BODY + b" ", headers, now, host="www.example.com", uri="/webhook_uri"),
        view(HUBSPOT_BODY, headers, now, host="www.example.com", uri="/webhook_uri/"),
        view(HUBSPOT_BODY, headers, now, host="example.com", uri="/webhook_uri"),
        view(HUBSPOT_BODY, headers, now, host="www.example.com", uri="/webhook_uri", method="PUT"),
        view(HUBSPOT_BODY, {**headers, "X-HubSpot-Request-Timestamp": str(int(timestamp) + 1)}, now,
             host="www.example.com", uri="/webhook_uri"),
    ]
    for request in tampered:
        with pytest.raises(AuthFailed, match="does not match"):
            verifier.verify(request)


def test_hubspot_refuses_requests_older_than_five_minutes_even_when_signed() -> None:
    verifier = make_verifier(HubSpot(), (HUBSPOT_SECRET,))
    headers = {"X-HubSpot-Signature-v3": "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
               "X-HubSpot-Request-Timestamp": "1693657560000"}
    verifier.verify(view(HUBSPOT_BODY, headers, 1693657560 + 300, host="www.example.com", uri="/webhook_uri"))
    with pytest.raises(AuthFailed) as refused:
        verifier.verify(view(HUBSPOT_BODY, headers, 1693657560 + 301, host="www.example.com", uri="/webhook_uri"))
    assert refused.value.code == "stale_timestamp"


def test_hubspot_decodes_the_listed_percent_encodings_of_the_uri_and_no_others() -> None:
    # HubSpot's docs: decode %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B in the URI before signing.
    timestamp, now = "1764421200000", 1764421200.5
    signed_uri = "https://hooks.example.com/hooks?src=hs:app/v3&x=(a)&y=%20"  # written out by hand
    message = b"POST" + signed_uri.encode() + b"[]" + timestamp.encode()
    signature = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), message, hashlib.sha256).digest()).decode()
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    verifier = make_verifier(HubSpot(), (HUBSPOT_SECRET,))
    verifier.verify(view(b"[]", headers, now, uri="/hooks?src=hs%3Aapp%2Fv3&x=%28a%29&y=%20"))
    with pytest.raises(AuthFailed, match="does not match"):  # %20 is not in HubSpot's list: it stays encoded
        verifier.verify(view(b"[]", headers, now, uri="/hooks?src=hs%3Aapp%2Fv3&x=%28a%29&y=+"))


# --- Stripe -----------------------------------------------------------------------------------------

STRIPE_SECRET = "whsec_test_0123456789abcdefghijklmn"


def stripe_v1(secret: str, timestamp: int, body: bytes) -> str:
    # docs.stripe.com/webhooks: HMAC-SHA256 of "<t>.<payload>" with the signing secret, hex.
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_stripe_accepts_any_v1_during_rotation_and_refuses_stale_or_unsigned() -> None:
    body = (SAMPLES / "stripe.json").read_bytes()
    now = 1764421260
    verifier = make_verifier(Stripe(), (STRIPE_SECRET,))
    old_secret_signature = stripe_v1("whsec_retired_secret_0123456789", now, body)
    header = f"t={now},v1={old_secret_signature},v1={stripe_v1(STRIPE_SECRET, now, body)},v0=abc"
    sender = verifier.verify(view(body, {"Stripe-Signature": header}, now + 10))
    assert sender.delivery_id == "evt_3QxR2cLkdIwHu7ix0fG8Yh1a"
    failures = {
        "stale_timestamp": view(body, {"Stripe-Signature": header}, now + 301),
        "bad_signature": view(body + b"\n", {"Stripe-Signature": header}, now),
        "bad_signature_encoding": view(body, {"Stripe-Signature": f"t={now},v0={stripe_v1(STRIPE_SECRET, now, body)}"},
                                       now),
        "bad_timestamp": view(body, {"Stripe-Signature": f"v1={stripe_v1(STRIPE_SECRET, now, body)}"}, now),
        "missing_header": view(body, {}, now),
    }
    for code, request in failures.items():
        with pytest.raises(AuthFailed) as refused:
            verifier.verify(request)
        assert refused.value.code == code


# --- Close ------------------------------------------------------------------------------------------

def test_close_signs_timestamp_and_body_with_the_hex_decoded_key() -> None:
    # developer.close.com "Webhook Signatures": hmac.new(bytearray.fromhex(key), (timestamp + payload), sha256)
    key = "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c"  # Close's example key
    body = (SAMPLES / "close.json").read_bytes()
    signature = hmac.new(bytes.fromhex(key), b"1764421400" + body, hashlib.sha256).hexdigest()
    verifier = make_verifier(Close(), (key,))
    headers = {"close-sig-hash": signature, "close-sig-timestamp": "1764421400"}
    verifier.verify(view(body, headers, 1764421401))
    text_key_signature = hmac.new(key.encode(), b"1764421400" + body, hashlib.sha256).hexdigest()
    with pytest.raises(AuthFailed, match="does not match"):  # signed with the key's text, not its bytes
        verifier.verify(view(body, {**headers, "close-sig-hash": text_key_signature}, 1764421401))
    with pytest.raises(AuthFailed) as stale:
        verifier.verify(view(body, headers, 1764421400 + 301))
    assert stale.value.code == "stale_timestamp"


# --- Salesforce ------------------------------------------------------------------------------------

def test_salesforce_message_is_parsed_for_org_and_notification_ids() -> None:
    message = parse_outbound_message((SAMPLES / "salesforce.xml").read_bytes())
    assert message.organization_id == ORG
    assert message.notification_ids == ("04l7Q00000Bq1XyQAJ", "04l7Q00000Bq1XzQAJ")


def test_salesforce_checks_the_url_token_then_the_organization() -> None:
    body = (SAMPLES / "salesforce.xml").read_bytes()
    token = "salesforce-url-token-0123456789"
    allowed = make_verifier(Salesforce((ORG[:15],)), (token,))  # the 15-character id matches the 18
    sender = allowed.verify(view(body, {}, 0, token=token))
    assert sender.delivery_id == "04l7Q00000Bq1XyQAJ 04l7Q00000Bq1XzQAJ"
    with pytest.raises(AuthFailed) as wrong_token:
        allowed.verify(view(body, {}, 0, token="nope"))
    assert wrong_token.value.code == "bad_token"
    other_org = make_verifier(Salesforce(("00D000000000001AAA",)), (token,))
    with pytest.raises(AuthFailed) as refused:
        other_org.verify(view(body, {}, 0, token=token))
    assert refused.value.code == "unknown_organization" and ORG in refused.value.message


def test_salesforce_refuses_a_dtd_and_a_body_that_is_not_a_message_with_400() -> None:
    verifier = make_verifier(Salesforce((ORG,)), ("salesforce-url-token-0123456789",))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<x>&b;</x>")
    for body in (bomb, b'{"OrganizationId": "00D7Q000006hT3bUAE"}', b"<a/>"):
        with pytest.raises(Rejected) as rejected:
            verifier.verify(view(body, {}, 0, token="salesforce-url-token-0123456789"))
        assert (rejected.value.status, rejected.value.code) == (400, "not_outbound_message")


def test_salesforce_parses_only_after_the_token_and_a_deep_body_is_a_400_not_a_500() -> None:
    verifier = make_verifier(Salesforce((ORG,)), ("salesforce-url-token-0123456789",))
    deep = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' + \
        b"<a>" * 100_000 + b"</a>" * 100_000 + b"</soapenv:Body></soapenv:Envelope>"
    with pytest.raises(AuthFailed) as stranger:  # no token: refused before the XML is looked at
        verifier.verify(view(deep, {}, 0, token="not-the-token-0123456789"))
    assert stranger.value.code == "bad_token"
    with pytest.raises(Rejected) as rejected:  # expat and ElementTree do not recurse: no RecursionError
        verifier.verify(view(deep, {}, 0, token="salesforce-url-token-0123456789"))
    assert (rejected.value.status, rejected.value.code) == (400, "not_outbound_message")


def test_salesforce_ack_is_the_documented_envelope() -> None:
    answer = stored_answer(Salesforce((ORG,)))
    assert answer is not None and answer.content_type == "text/xml; charset=utf-8"
    assert answer.body == (
        b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        b'envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
        b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")
    assert stored_answer(Stripe()) is None


# --- Handshakes ------------------------------------------------------------------------------------

def test_keap_handshake_echoes_the_hook_secret_and_monday_echoes_the_challenge() -> None:
    keap = handshake_answer(Keap(), {"X-Hook-Secret": "6c2e1f0a9b8d7c6e5f4a3b2c1d0e9f8a"}, b"")
    assert keap is not None and keap.headers == (("X-Hook-Secret", "6c2e1f0a9b8d7c6e5f4a3b2c1d0e9f8a"),)
    assert handshake_answer(Keap(), {}, (SAMPLES / "keap.json").read_bytes()) is None
    monday = handshake_answer(Monday(), {}, b'{"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7"}')
    assert monday is not None and monday.body == b'{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7"}'
    assert handshake_answer(Monday(), {}, (SAMPLES / "monday.json").read_bytes()) is None
    assert handshake_answer(Monday(), {}, b'{"challenge": "x", "event": {}}') is None  # an event, not a challenge
    assert handshake_answer(Stripe(), {"X-Hook-Secret": "abc"}, b"") is None


# --- Basic, key, body token -------------------------------------------------------------------------

def test_pipedrive_basic_credentials() -> None:
    verifier = make_verifier(Pipedrive(user="crm-hooks"), ("pipedrive-password-0123456789",))
    good = base64.b64encode(b"crm-hooks:pipedrive-password-0123456789").decode()
    verifier.verify(view(b"{}", {"Authorization": f"Basic {good}"}, 0))
    for credentials, code in ((b"crm-hooks:wrong-password-0123456", "bad_credentials"),
                              (b"someone:pipedrive-password-0123456789", "bad_credentials"),
                              (b"crm-hooks", "bad_credentials")):
        encoded = base64.b64encode(credentials).decode()
        with pytest.raises(AuthFailed) as refused:
            verifier.verify(view(b"{}", {"Authorization": f"Basic {encoded}"}, 0))
        assert refused.value.code == code
    with pytest.raises(AuthFailed, match="HTTP Basic"):
        verifier.verify(view(b"{}", {}, 0))


def test_dynamics_webhook_key_header_and_query_options() -> None:
    key = "dynamics-key-0123456789abcdef"
    webhook_key = make_verifier(Dynamics(), (key,))
    sender = webhook_key.verify(view(b"{}", {"x-request-id": "b8d2f4a6"}, 0, query={"code": key}))
    assert sender.delivery_id == "b8d2f4a6"
    with pytest.raises(AuthFailed):
        webhook_key.verify(view(b"{}", {}, 0, query={"code": "wrong"}))
    with pytest.raises(Rejected):  # a GET's query string would be stored, key included
        webhook_key.verify(view(b"", {}, 0, method="GET", query={"code": key}))
    header = make_verifier(Dynamics("HttpHeader", name="X-Hookstream-Key"), (key,))
    header.verify(view(b"{}", {"X-Hookstream-Key": key}, 0))
    with pytest.raises(AuthFailed):
        header.verify(view(b"{}", {}, 0, query={"code": key}))
    with pytest.raises(ValueError, match="WebhookKey"):
        Dynamics("WebhookKy")


def test_body_token_form_and_json() -> None:
    token = "51856fefc120afa4b628cc82d3935cce"
    form = (SAMPLES / "bitrix24.form").read_bytes() + b"&auth%5Bapplication_token%5D=" + token.encode()
    make_verifier(Bitrix24(), (token,)).verify(view(form, {}, 0))
    with pytest.raises(AuthFailed) as missing:
        make_verifier(Bitrix24(), (token,)).verify(view((SAMPLES / "bitrix24.form").read_bytes(), {}, 0))
    assert missing.value.code == "missing_token"
    json_token = make_verifier(BodyToken("meta.secret"), (token,))
    json_token.verify(view(b'{"meta": {"secret": "%s"}, "orderId": "N1"}' % token.encode(), {}, 0))
    with pytest.raises(AuthFailed) as wrong:
        json_token.verify(view(b'{"meta": {"secret": "nope"}}', {}, 0))
    assert wrong.value.code == "bad_token"


# --- Every preset is a valid setting ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name: str) -> None:
    assert auth_problems(PRESETS[name]()) == []


def test_invalid_preset_settings_are_named() -> None:
    problems = auth_problems(Salesforce(("00X123",)))
    assert problems == [("auth.organization_ids", "00X123", "a 15- or 18-character org id starting with '00D'")]
    assert auth_problems(BodyTokenAuth(field="a b"))[0][0] == "auth.field"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_travels_through_the_service_env_unchanged(name: str) -> None:
    stream = Stream(name="preset", dataset="crm", table="preset", auth=PRESETS[name]())
    assert from_env(to_env(ServiceSpec.of(stream, "my-project"))).auth == PRESETS[name]()
