"""How a stream's endpoint tells its CRM from anyone else: the mode chosen in infra/streams.py.

Only settings live here; the secrets themselves come from the environment (Secret Manager on Cloud
Run, .dev/secrets.json locally) and the checks from service/runtime/senders/ (chosen by service/runtime/auth.py).
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

    For CRMs that can only be given a URL. The default. `handshake` answers a sender's verification
    request after the token matched: "x-hook-secret" (Keap REST hooks) or "challenge" (monday.com)."""

    handshake: Literal["none", "x-hook-secret", "challenge"] = "none"
    mode: Literal["token"] = "token"


@dataclass(frozen=True)
class HmacAuth:
    """A signature header the CRM computes over the raw body with a shared secret.

    `signed` is the signed message as a template over the raw bytes: `{body}` alone (GitHub, Shopify),
    or with `{timestamp}` (the `timestamp_header` value, checked against `tolerance_seconds`; Slack
    signs `v0:{timestamp}:{body}`) and `{id}` (the `delivery_id_header` value). For a GET, `{body}` is
    the raw query string. `timestamp_format` is how the sender writes the time: "unix" (seconds, ASCII
    digits) or "iso8601" (`2021-03-25T05:09:27Z`, Zendesk). Hex signatures are lowercase, as every vendor
    sends them. See docs/authentication.md for vendor settings.
    """

    header: str = "X-Signature"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    signed: str = "{body}"
    timestamp_header: str = "X-Timestamp"
    tolerance_seconds: int = 300
    timestamp_format: Literal["unix", "iso8601"] = "unix"
    delivery_id_header: str = ""
    # "hex": the secret is the hex form of the key (Close's signature_key); "text": its UTF-8 bytes.
    key_encoding: Literal["text", "hex"] = "text"
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


# --- Sender presets: settings for CRMs that need more than a token or a configurable HMAC ----------------
# Each class has its own `mode`; AUTH_CLASSES maps the mode back to the class for the service's env codec.
# The friendly names a stream definition uses (HubSpot(), Stripe(), ...) are in service/model/senders.py.

SALESFORCE_ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
QUERY_PARAMETER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BODY_FIELD = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,128}$")


@dataclass(frozen=True)
class HubSpotAuth:
    """HubSpot v3 signatures: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 of method + URI + body +
    `X-HubSpot-Request-Timestamp` (Unix ms) with the app's client secret; older than the tolerance is refused."""

    tolerance_seconds: int = 300
    mode: Literal["hubspot"] = "hubspot"


@dataclass(frozen=True)
class StripeAuth:
    """Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=...]`, hex HMAC-SHA256 of `t.body` with the endpoint's
    `whsec_` signing secret (used as text); any v1 may match (Stripe sends several while a secret rolls)."""

    tolerance_seconds: int = 300
    mode: Literal["stripe"] = "stripe"


@dataclass(frozen=True)
class SalesforceAuth:
    """Salesforce outbound messages: the URL token plus the message's OrganizationId, checked against this
    allow-list (15- or 18-character org ids, Setup > Company Information); answered with the SOAP Ack."""

    organization_ids: tuple[str, ...] = ()
    mode: Literal["salesforce"] = "salesforce"

    def __post_init__(self) -> None:
        # JSON (the service's env) has no tuples: a list read back from it is frozen into one here.
        if isinstance(self.organization_ids, list):
            object.__setattr__(self, "organization_ids", tuple(self.organization_ids))


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic authentication (Pipedrive's http_auth_user / http_auth_password): the user name is set
    here, the password is the stream's secret."""

    user: str = "hookstream"
    mode: Literal["basic"] = "basic"


@dataclass(frozen=True)
class KeyAuth:
    """The secret as a named query parameter or header (Dynamics 365 / Dataverse: WebhookKey = `?code=`,
    HttpQueryString, HttpHeader). `delivery_id_header` names the sender's request id header, if any."""

    location: Literal["query", "header"] = "query"
    name: str = "code"
    delivery_id_header: str = ""
    mode: Literal["key"] = "key"


@dataclass(frozen=True)
class BodyTokenAuth:
    """The secret inside the body: a form field (Bitrix24: `auth[application_token]`) or a JSON field given as
    a dotted path (`auth.token`), compared in constant time."""

    field: str = "auth[application_token]"
    format: Literal["form", "json"] = "form"
    mode: Literal["body-token"] = "body-token"


def _sender_problems(auth: object) -> list[tuple[str, object, str]]:
    problems: list[tuple[str, object, str]] = []
    if isinstance(auth, HubSpotAuth | StripeAuth) and not 1 <= auth.tolerance_seconds <= 3600:
        problems.append(("auth.tolerance_seconds", auth.tolerance_seconds, "use 1-3600 seconds"))
    if isinstance(auth, SalesforceAuth):
        if not isinstance(auth.organization_ids, tuple) or not auth.organization_ids:
            problems.append(("auth.organization_ids", auth.organization_ids,
                             "a tuple of at least one Salesforce org id, e.g. ('00D5e000000KQ2e',) "
                             "(Setup > Company Information > Salesforce.com Organization ID)"))
        else:
            for org_id in auth.organization_ids:
                if not isinstance(org_id, str) or not SALESFORCE_ORG_ID.match(org_id):
                    problems.append(("auth.organization_ids", org_id,
                                     "a 15- or 18-character org id starting with '00D'"))
    if isinstance(auth, BasicAuth) and not re.match(r"^[A-Za-z0-9_.@-]{1,64}$", auth.user):
        problems.append(("auth.user", auth.user, "1-64 letters, digits and '_.@-' (no ':')"))
    if isinstance(auth, KeyAuth):
        if auth.location not in ("query", "header"):
            problems.append(("auth.location", auth.location, "'query' or 'header'"))
        rule = HEADER_NAME if auth.location == "header" else QUERY_PARAMETER
        if not rule.match(auth.name):
            problems.append(("auth.name", auth.name, "a header name of letters, digits and '-'"
                             if auth.location == "header" else "a query parameter of letters, digits and '_.-'"))
        if auth.delivery_id_header and not HEADER_NAME.match(auth.delivery_id_header):
            problems.append(("auth.delivery_id_header", auth.delivery_id_header,
                             "empty, or a header name of 1-64 letters, digits and '-'"))
    if isinstance(auth, BodyTokenAuth):
        if auth.format not in ("form", "json"):
            problems.append(("auth.format", auth.format, "'form' or 'json'"))
        if not BODY_FIELD.match(auth.field):
            problems.append(("auth.field", auth.field, "a form field name or dotted JSON path of 1-128 "
                             "letters, digits and '_.[]-', e.g. 'auth[application_token]' or 'auth.token'"))
    return problems


Auth = (TokenAuth | HmacAuth | StandardWebhooksAuth | NoAuth | HubSpotAuth | StripeAuth | SalesforceAuth
        | BasicAuth | KeyAuth | BodyTokenAuth)
# mode -> settings class: how the service's env codec turns HOOKSTREAM_AUTH back into settings.
AUTH_CLASSES: dict[str, type[Auth]] = {
    cls.mode: cls for cls in (TokenAuth, HmacAuth, StandardWebhooksAuth, NoAuth, HubSpotAuth, StripeAuth,
                              SalesforceAuth, BasicAuth, KeyAuth, BodyTokenAuth)
}
AUTH_MODES = tuple(AUTH_CLASSES)


def takes_path_token(auth: Auth) -> bool:
    """Whether the endpoint URL carries the secret (`/hooks/<secret>`)."""
    return isinstance(auth, TokenAuth | SalesforceAuth)


def auth_problems(auth: Auth) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of an auth setting; empty when valid."""
    problems: list[tuple[str, object, str]] = []
    if not isinstance(auth, tuple(AUTH_CLASSES.values())):
        return [("auth", auth, "use TokenAuth(), HmacAuth(...), StandardWebhooksAuth(), NoAuth() or a sender "
                 "preset from service/model/senders.py (HubSpot(), Stripe(), Salesforce(...), ...)")]
    problems.extend(_sender_problems(auth))
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
        if auth.key_encoding not in ("text", "hex"):
            problems.append(("auth.key_encoding", auth.key_encoding, "one of 'text', 'hex'"))
        if auth.encoding not in ("hex", "base64"):
            problems.append(("auth.encoding", auth.encoding, "one of 'hex', 'base64'"))
        if auth.timestamp_format not in ("unix", "iso8601"):
            problems.append(("auth.timestamp_format", auth.timestamp_format, "one of 'unix', 'iso8601'"))
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
