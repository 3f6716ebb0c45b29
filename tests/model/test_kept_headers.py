"""Which headers a stream's rows keep: the preset's, the stream's own, never a secret; refused at import."""

from __future__ import annotations

import pytest

from service.model.auth_settings import HmacAuth, KeyAuth, TokenAuth
from service.model.kept_headers import kept_header_names
from service.model.latest import LatestView, PayloadField
from service.model.senders import PRESETS, GitHub, Keap, Shopify, Slack, Stripe, WooCommerce
from service.model.stream import Stream, StreamDefinitionError


def test_each_preset_keeps_the_headers_its_vendor_documents() -> None:
    # Written out from the vendors' pages (docs/senders.md, "Headers kept"), not read from the code.
    assert {name: kept_header_names(preset(), ()) for name, preset in PRESETS.items()} == {
        "HubSpot": (), "Stripe": (), "Salesforce": (), "Keap": (), "Close": (), "Pipedrive": (), "Bitrix24": (),
        "Monday": (),
        "Dynamics": ("x-request-id", "x-ms-dynamics-organization", "x-ms-dynamics-entity-name",
                     "x-ms-dynamics-request-name", "x-ms-correlation-request-id"),
        "GitHub": ("x-github-event", "x-github-delivery", "x-github-hook-id",
                   "x-github-hook-installation-target-type", "x-github-hook-installation-target-id"),
        "Slack": ("x-slack-retry-num", "x-slack-retry-reason"),
        "Shopify": ("x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id", "x-shopify-triggered-at",
                    "x-shopify-event-id", "x-shopify-api-version"),
        "WooCommerce": ("x-wc-webhook-topic", "x-wc-webhook-resource", "x-wc-webhook-event", "x-wc-webhook-id",
                        "x-wc-webhook-delivery-id", "x-wc-webhook-source"),
        "Zendesk": ("x-zendesk-account-id", "x-zendesk-webhook-id", "x-zendesk-webhook-invocation-id"),
        "StandardWebhooks": ("webhook-id",),
    }


def test_a_stream_adds_its_own_headers_after_the_presets_once_each() -> None:
    stream = Stream(name="shop", dataset="shop", table="orders", auth=Shopify(),
                    keep_headers=("X-Request-Id", "x-shopify-topic"))
    assert kept_header_names(stream.auth, stream.keep_headers) == (
        "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-webhook-id", "x-shopify-triggered-at",
        "x-shopify-event-id", "x-shopify-api-version", "x-request-id")


@pytest.mark.parametrize(("auth", "header", "rule"), [
    (Shopify(), "X-Shopify-Hmac-Sha256", "never stored: the stream's auth reads it to verify the sender"),
    (GitHub(), "X-Hub-Signature-256", "never stored: the stream's auth reads it"),
    (WooCommerce(), "X-WC-Webhook-Signature", "never stored: the stream's auth reads it"),
    (Slack(), "X-Slack-Request-Timestamp", "never stored: the stream's auth reads it"),  # a signed timestamp
    (Stripe(), "Stripe-Signature", "never stored: the stream's auth reads it"),
    (Keap(), "X-Hook-Secret", "never stored: the stream's auth reads it"),
    (TokenAuth(), "authorization", "never stored: the stream's auth reads it"),
    (KeyAuth(location="header", name="X-Dataverse-Key"), "X-Dataverse-Key", "never stored: the stream's auth"),
    (TokenAuth(), "Cookie", "never stored: it carries credentials or a session"),
    (TokenAuth(), "Proxy-Authorization", "never stored: it carries credentials or a session"),
    (TokenAuth(), "X-Other-Signature", "never stored: its name marks a signature, secret, token or key"),
    (TokenAuth(), "X-Auth-Token", "never stored: its name marks"),
    (TokenAuth(), "close-sig-hash", "never stored: its name marks"),
    (TokenAuth(), "X Topic", "a header name of 1-64 letters, digits and '-'"),
    (TokenAuth(), "Content-Type", "always kept; remove it"),
])
def test_a_secret_or_bad_header_is_refused_at_import_naming_stream_field_and_rule(
        auth: object, header: str, rule: str) -> None:
    with pytest.raises(StreamDefinitionError) as refused:
        Stream(name="shop", dataset="shop", table="orders", auth=auth, keep_headers=("X-Ok", header))  # type: ignore[arg-type]
    assert str(refused.value).startswith(f"stream 'shop': keep_headers={header!r} is invalid: ")
    assert rule in str(refused.value)


def test_a_header_listed_twice_or_too_many_is_refused() -> None:
    with pytest.raises(StreamDefinitionError, match="listed twice"):
        Stream(name="shop", dataset="shop", table="orders", keep_headers=("X-A", "x-a"))
    many = tuple(f"X-Extra-{number}" for number in range(11))  # Shopify's 6 + 11 > 16
    with pytest.raises(StreamDefinitionError, match="at most 16 headers"):
        Stream(name="shop", dataset="shop", table="orders", auth=Shopify(), keep_headers=many)
    with pytest.raises(StreamDefinitionError, match="a tuple of header names"):
        Stream(name="shop", dataset="shop", table="orders", keep_headers="X-A")  # type: ignore[arg-type]


def test_a_preset_header_read_by_a_hand_written_auth_is_not_kept() -> None:
    # The secret wins: an HMAC over Shopify's signature header that also signs X-Shopify-Triggered-At.
    auth = HmacAuth(header="X-Shopify-Hmac-Sha256", signed="{timestamp}{body}",
                    timestamp_header="X-Shopify-Triggered-At")
    assert "x-shopify-triggered-at" not in kept_header_names(auth, ())


def test_a_view_field_from_a_header_needs_the_stream_to_keep_it() -> None:
    topic = PayloadField("event_type", header="X-Shopify-Topic")
    view = LatestView(fields=(PayloadField("id"), topic), key="id")
    assert Stream(name="shop", dataset="shop", table="orders", auth=Shopify(), latest=view).latest == view
    with pytest.raises(StreamDefinitionError) as refused:
        Stream(name="shop", dataset="shop", table="orders", latest=view)
    assert str(refused.value) == (
        "stream 'shop': latest.fields[1].header='X-Shopify-Topic' is invalid: the row keeps only its sender "
        "preset's headers and keep_headers (none): add it to keep_headers")
