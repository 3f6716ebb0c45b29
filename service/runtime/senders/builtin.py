"""The built-in checks: a token in the URL or header, a configurable HMAC, Standard Webhooks, and none.

Every secret in the stream's list is tried, so a secret can be rotated without losing a call (old and
new both valid while the CRM switches). Comparisons are constant-time; no error message or log line
ever contains a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from service.model.auth_settings import HmacAuth, StandardWebhooksAuth, signed_message
from service.runtime.senders.common import matches_any
from service.runtime.verification import AuthFailed, RequestView, Sender, decode_whsec, key_material


def _check_timestamp(value: str | None, header: str, tolerance: int, now: float) -> None:
    if value is None:
        raise AuthFailed("missing_header", f"the {header} header is missing")
    try:
        timestamp = int(value.strip())
    except ValueError:
        raise AuthFailed("bad_timestamp", f"the {header} header must be Unix seconds (an integer)") from None
    if abs(now - timestamp) > tolerance:
        raise AuthFailed("stale_timestamp",
                         f"the {header} header is more than {tolerance} s away from the server's clock; "
                         "replayed or delayed requests are refused: send a fresh, signed request")


class TokenVerifier:
    reads_body = False
    reads_target = False

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._tokens = [secret.encode() for secret in secrets]

    def verify(self, request: RequestView) -> Sender:
        token = request.path_token
        if token is None:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" and value.strip() else None
        if token is None:
            raise AuthFailed("missing_token", "this endpoint needs its secret: use the complete URL from the "
                             "deploy output (.../hooks/<secret>) or an 'Authorization: Bearer <secret>' header")
        if not matches_any(token.encode(), self._tokens):
            raise AuthFailed("bad_token", "the secret in the URL or Authorization header is not valid for this "
                             "stream; copy the current endpoint URL from the deploy output")
        return Sender()


class HmacVerifier:
    reads_body = True
    reads_target = False

    def __init__(self, auth: HmacAuth, secrets: tuple[str, ...]) -> None:
        self._auth = auth
        self._keys = [key_material(auth, secret) for secret in secrets]
        self._digest = getattr(hashlib, auth.algorithm)

    def _decode(self, text: str) -> bytes:
        try:
            if self._auth.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise AuthFailed("bad_signature_encoding",
                             f"the {self._auth.header} header is not {self._auth.encoding}-encoded") from None

    def verify(self, request: RequestView) -> Sender:
        auth = self._auth
        header = request.headers.get(auth.header)
        if header is None:
            raise AuthFailed("missing_header", f"the {auth.header} header with the signature is missing")
        header = header.strip()
        if not header.startswith(auth.prefix):
            raise AuthFailed("bad_signature_prefix",
                             f"the {auth.header} header must start with {auth.prefix!r}")
        signature = self._decode(header[len(auth.prefix):])
        delivery_id = request.headers.get(auth.delivery_id_header) if auth.delivery_id_header else None
        message = request.signed_bytes
        if auth.signed != "{body}":
            timestamp = request.headers.get(auth.timestamp_header)
            if "{timestamp}" in auth.signed:
                _check_timestamp(timestamp, auth.timestamp_header, auth.tolerance_seconds, request.now_seconds)
            if "{id}" in auth.signed and delivery_id is None:
                raise AuthFailed("missing_header", f"the {auth.delivery_id_header} header is missing")
            message = signed_message(auth, request.signed_bytes, (timestamp or "").strip(), delivery_id or "")
        expected = [hmac.new(key, message, self._digest).digest() for key in self._keys]
        if not matches_any(signature, expected):
            raise AuthFailed("bad_signature", f"the {auth.header} signature does not match the body: check the "
                             f"shared secret, the algorithm ({auth.algorithm}) and what is signed")
        return Sender(delivery_id=delivery_id)


class StandardWebhooksVerifier:
    """https://www.standardwebhooks.com: HMAC-SHA256 of `id.timestamp.body`, base64, `v1,` prefixed,
    several space-separated signatures per header, `whsec_<base64>` secrets.

    Written here rather than taken from the `standardwebhooks` package: its `verify` parses the body
    as JSON, and CRM bodies are any text; the package is used in the tests as the reference."""

    reads_body = True
    reads_target = False

    def __init__(self, auth: StandardWebhooksAuth, secrets: tuple[str, ...]) -> None:
        self._tolerance = auth.tolerance_seconds
        self._keys = [decode_whsec(secret) for secret in secrets]

    def verify(self, request: RequestView) -> Sender:
        headers = request.headers
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            if headers.get(name) is None:
                raise AuthFailed("missing_header", f"the {name} header is missing (Standard Webhooks)")
        msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
        _check_timestamp(timestamp, "webhook-timestamp", self._tolerance, request.now_seconds)
        message = f"{msg_id}.{timestamp.strip()}.".encode() + request.signed_bytes
        expected = [hmac.new(key, message, hashlib.sha256).digest() for key in self._keys]
        offered = []
        for item in headers["webhook-signature"].split():
            version, _, encoded = item.partition(",")
            if version != "v1":
                continue
            try:
                offered.append(base64.b64decode(encoded, validate=True))
            except (ValueError, binascii.Error):
                continue
        if not offered:
            raise AuthFailed("bad_signature_encoding", "webhook-signature holds no 'v1,<base64>' signature")
        if not any(matches_any(signature, expected) for signature in offered):
            raise AuthFailed("bad_signature", "no webhook-signature matches the body with this stream's secret")
        return Sender(delivery_id=msg_id)


class OpenVerifier:
    reads_body = False
    reads_target = False

    def verify(self, request: RequestView) -> Sender:
        return Sender()
