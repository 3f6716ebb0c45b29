"""Signature and timestamp headers are read in the one form each vendor sends (docs/authentication.md cites
them): lowercase hex, canonical padded base64, ASCII-digit Unix times (HubSpot: milliseconds), Zendesk's ISO 8601
UTC time. Every other spelling of a genuine request's header is refused with 401 and the code that names the
part; the genuine request is stored. Through a real gunicorn for what HTTP can carry, through the same
verifiers for what it cannot (surrounding spaces are stripped by the server, non-Latin-1 digits cannot be sent)."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.model.auth_settings import Auth
from service.model.senders import PRESETS
from service.model.stream import Stream
from service.runtime.auth import make_verifier
from service.runtime.verification import AuthFailed, RequestView
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.local.dev_secrets import generate_secret
from tools.operator.sender_requests import ShapedRequest, sample_body, shape_request

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "operator" / "samples"
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
Transform = Callable[[str], str]


def upper_hex(value: str) -> str:
    return HEX_DIGEST.sub(lambda match: match.group(0).upper(), value)


def spaced_hex(value: str) -> str:
    return HEX_DIGEST.sub(lambda match: " ".join(re.findall("..", match.group(0))), value)


def stray_bits(value: str) -> str:
    """The same 32 bytes in non-canonical base64: the last data character's two unused bits set."""
    at = value.index("=") - 1  # 'AAAA...xQ=': the character before the padding carries 4 data bits + 2 unused
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return value[:at] + alphabet[alphabet.index(value[at]) | 0b11] + value[at + 1:]


def plus_sign(value: str) -> str:
    return "+" + value


def underscore(value: str) -> str:
    return value[0] + "_" + value[1:]


def superscript(value: str) -> str:
    return value[:-1] + "\u00b2"  # '²' is a digit to str.isdigit() and Latin-1, so HTTP can carry it


def in_stripe_t(transform: Transform) -> Transform:
    def change(value: str) -> str:
        timestamp = re.match(r"t=([0-9]+)", value)
        assert timestamp is not None
        return "t=" + transform(timestamp.group(1)) + value[timestamp.end():]
    return change


def unix_seconds_instead(value: str) -> str:
    return str(int(time.time()))


def offset_instead_of_z(value: str) -> str:
    return value.removesuffix("Z") + "+00:00"


@dataclass(frozen=True)
class Malformed:
    preset: str
    header: str
    transform: Transform
    code: str


SIGNED_PRESETS: dict[str, Auth] = {name: PRESETS[name]() for name in (
    "GitHub", "Slack", "Close", "Stripe", "Shopify", "WooCommerce", "Zendesk", "HubSpot", "StandardWebhooks")}
MALFORMED = [
    Malformed("GitHub", "X-Hub-Signature-256", upper_hex, "bad_signature_encoding"),
    Malformed("GitHub", "X-Hub-Signature-256", spaced_hex, "bad_signature_encoding"),
    Malformed("Slack", "X-Slack-Signature", upper_hex, "bad_signature_encoding"),
    Malformed("Slack", "X-Slack-Request-Timestamp", plus_sign, "bad_timestamp"),
    Malformed("Slack", "X-Slack-Request-Timestamp", underscore, "bad_timestamp"),
    Malformed("Close", "close-sig-hash", upper_hex, "bad_signature_encoding"),
    Malformed("Close", "close-sig-hash", spaced_hex, "bad_signature_encoding"),
    Malformed("Close", "close-sig-timestamp", plus_sign, "bad_timestamp"),
    Malformed("Close", "close-sig-timestamp", underscore, "bad_timestamp"),
    Malformed("Stripe", "Stripe-Signature", upper_hex, "bad_signature_encoding"),
    Malformed("Stripe", "Stripe-Signature", spaced_hex, "bad_signature_encoding"),
    Malformed("Stripe", "Stripe-Signature", in_stripe_t(plus_sign), "bad_timestamp"),
    Malformed("Stripe", "Stripe-Signature", in_stripe_t(underscore), "bad_timestamp"),
    Malformed("Stripe", "Stripe-Signature", in_stripe_t(superscript), "bad_timestamp"),  # a 500 before
    Malformed("Shopify", "X-Shopify-Hmac-Sha256", stray_bits, "bad_signature_encoding"),
    Malformed("WooCommerce", "X-WC-Webhook-Signature", stray_bits, "bad_signature_encoding"),
    Malformed("Zendesk", "X-Zendesk-Webhook-Signature", stray_bits, "bad_signature_encoding"),
    Malformed("Zendesk", "X-Zendesk-Webhook-Signature-Timestamp", unix_seconds_instead, "bad_timestamp"),
    Malformed("Zendesk", "X-Zendesk-Webhook-Signature-Timestamp", offset_instead_of_z, "bad_timestamp"),
    Malformed("HubSpot", "X-HubSpot-Signature-v3", stray_bits, "bad_signature_encoding"),
    Malformed("HubSpot", "X-HubSpot-Request-Timestamp", plus_sign, "bad_timestamp"),
    Malformed("HubSpot", "X-HubSpot-Request-Timestamp", underscore, "bad_timestamp"),
    Malformed("HubSpot", "X-HubSpot-Request-Timestamp", superscript, "bad_timestamp"),  # a 500 before
    Malformed("StandardWebhooks", "webhook-signature", lambda value: "v1," + stray_bits(value[3:]),
              "bad_signature_encoding"),
    Malformed("StandardWebhooks", "webhook-timestamp", plus_sign, "bad_timestamp"),
    Malformed("StandardWebhooks", "webhook-timestamp", underscore, "bad_timestamp"),
]


def send(service: RunningService, shaped: ShapedRequest) -> tuple[int, dict[str, object]]:
    target = urlsplit(shaped.url)
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request(shaped.method, target.path + (f"?{target.query}" if target.query else ""),
                           body=shaped.body, headers={"Content-Type": "application/json", **shaped.headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.mark.integration
@pytest.mark.parametrize("name", SIGNED_PRESETS)
def test_each_malformed_header_is_refused_and_the_genuine_request_stored(
        name: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    auth = SIGNED_PRESETS[name]
    stream = Stream(name="strict", dataset="it_strict_headers", table=name.lower(), auth=auth)
    secret = generate_secret(auth)
    service = start_stream_service(stream, secrets=(secret,))
    cases = [case for case in MALFORMED if case.preset == name]
    assert cases
    for number, case in enumerate(cases):
        genuine = shape_request(auth, secret, service.hooks_url, sample_body(auth), time.time(), f"msg-{number}")
        headers = {**genuine.headers, case.header: case.transform(genuine.headers[case.header])}
        assert headers != genuine.headers  # the fault is really in the request
        status, answer = send(service, ShapedRequest(genuine.url, genuine.body, headers))
        assert (status, answer["error"]["code"]) == (401, case.code), (case, answer)  # type: ignore[index]
    rows = f"SELECT COUNT(*) AS n FROM `{emulator.project}.{stream.table_ref}`"
    assert emulator.query(rows) == [{"n": 0}]
    genuine = shape_request(auth, secret, service.hooks_url, sample_body(auth), time.time(), "msg-genuine")
    status, answer = send(service, genuine)
    assert status == 200 and answer["status"] == "stored", answer
    assert emulator.query(rows) == [{"n": 1}]


# --- What HTTP cannot carry: checked through the same verifiers --------------------------------------------

NOW = 1764421200
TIMESTAMP_HEADERS = {"Slack": "X-Slack-Request-Timestamp", "Close": "close-sig-timestamp",
                     "StandardWebhooks": "webhook-timestamp", "HubSpot": "X-HubSpot-Request-Timestamp"}
ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def verify(auth: Auth, secret: str, shaped: ShapedRequest, now: float) -> None:
    parts = urlsplit(shaped.url)
    make_verifier(auth, (secret,)).verify(RequestView(shaped.body, shaped.headers, None, now, method=shaped.method,
                                                      uri=parts.path, host=parts.netloc))


@pytest.mark.parametrize("name", TIMESTAMP_HEADERS)
@pytest.mark.parametrize("transform", [lambda value: value + " ", lambda value: " " + value,
                                       lambda value: value.translate(ARABIC_INDIC)],
                         ids=["trailing space", "leading space", "Arabic-Indic digits"])
def test_timestamps_with_spaces_or_non_ascii_digits_are_refused(name: str, transform: Transform) -> None:
    auth = PRESETS[name]()
    secret = generate_secret(auth)
    genuine = shape_request(auth, secret, "https://hooks.example.com/hooks", b'{"orderId": "N1"}', NOW, "msg-1")
    verify(auth, secret, genuine, NOW + 1)
    header = TIMESTAMP_HEADERS[name]
    changed = ShapedRequest(genuine.url, genuine.body, {**genuine.headers, header: transform(genuine.headers[header])})
    with pytest.raises(AuthFailed) as refused:
        verify(auth, secret, changed, NOW + 1)
    assert refused.value.code == "bad_timestamp"


def test_stripe_needs_exactly_one_ascii_t_and_ignores_other_schemes() -> None:
    auth = PRESETS["Stripe"]()
    secret = generate_secret(auth)
    body = (SAMPLES / "stripe.json").read_bytes()
    genuine = shape_request(auth, secret, "https://hooks.example.com/hooks", body, NOW, "")
    header = genuine.headers["Stripe-Signature"]
    verify(auth, secret, ShapedRequest(genuine.url, body, {"Stripe-Signature": header + ",v0=DEADBEEF"}), NOW)
    for changed, code in ((f"t={NOW}," + header, "bad_timestamp"),  # two t= items
                          (header.translate(ARABIC_INDIC), "bad_timestamp"),
                          (header.replace(",", ", "), "bad_signature_encoding")):  # stripe-python splits on ','
        with pytest.raises(AuthFailed) as refused:
            verify(auth, secret, ShapedRequest(genuine.url, body, {"Stripe-Signature": changed}), NOW)
        assert refused.value.code == code, changed


def test_zendesk_documented_timestamp_form_is_read_as_utc() -> None:
    # developer.zendesk.com "Anatomy of a webhook request": x-zendesk-webhook-signature-timestamp: 2021-03-25T05:09:27Z
    # 2021-03-25T05:09:27Z is 1616648967 in Unix seconds (18711 days * 86400 + 5 h 9 min 27 s).
    auth = PRESETS["Zendesk"]()
    secret = generate_secret(auth)
    body = b'{"ticket": {"id": 35436}}'
    genuine = shape_request(auth, secret, "https://hooks.example.com/hooks", body, 1616648967, "")
    assert genuine.headers["X-Zendesk-Webhook-Signature-Timestamp"] == "2021-03-25T05:09:27Z"
    verify(auth, secret, genuine, 1616648967 + 299)
    with pytest.raises(AuthFailed) as stale:
        verify(auth, secret, genuine, 1616648967 + 301)
    assert stale.value.code == "stale_timestamp"
    for wrong in ("2021-03-25t05:09:27z", "2021-03-25 05:09:27Z", "2021-03-25T05:09:27.000Z", "2021-13-25T05:09:27Z"):
        changed = ShapedRequest(genuine.url, body, {**genuine.headers, "X-Zendesk-Webhook-Signature-Timestamp": wrong})
        with pytest.raises(AuthFailed) as refused:
            verify(auth, secret, changed, 1616648967)
        assert refused.value.code == "bad_timestamp", wrong
