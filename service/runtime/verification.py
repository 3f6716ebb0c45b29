"""What every sender check shares: the request as the checks see it, their verdicts, and the secrets' forms.

The checks themselves are in service/runtime/senders/ (built-in modes in builtin.py, presets beside it);
service/runtime/auth.py picks one per stream.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from werkzeug.datastructures import Headers

from service.model.auth_settings import WHSEC_PREFIX, Auth, HmacAuth, StandardWebhooksAuth


class AuthFailed(Exception):
    """401: `code` says which check failed, `message` how to fix it (nothing secret in either)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class AuthSetupError(ValueError):
    """The secrets given to the service do not fit its auth mode (raised at start-up)."""


@dataclass(frozen=True)
class Sender:
    """What a verified request told us about itself."""

    delivery_id: str | None = None
    # Text of the secret as it appears in the body (a body token): replaced before the row is written, so
    # whoever can read the table cannot send hits.
    redact: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestView:
    """The parts of a request the checks read: the raw signed bytes, headers, and a token in the path."""

    signed_bytes: bytes
    headers: Mapping[str, str] | Headers
    path_token: str | None
    now_seconds: float
    # For checks that sign or carry more than headers and body (HubSpot signs method + URL; keys in the query).
    method: str = "POST"
    uri: str = ""  # the request target as sent: path and query, still percent-encoded
    host: str = ""
    query: Mapping[str, str] = field(default_factory=dict)


class Verifier(Protocol):
    # False when the check needs only headers and path: it then runs before the body is read.
    reads_body: bool
    # True when the check reads the request's host, target or query (RequestView.host, .uri, .query): the
    # app parses them only for such checks.
    reads_target: bool

    def verify(self, request: RequestView) -> Sender: ...


def decode_whsec(secret: str) -> bytes:
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        # Never echo the value: it is a secret.
        raise AuthSetupError("a Standard Webhooks secret must look like 'whsec_<base64>'") from None


def key_material(auth: Auth, secret: str) -> bytes:
    """The bytes a secret contributes to the check (a whsec_ secret's base64 decoded)."""
    if isinstance(auth, StandardWebhooksAuth):
        return decode_whsec(secret)
    if isinstance(auth, HmacAuth) and auth.key_encoding == "hex":
        try:
            return bytes.fromhex(secret)
        except ValueError:
            raise AuthSetupError("this stream's key must be given as hex (e.g. Close's signature_key)") from None
    return secret.encode()
