"""Stripe webhook signatures (docs.stripe.com/webhooks, "Verify signatures manually"; stripe-python's
`WebhookSignature.verify_header`).

`Stripe-Signature: t=<unix s>,v1=<hex>,...`: hex HMAC-SHA256 of `<t>.<body>` keyed with the endpoint's signing
secret as text (`whsec_...`, not decoded). Every `v1` is a candidate: Stripe sends one per active secret while a
secret is rolled. The event id (`evt_...`, in the JSON body) becomes the delivery id once the signature holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from service.model.auth_settings import StripeAuth
from service.runtime.senders.common import check_age, matches_any, require_header
from service.runtime.senders.header_values import digits, hex_digest
from service.runtime.verification import AuthFailed, RequestView, Sender

HEADER = "Stripe-Signature"


def stripe_signature(key: bytes, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).digest()


def _event_id(body: bytes) -> str | None:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # signed, but not an event Stripe would send: no delivery id
        return None
    event_id = event.get("id") if isinstance(event, dict) else None
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= 255 else None


class StripeVerifier:
    reads_body = True
    reads_target = False

    def __init__(self, auth: StripeAuth, secrets: tuple[str, ...]) -> None:
        self._keys = [secret.encode() for secret in secrets]
        self._tolerance = auth.tolerance_seconds

    def verify(self, request: RequestView) -> Sender:
        header = require_header(request.headers, HEADER, "Stripe's signature")
        timestamps, offered = [], []
        # As stripe-python reads it: comma-separated `key=value` items, no spaces; schemes other than v1 ignored.
        for item in header.split(","):
            key, _, value = item.partition("=")
            if key == "t":
                timestamps.append(value)
            elif key == "v1" and (signature := hex_digest(value, hashlib.sha256().digest_size)) is not None:
                offered.append(signature)
        if len(timestamps) != 1:
            raise AuthFailed("bad_timestamp", f"the {HEADER} header must hold one t=<Unix seconds>")
        timestamp = timestamps[0]
        check_age(digits(timestamp, f"{HEADER} t="), request.now_seconds, self._tolerance, f"{HEADER} t=")
        if not offered:
            raise AuthFailed("bad_signature_encoding", f"the {HEADER} header holds no v1=<64 lowercase hex digits> "
                             "signature")
        expected = [stripe_signature(key, timestamp, request.signed_bytes) for key in self._keys]
        if not any(matches_any(signature, expected) for signature in offered):
            raise AuthFailed("bad_signature", f"no v1 signature in {HEADER} matches the body: check that the "
                             "stream's secret is this endpoint's signing secret (whsec_...) in Stripe")
        return Sender(delivery_id=_event_id(request.signed_bytes))
