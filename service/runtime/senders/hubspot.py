"""HubSpot signature v3 (developers.hubspot.com, "Validating requests").

`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + body + timestamp)), timestamp =
`X-HubSpot-Request-Timestamp` in Unix milliseconds, refused when more than the tolerance (5 minutes) away.
The URI is the URL HubSpot called: behind Cloud Run the container gets plain HTTP, so it is rebuilt as
`https://` + the Host header + the request target exactly as sent, with the twelve percent-encodings
HubSpot's documentation lists decoded first.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from service.model.auth_settings import HubSpotAuth
from service.runtime.senders.common import matches_any, require_header
from service.runtime.senders.header_values import base64_digest, digits
from service.runtime.verification import AuthFailed, RequestView, Sender

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
# HubSpot's table of encodings to decode in the URI before signing; everything else stays as sent.
DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
_ENCODED = re.compile("|".join(DECODED), re.IGNORECASE)


def hubspot_uri(host: str, request_target: str) -> str:
    """The URI HubSpot signed: https + host + path and query as sent, with HubSpot's listed decodings."""
    return "https://" + host + _ENCODED.sub(lambda match: DECODED[match.group(0).upper()], request_target)


def hubspot_signature(key: bytes, method: str, uri: str, body: bytes, timestamp: str) -> bytes:
    # WSGI hands the URI and headers over as latin-1 text: encoding back gives the bytes that were sent.
    message = method.encode("latin-1") + uri.encode("latin-1") + body + timestamp.encode("latin-1")
    return hmac.new(key, message, hashlib.sha256).digest()


class HubSpotVerifier:
    reads_body = True
    reads_target = True

    def __init__(self, auth: HubSpotAuth, secrets: tuple[str, ...]) -> None:
        self._keys = [secret.encode() for secret in secrets]
        self._tolerance_ms = auth.tolerance_seconds * 1000

    def verify(self, request: RequestView) -> Sender:
        signature_text = require_header(request.headers, SIGNATURE_HEADER, "HubSpot's v3 signature")
        timestamp = require_header(request.headers, TIMESTAMP_HEADER, "HubSpot's request time")
        if abs(request.now_seconds * 1000 - digits(timestamp, TIMESTAMP_HEADER, "Unix milliseconds")) > \
                self._tolerance_ms:
            raise AuthFailed("stale_timestamp",
                             f"the {TIMESTAMP_HEADER} time is more than {self._tolerance_ms // 1000} s away from "
                             "the server's clock; replayed or delayed requests are refused")
        signature = base64_digest(signature_text, hashlib.sha256().digest_size)
        if signature is None:
            raise AuthFailed("bad_signature_encoding", f"the {SIGNATURE_HEADER} header must be the padded base64 "
                             "of a 32-byte HMAC-SHA256")
        uri = hubspot_uri(request.host, request.uri)
        body = b"" if request.method == "GET" else request.signed_bytes
        expected = [hubspot_signature(key, request.method, uri, body, timestamp) for key in self._keys]
        if not matches_any(signature, expected):
            raise AuthFailed("bad_signature",
                             f"the {SIGNATURE_HEADER} signature does not match: check the app's client secret "
                             "and that the webhook URL in HubSpot is exactly this endpoint's https URL")
        return Sender()
