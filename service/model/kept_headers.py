"""Which request headers a row keeps in its `headers` column, and which it never may.

A row keeps, as one JSON object: the request's method (key `method`), its `content-type`, the headers the
sender preset's vendor documents as meaningful (service/model/senders.py) and the header names the stream
lists itself (`Stream.keep_headers`). Keys are the header names in lowercase, as HTTP compares them.

Never kept: anything that carries the secret or is derived from it. A stream listing such a header fails at
import (infra/streams.py) and the service refuses to start with one (service/model/service_env.py), so a
secret cannot reach a table, a spool object or a log by configuration.
"""

from __future__ import annotations

from service.model.auth_settings import (
    HEADER_NAME,
    Auth,
    BasicAuth,
    HmacAuth,
    HubSpotAuth,
    KeyAuth,
    StandardWebhooksAuth,
    StripeAuth,
    TokenAuth,
)
from service.model.senders import sender_headers

METHOD_KEY = "method"
CONTENT_TYPE = "content-type"
# Enough for what a vendor documents plus a stream's own few; each header value is at most gunicorn's
# limit_request_field_size (8190 bytes), so a row's headers stay far below its size budget.
MAX_KEPT_HEADERS = 16
# Credentials by their standard names, whatever the stream's auth.
NEVER_KEPT = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-hook-secret",
                        "x-api-key", "api-key"})
# Name parts that mark a signature, a credential or a session, for headers of any vendor: `X-Hub-Signature-256`,
# `X-Shopify-Hmac-Sha256`, `close-sig-hash`, `X-Auth-Token`.
SECRET_WORDS = ("signature", "hmac", "secret", "token", "password", "cookie", "credential", "authorization")
SECRET_PARTS = frozenset({"sig", "auth", "apikey", "key"})


def auth_headers(auth: Auth) -> frozenset[str]:
    """The headers (lowercase) the stream's check reads to verify its sender: its secret, signature or signed
    timestamp. A delivery id it reads is not among them (it is public and kept as `delivery_id`)."""
    names: set[str] = set()
    if isinstance(auth, TokenAuth | BasicAuth):
        names.add("authorization")
    if isinstance(auth, TokenAuth) and auth.handshake == "x-hook-secret":
        names.add("x-hook-secret")
    if isinstance(auth, HmacAuth):
        names.add(auth.header)
        if "{timestamp}" in auth.signed:
            names.add(auth.timestamp_header)
    if isinstance(auth, StandardWebhooksAuth):
        names.update(("webhook-signature", "webhook-timestamp"))
    if isinstance(auth, HubSpotAuth):
        names.update(("x-hubspot-signature", "x-hubspot-signature-v3", "x-hubspot-request-timestamp"))
    if isinstance(auth, StripeAuth):
        names.add("stripe-signature")
    if isinstance(auth, KeyAuth) and auth.location == "header":
        names.add(auth.name)
    return frozenset(name.lower() for name in names)


def secret_reason(name: str, auth: Auth) -> str | None:
    """Why the header `name` must never be kept for `auth`, or None when it may be."""
    lower = name.lower()
    if lower in auth_headers(auth):
        return "the stream's auth reads it to verify the sender (a secret, signature or signed timestamp)"
    if lower in NEVER_KEPT:
        return "it carries credentials or a session"
    parts = set(lower.split("-"))
    if any(word in lower for word in SECRET_WORDS) or parts & SECRET_PARTS:
        return "its name marks a signature, secret, token or key"
    return None


def keep_headers_problems(names: object, auth: Auth) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of a stream's `keep_headers`; empty when valid."""
    if not isinstance(names, tuple) or not all(isinstance(name, str) for name in names):
        return [("keep_headers", names, "a tuple of header names, e.g. ('X-Request-Id', 'X-Event-Type')")]
    problems: list[tuple[str, object, str]] = []
    seen: set[str] = set()
    for name in names:
        if not HEADER_NAME.match(name):
            problems.append(("keep_headers", name, "a header name of 1-64 letters, digits and '-'"))
            continue
        reason = secret_reason(name, auth)
        if reason is not None:
            problems.append(("keep_headers", name, f"never stored: {reason}"))
        elif name.lower() in (METHOD_KEY, CONTENT_TYPE):
            problems.append(("keep_headers", name, "the method and Content-Type are always kept; remove it"))
        elif name.lower() in seen:
            problems.append(("keep_headers", name, "listed twice (header names are case-insensitive)"))
        seen.add(name.lower())
    kept = kept_header_names(auth, names) if not problems else ()
    if len(kept) > MAX_KEPT_HEADERS:
        problems.append(("keep_headers", names, f"at most {MAX_KEPT_HEADERS} headers with the sender preset's "
                                                f"own ({', '.join(sender_headers(auth)) or 'none'})"))
    return problems


def kept_header_names(auth: Auth, listed: tuple[str, ...]) -> tuple[str, ...]:
    """The headers (lowercase, each once) a row of this stream keeps besides method and content type: the
    sender preset's, then the stream's own."""
    kept: list[str] = []
    for name in (*sender_headers(auth), *listed):
        # A hand-written auth could read a header a preset keeps: the secret wins, it is never kept.
        if name.lower() not in kept and secret_reason(name, auth) is None:
            kept.append(name.lower())
    return tuple(kept)
