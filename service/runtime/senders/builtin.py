"""The built-in checks: a token in the URL or header, a configurable HMAC, Standard Webhooks, and none.

Every secret in the stream's list is tried, so a secret can be rotated without losing a call (old and
new both valid while the CRM switches). Comparisons are constant-time; no error message or log line
ever contains a secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac

from service.model.auth_settings import HmacAuth, StandardWebhooksAuth, signed_message
from service.runtime.senders.common import check_age, matches_any
from service.runtime.senders.header_values import base64_digest, digits, hex_digest, iso8601_utc
from service.runtime.verification import AuthFailed, RequestView, Sender, decode_whsec, key_material


def _check_timestamp(value: str | None, header: str, tolerance: int, now: float, iso8601: bool = False) -> None:
    if value is None:
        raise AuthFailed("missing_header", f"the {header} header is missing")
    timestamp = iso8601_utc(value, header) if iso8601 else digits(value, header)
    check_age(timestamp, now, tolerance, header)


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
        auth, size = self._auth, self._digest().digest_size
        digest = hex_digest(text, size) if auth.encoding == "hex" else base64_digest(text, size)
        if digest is None:
            form = (f"{2 * size} lowercase hex digits" if auth.encoding == "hex" else
                    f"the padded base64 of {size} bytes")
            raise AuthFailed("bad_signature_encoding", f"the {auth.header} header must be {auth.prefix!r} and "
                             f"{form} (an HMAC-{auth.algorithm.upper()})")
        return digest

    def verify(self, request: RequestView) -> Sender:
        auth = self._auth
        header = request.headers.get(auth.header)
        if header is None:
            raise AuthFailed("missing_header", f"the {auth.header} header with the signature is missing")
        if not header.startswith(auth.prefix):
            raise AuthFailed("bad_signature_prefix",
                             f"the {auth.header} header must start with {auth.prefix!r}")
        signature = self._decode(header[len(auth.prefix):])
        delivery_id = request.headers.get(auth.delivery_id_header) if auth.delivery_id_header else None
        message = request.signed_bytes
        if auth.signed != "{body}":
            timestamp = request.headers.get(auth.timestamp_header)
            if "{timestamp}" in auth.signed:
                _check_timestamp(timestamp, auth.timestamp_header, auth.tolerance_seconds, request.now_seconds,
                                 iso8601=auth.timestamp_format == "iso8601")
            if "{id}" in auth.signed and delivery_id is None:
                raise AuthFailed("missing_header", f"the {auth.delivery_id_header} header is missing")
            message = signed_message(auth, request.signed_bytes, timestamp or "", delivery_id or "")
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
        message = f"{msg_id}.{timestamp}.".encode() + request.signed_bytes
        expected = [hmac.new(key, message, hashlib.sha256).digest() for key in self._keys]
        offered = []
        # The specification: space-delimited `v1,<base64>`; other versions (and malformed entries) are not ours.
        for item in headers["webhook-signature"].split(" "):
            version, _, encoded = item.partition(",")
            signature = base64_digest(encoded, hashlib.sha256().digest_size) if version == "v1" else None
            if signature is not None:
                offered.append(signature)
        if not offered:
            raise AuthFailed("bad_signature_encoding", "webhook-signature holds no 'v1,<base64>' signature "
                             "(the padded base64 of a 32-byte HMAC-SHA256)")
        if not any(matches_any(signature, expected) for signature in offered):
            raise AuthFailed("bad_signature", "no webhook-signature matches the body with this stream's secret")
        return Sender(delivery_id=msg_id)


class OpenVerifier:
    reads_body = False
    reads_target = False

    def verify(self, request: RequestView) -> Sender:
        return Sender()
