"""Sender presets: pick the CRM by name in infra/streams.py (`auth=HubSpot()`), get the settings it needs.

A preset is only a name for settings of service/model/auth_settings.py, so it is validated, deployed and
served like any hand-written setting. Adding a sender: a function here returning its settings, a row in
PRESETS, a test (tests/runtime/test_senders*.py) and a row in docs/senders.md. What each vendor documents
and where: docs/senders.md.
"""

from __future__ import annotations

from collections.abc import Callable

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
)
from service.model.stitch import GENERIC_STATUSES, StatusMap

# The payload field that carries the sender's own time of the change, by auth mode: a latest view that
# declares the field (with a time type) and names no version_field of its own orders events by it.
# HubSpot: each event's `occurredAt` (Unix ms); Stripe: the event's `created` (Unix seconds); Salesforce:
# the record's `LastModifiedDate` (ISO 8601) in each notification.
EVENT_TIME_FIELDS: dict[str, str] = {"hubspot": "occurredAt", "stripe": "created", "salesforce": "LastModifiedDate"}

# How each sender spells its outcomes (service/model/stitch.py's vocabulary), by auth mode: HubSpot's
# default deal pipeline stages, Salesforce's opportunity stages, Stripe's charge / payment statuses.
STATUS_MAPS: dict[str, StatusMap] = {
    "hubspot": (("closedwon", "paid"), ("closedlost", "not_paid")),
    "salesforce": (("Closed Won", "paid"), ("Closed Lost", "not_paid")),
    "stripe": (("succeeded", "paid"), ("paid", "paid"), ("refunded", "refunded"),
               ("partially_refunded", "partially_refunded"), ("disputed", "chargeback"), ("lost", "chargeback"),
               ("failed", "not_paid"), ("canceled", "not_paid"), ("void", "not_paid")),
}


def event_time_field(auth: Auth) -> str | None:
    """The field that carries the sender's event time, None where the preset has none."""
    return EVENT_TIME_FIELDS.get(auth.mode)


def status_map(auth: Auth) -> StatusMap:
    """The sender's statuses and their outcomes; a sender without a map of its own gets the generic one."""
    return STATUS_MAPS.get(auth.mode, GENERIC_STATUSES)


def HubSpot(tolerance_seconds: int = 300) -> HubSpotAuth:
    """HubSpot webhooks (app subscriptions, workflow webhooks): signature v3, 5-minute window."""
    return HubSpotAuth(tolerance_seconds=tolerance_seconds)


def Stripe(tolerance_seconds: int = 300) -> StripeAuth:
    """Stripe webhook endpoints: `Stripe-Signature`, 300 s tolerance (Stripe's default)."""
    return StripeAuth(tolerance_seconds=tolerance_seconds)


def Salesforce(organization_ids: tuple[str, ...]) -> SalesforceAuth:
    """Salesforce outbound messages (workflow / flow): URL token + OrganizationId allow-list, SOAP Ack."""
    return SalesforceAuth(organization_ids=organization_ids)


def Pipedrive(user: str = "hookstream") -> BasicAuth:
    """Pipedrive webhooks: HTTP Basic (http_auth_user = `user`, http_auth_password = the stream's secret)."""
    return BasicAuth(user=user)


def Dynamics(option: str = "WebhookKey", name: str = "code") -> KeyAuth:
    """Dynamics 365 / Dataverse webhooks, by the registration's authentication option: WebhookKey (`?code=`),
    HttpQueryString (`?<name>=`) or HttpHeader (`<name>:`). Its `x-request-id` becomes the delivery id."""
    options = {"WebhookKey": ("query", "code"), "HttpQueryString": ("query", name), "HttpHeader": ("header", name)}
    if option not in options:
        # A preset with a wrong option must fail at import like any invalid setting.
        raise ValueError(f"Dynamics(option={option!r}): use 'WebhookKey', 'HttpQueryString' or 'HttpHeader'")
    location, key_name = options[option]
    return KeyAuth(location="query" if location == "query" else "header", name=key_name,
                   delivery_id_header="x-request-id")


def Keap() -> TokenAuth:
    """Keap REST hooks: the URL token, plus the `X-Hook-Secret` verification handshake echoed back."""
    return TokenAuth(handshake="x-hook-secret")


def Monday() -> TokenAuth:
    """monday.com board webhooks: the URL token, plus the `{"challenge": ...}` echo monday sends first."""
    return TokenAuth(handshake="challenge")


def Close(tolerance_seconds: int = 300) -> HmacAuth:
    """Close: `close-sig-hash` = hex HMAC-SHA256 of `close-sig-timestamp` + body, key = the hex signature_key."""
    return HmacAuth(header="close-sig-hash", signed="{timestamp}{body}", timestamp_header="close-sig-timestamp",
                    tolerance_seconds=tolerance_seconds, key_encoding="hex")


def BodyToken(field: str, format: str = "json") -> BodyTokenAuth:
    """A shared secret sent inside the body: a JSON field (dotted path) or a form field."""
    return BodyTokenAuth(field=field, format="form" if format == "form" else "json")


def Bitrix24() -> BodyTokenAuth:
    """Bitrix24 outbound webhooks: the form field `auth[application_token]`."""
    return BodyTokenAuth(field="auth[application_token]", format="form")


def GitHub() -> HmacAuth:
    return HmacAuth(header="X-Hub-Signature-256", prefix="sha256=", delivery_id_header="X-GitHub-Delivery")


def Slack() -> HmacAuth:
    return HmacAuth(header="X-Slack-Signature", prefix="v0=", signed="v0:{timestamp}:{body}",
                    timestamp_header="X-Slack-Request-Timestamp")


def Shopify() -> HmacAuth:
    return HmacAuth(header="X-Shopify-Hmac-Sha256", encoding="base64", delivery_id_header="X-Shopify-Webhook-Id")


def WooCommerce() -> HmacAuth:
    return HmacAuth(header="X-WC-Webhook-Signature", encoding="base64", delivery_id_header="X-WC-Webhook-Delivery-ID")


def Zendesk() -> HmacAuth:
    # Zendesk's timestamp is ISO 8601 UTC (developer.zendesk.com, "Anatomy of a webhook request").
    return HmacAuth(header="X-Zendesk-Webhook-Signature", encoding="base64", signed="{timestamp}{body}",
                    timestamp_header="X-Zendesk-Webhook-Signature-Timestamp", timestamp_format="iso8601")


def StandardWebhooks() -> StandardWebhooksAuth:
    return StandardWebhooksAuth()


# Every preset with its default arguments, for docs, scripts/send and the tests that cover each one.
PRESETS: dict[str, Callable[[], Auth]] = {
    "HubSpot": HubSpot,
    "Stripe": Stripe,
    "Salesforce": lambda: Salesforce(("00D7Q000006hT3bUAE",)),
    "Keap": Keap,
    "Close": Close,
    "Pipedrive": Pipedrive,
    "Dynamics": Dynamics,
    "Bitrix24": Bitrix24,
    "Monday": Monday,
    "GitHub": GitHub,
    "Slack": Slack,
    "Shopify": Shopify,
    "WooCommerce": WooCommerce,
    "Zendesk": Zendesk,
    "StandardWebhooks": StandardWebhooks,
}


# The headers each vendor documents as saying what happened (topic, resource, event, shop / account, ids,
# triggered-at), kept in the row's `headers` column (service/model/kept_headers.py). Where and what:
# docs/senders.md, "Headers kept". A vendor whose event is named in the body (HubSpot, Stripe, Salesforce,
# Close, Pipedrive, Keap, monday, Bitrix24) has none: its rows keep the method and content type only.
SHOPIFY_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At",
                   "X-Shopify-Event-Id", "X-Shopify-API-Version")
WOOCOMMERCE_HEADERS = ("X-WC-Webhook-Topic", "X-WC-Webhook-Resource", "X-WC-Webhook-Event", "X-WC-Webhook-ID",
                       "X-WC-Webhook-Delivery-ID", "X-WC-Webhook-Source")
GITHUB_HEADERS = ("X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-Type",
                  "X-GitHub-Hook-Installation-Target-ID")
SLACK_HEADERS = ("X-Slack-Retry-Num", "X-Slack-Retry-Reason")
ZENDESK_HEADERS = ("X-Zendesk-Account-Id", "X-Zendesk-Webhook-Id", "X-Zendesk-Webhook-Invocation-Id")
DYNAMICS_HEADERS = ("x-request-id", "x-ms-dynamics-organization", "x-ms-dynamics-entity-name",
                    "x-ms-dynamics-request-name", "x-ms-correlation-request-id")
STANDARD_WEBHOOKS_HEADERS = ("webhook-id",)

# An HMAC preset is told by its signature header: a hand-written HmacAuth with Shopify's header is Shopify.
_HEADERS_BY_SIGNATURE_HEADER: dict[str, tuple[str, ...]] = {
    "x-shopify-hmac-sha256": SHOPIFY_HEADERS,
    "x-wc-webhook-signature": WOOCOMMERCE_HEADERS,
    "x-hub-signature-256": GITHUB_HEADERS,
    "x-slack-signature": SLACK_HEADERS,
    "x-zendesk-webhook-signature": ZENDESK_HEADERS,
}
_HEADERS_BY_MODE: dict[str, tuple[str, ...]] = {"standard-webhooks": STANDARD_WEBHOOKS_HEADERS}


def sender_headers(auth: Auth) -> tuple[str, ...]:
    """The headers the sender behind `auth` documents as meaningful; () where its body says it all."""
    if isinstance(auth, HmacAuth):
        return _HEADERS_BY_SIGNATURE_HEADER.get(auth.header.lower(), ())
    if isinstance(auth, KeyAuth) and auth.delivery_id_header.lower() == "x-request-id":
        return DYNAMICS_HEADERS  # the Dynamics() preset: its request id is its delivery id
    return _HEADERS_BY_MODE.get(auth.mode, ())
