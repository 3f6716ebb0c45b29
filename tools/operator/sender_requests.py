"""Requests shaped the way each sender preset sends them: the inverse of the checks in
service/runtime/senders/. Used by scripts/send and by the tests, which build every request with the
vendor's documented algorithm through this one place."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from service.model.auth_settings import (
    Auth,
    BasicAuth,
    BodyTokenAuth,
    HmacAuth,
    HubSpotAuth,
    KeyAuth,
    SalesforceAuth,
    StandardWebhooksAuth,
    StripeAuth,
    TokenAuth,
    signed_message,
)
from service.runtime.senders.hubspot import SIGNATURE_HEADER, TIMESTAMP_HEADER, hubspot_signature, hubspot_uri
from service.runtime.senders.stripe import stripe_signature
from service.runtime.verification import decode_whsec


@dataclass(frozen=True)
class ShapedRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


def hmac_key(auth: HmacAuth, secret: str) -> bytes:
    return bytes.fromhex(secret) if auth.key_encoding == "hex" else secret.encode()


def hmac_timestamp(auth: HmacAuth, now: int) -> str:
    """The timestamp header as the sender writes it: Unix seconds, or ISO 8601 UTC (Zendesk)."""
    if auth.timestamp_format == "iso8601":
        return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(now)


def signed_headers(auth: Auth, secret: str, body: bytes, now: int, delivery_id: str) -> dict[str, str]:
    """The headers a CRM configured like `auth` sends with `body` (header-only schemes: token, HMAC,
    Standard Webhooks, Stripe, Basic, header keys). URL- and body-shaped schemes: `shape_request`."""
    if isinstance(auth, TokenAuth | SalesforceAuth):
        return {"Authorization": f"Bearer {secret}"}
    if isinstance(auth, StandardWebhooksAuth):
        mac = hmac.new(decode_whsec(secret), f"{delivery_id}.{now}.".encode() + body, hashlib.sha256)
        return {"webhook-id": delivery_id, "webhook-timestamp": str(now),
                "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}
    if isinstance(auth, HmacAuth):
        headers = {}
        timestamp = hmac_timestamp(auth, now)
        digest = hmac.new(hmac_key(auth, secret), signed_message(auth, body, timestamp, delivery_id),
                          getattr(hashlib, auth.algorithm)).digest()
        encoded = digest.hex() if auth.encoding == "hex" else base64.b64encode(digest).decode()
        headers[auth.header] = auth.prefix + encoded
        if "{timestamp}" in auth.signed:
            headers[auth.timestamp_header] = timestamp
        if auth.delivery_id_header:
            headers[auth.delivery_id_header] = delivery_id
        return headers
    if isinstance(auth, StripeAuth):
        signature = stripe_signature(secret.encode(), str(now), body).hex()
        return {"Stripe-Signature": f"t={now},v1={signature}"}
    if isinstance(auth, BasicAuth):
        return {"Authorization": "Basic " + base64.b64encode(f"{auth.user}:{secret}".encode()).decode()}
    if isinstance(auth, KeyAuth) and auth.location == "header":
        headers = {auth.name: secret}
        if auth.delivery_id_header:
            headers[auth.delivery_id_header] = delivery_id
        return headers
    return {}


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({name: value})))


def _with_body_token(auth: BodyTokenAuth, secret: str, body: bytes) -> bytes:
    if auth.format == "form":
        separator = b"&" if body else b""
        return body + separator + urlencode({auth.field: secret}).encode()
    document = json.loads(body) if body.strip() else {}
    *parents, last = auth.field.split(".")
    node = document
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = secret
    return json.dumps(document).encode()


def shape_request(auth: Auth, secret: str, url: str, body: bytes, now: float, delivery_id: str,
                  method: str = "POST") -> ShapedRequest:
    """URL, headers and body as a sender configured like `auth` would send `body` to `url` at `now`.

    Token-style schemes (token, Keap, monday, Salesforce) keep a secret already in the URL and otherwise add
    `Authorization: Bearer`."""
    seconds = int(now)
    if isinstance(auth, TokenAuth | SalesforceAuth) and secret and secret in url:
        return ShapedRequest(url, body, {}, method)
    if isinstance(auth, HubSpotAuth):
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        timestamp = str(int(now * 1000))
        signature = hubspot_signature(secret.encode(), method, hubspot_uri(parts.netloc, target),
                                      b"" if method == "GET" else body, timestamp)
        return ShapedRequest(url, body, {SIGNATURE_HEADER: base64.b64encode(signature).decode(),
                                         TIMESTAMP_HEADER: timestamp}, method)
    if isinstance(auth, KeyAuth) and auth.location == "query":
        headers = {auth.delivery_id_header: delivery_id} if auth.delivery_id_header else {}
        return ShapedRequest(_with_query(url, auth.name, secret), body, headers, method)
    if isinstance(auth, BodyTokenAuth):
        return ShapedRequest(url, _with_body_token(auth, secret, body), {}, method)
    return ShapedRequest(url, body, signed_headers(auth, secret, body, seconds, delivery_id), method)


def handshake_request(auth: Auth, secret: str, url: str, value: str) -> ShapedRequest | None:
    """The handshake the sender makes before its first event (Keap, monday), or None if it makes none."""
    if not isinstance(auth, TokenAuth) or auth.handshake == "none":
        return None
    if auth.handshake == "x-hook-secret":
        shaped = shape_request(auth, secret, url, b"", 0, "")
        return ShapedRequest(shaped.url, b"", {**shaped.headers, "X-Hook-Secret": value})
    body = json.dumps({"challenge": value}).encode()
    shaped = shape_request(auth, secret, url, body, 0, "")
    return ShapedRequest(shaped.url, body, {**shaped.headers, "Content-Type": "application/json"})


SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE_ORGANIZATION_ID = "00D7Q000006hT3bUAE"
GENERIC_SAMPLE = b'{"orderId": "N1", "status": "delivered", "total": 120.13, "currency": "EUR"}'


def sample_body(auth: Auth) -> bytes:
    """A realistic body for the sender `auth` stands for (tools/operator/samples/, written from each vendor's
    documented field list), or a generic order for senders without a fixed shape."""
    files: list[tuple[type[Any], str]] = [
        (HubSpotAuth, "hubspot.json"), (StripeAuth, "stripe.json"), (SalesforceAuth, "salesforce.xml"),
        (BasicAuth, "pipedrive.json"), (KeyAuth, "dynamics.json"),
    ]
    name = next((file for cls, file in files if isinstance(auth, cls)), None)
    if isinstance(auth, TokenAuth) and auth.handshake != "none":
        name = "keap.json" if auth.handshake == "x-hook-secret" else "monday.json"
    if isinstance(auth, HmacAuth) and auth.key_encoding == "hex":
        name = "close.json"
    if isinstance(auth, BodyTokenAuth) and auth.format == "form":
        name = "bitrix24.form"
    if name is None:
        return GENERIC_SAMPLE
    body = (SAMPLES / name).read_bytes()
    if isinstance(auth, SalesforceAuth) and auth.organization_ids:
        # The sample's org stands for the stream's own, so the sample passes the allow-list.
        body = body.replace(SAMPLE_ORGANIZATION_ID.encode(), auth.organization_ids[0].encode())
    return body
