"""How a stream's endpoint tells its CRM from anyone else: the mode chosen in infra/streams.py.

Only settings live here; the secrets themselves come from the environment (Secret Manager on Cloud
Run, .dev/secrets.json locally) and the checks from service/runtime/auth.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# A Standard Webhooks secret is this prefix and the base64 of its key bytes.
WHSEC_PREFIX = "whsec_"


@dataclass(frozen=True)
class TokenAuth:
    """A long random secret in the endpoint URL (`/hooks/<secret>`), or as `Authorization: Bearer`.

    For CRMs that can only be given a URL. The default."""

    mode: Literal["token"] = "token"


@dataclass(frozen=True)
class HmacAuth:
    """A signature header the CRM computes over the raw body with a shared secret.

    `signed` is the signed message as a template over the raw bytes: `{body}` alone (GitHub, Shopify),
    or with `{timestamp}` (the `timestamp_header` value, checked against `tolerance_seconds`; Slack
    signs `v0:{timestamp}:{body}`) and `{id}` (the `delivery_id_header` value). For a GET, `{body}` is
    the raw query string. See docs/authentication.md for vendor settings.
    """

    header: str = "X-Signature"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    signed: str = "{body}"
    timestamp_header: str = "X-Timestamp"
    tolerance_seconds: int = 300
    delivery_id_header: str = ""
    mode: Literal["hmac"] = "hmac"


@dataclass(frozen=True)
class StandardWebhooksAuth:
    """The Standard Webhooks scheme (webhook-id / webhook-timestamp / webhook-signature, `whsec_` secrets)."""

    tolerance_seconds: int = 300
    mode: Literal["standard-webhooks"] = "standard-webhooks"


@dataclass(frozen=True)
class NoAuth:
    """Anyone who knows the URL can write rows. Only when chosen explicitly; warns at start-up and in synth."""

    mode: Literal["none"] = "none"


Auth = TokenAuth | HmacAuth | StandardWebhooksAuth | NoAuth
# Each mode's settings class by its `mode` name: how the service's env names the class (service_env.py).
AUTH_CLASSES: dict[str, type[Auth]] = {
    "token": TokenAuth, "hmac": HmacAuth, "standard-webhooks": StandardWebhooksAuth, "none": NoAuth,
}


def auth_problems(auth: Auth) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of an auth setting; empty when valid."""
    problems: list[tuple[str, object, str]] = []
    if not isinstance(auth, tuple(AUTH_CLASSES.values())):
        return [("auth", auth, "use TokenAuth(), HmacAuth(...), StandardWebhooksAuth() or NoAuth()")]
    if isinstance(auth, HmacAuth):
        for name in ("header", "timestamp_header"):
            value = getattr(auth, name)
            if not HEADER_NAME.match(value):
                problems.append((f"auth.{name}", value, "a header name of 1-64 letters, digits and '-'"))
        if auth.delivery_id_header and not HEADER_NAME.match(auth.delivery_id_header):
            problems.append(("auth.delivery_id_header", auth.delivery_id_header,
                             "empty, or a header name of 1-64 letters, digits and '-'"))
        if auth.algorithm not in ("sha1", "sha256", "sha512"):
            problems.append(("auth.algorithm", auth.algorithm, "one of 'sha1', 'sha256', 'sha512'"))
        if auth.encoding not in ("hex", "base64"):
            problems.append(("auth.encoding", auth.encoding, "one of 'hex', 'base64'"))
        problems.extend(_template_problems(auth))
        if len(auth.prefix) > 32 or any(c.isspace() for c in auth.prefix):
            problems.append(("auth.prefix", auth.prefix, "at most 32 characters, no spaces (e.g. 'sha256=')"))
    if isinstance(auth, HmacAuth | StandardWebhooksAuth) and not 1 <= auth.tolerance_seconds <= 3600:
        problems.append(("auth.tolerance_seconds", auth.tolerance_seconds, "use 1-3600 seconds"))
    return problems


SIGNED_PLACEHOLDERS = ("{body}", "{timestamp}", "{id}")


def _template_problems(auth: HmacAuth) -> list[tuple[str, object, str]]:
    template = auth.signed
    rest = template
    for placeholder in SIGNED_PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if template.count("{body}") != 1 or "{" in rest or "}" in rest:
        return [("auth.signed", template,
                 "a template with {body} exactly once and optionally {timestamp} and {id}, "
                 "e.g. '{body}' or 'v0:{timestamp}:{body}'")]
    if "{id}" in template and not auth.delivery_id_header:
        return [("auth.signed", template, "{id} needs auth.delivery_id_header to name the header it comes from")]
    return []


def signed_message(auth: HmacAuth, body: bytes, timestamp: str, delivery_id: str) -> bytes:
    """The bytes an HMAC sender signs: `auth.signed` with the raw body, timestamp and delivery id filled in.

    The one filling of the template, used by the service's check and by scripts/send alike."""
    before, after = auth.signed.split("{body}")
    for placeholder, value in (("{timestamp}", timestamp), ("{id}", delivery_id)):
        before, after = before.replace(placeholder, value), after.replace(placeholder, value)
    return before.encode() + body + after.encode()
