"""How long each sender waits for an answer before it counts the delivery as failed, as its vendor publishes it.

A stream's answer budget (Stream.answer_budget_seconds) must leave room for the network and the spool upload
that may follow it: a sender that gives up first retries (a duplicate) or, if it never retries, believes a
stored hit was lost. Senders are recognised by their settings (the preset's class or signature header); a
sender not listed here has no published limit we know of, and any budget up to MAX_ANSWER_BUDGET_SECONDS is
accepted. Sources: docs/senders.md, "How long senders wait".
"""

from __future__ import annotations

from dataclasses import dataclass

from service.model.auth_settings import Auth, HmacAuth, HubSpotAuth

DEFAULT_ANSWER_BUDGET_SECONDS = 2.0
# Cloud Run and every listed sender wait longer than this; a larger budget only makes senders wait.
MAX_ANSWER_BUDGET_SECONDS = 10.0
# What the answer may take beyond the budget: the spool upload (~0.1-0.3 s, docs/spool.md) and the network.
ANSWER_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class SenderTimeout:
    sender: str
    seconds: float
    source: str  # the vendor's page that says so


SHOPIFY = SenderTimeout("Shopify", 5.0, "https://shopify.dev/docs/apps/build/webhooks/troubleshooting-webhooks")
GITHUB = SenderTimeout("GitHub", 10.0,
                       "https://docs.github.com/en/webhooks/using-webhooks/best-practices-for-using-webhooks")
SLACK = SenderTimeout("Slack", 3.0, "https://docs.slack.dev/tools/java-slack-sdk/guides/events-api")
HUBSPOT = SenderTimeout("HubSpot", 5.0, "https://developers.hubspot.com/docs/api/webhooks")
CLOSE = SenderTimeout("Close", 15.0, "https://developer.close.com/api/overview/changelog/2026/11/9")

# HMAC senders are told apart by the header their signature comes in.
_BY_SIGNATURE_HEADER = {
    "x-shopify-hmac-sha256": SHOPIFY,
    "x-hub-signature-256": GITHUB,
    "x-slack-signature": SLACK,
    "close-sig-hash": CLOSE,
}


def sender_timeout(auth: Auth) -> SenderTimeout | None:
    """The published answer timeout of the sender these settings are for; None when none is known."""
    if isinstance(auth, HubSpotAuth):
        return HUBSPOT
    if isinstance(auth, HmacAuth):
        return _BY_SIGNATURE_HEADER.get(auth.header.lower())
    return None


def answer_budget_problem(budget_seconds: float, auth: Auth) -> str | None:
    """Why `budget_seconds` is not a usable answer budget for this sender, or None when it is."""
    if not isinstance(budget_seconds, (int, float)) or not 0.1 <= budget_seconds <= MAX_ANSWER_BUDGET_SECONDS:
        return f"use a number of seconds from 0.1 to {MAX_ANSWER_BUDGET_SECONDS:g}"
    limit = sender_timeout(auth)
    if limit is not None and budget_seconds + ANSWER_MARGIN_SECONDS > limit.seconds:
        return (f"{limit.sender} stops waiting after {limit.seconds:g} s ({limit.source}); leave "
                f"{ANSWER_MARGIN_SECONDS:g} s for the spool upload and the network: use at most "
                f"{limit.seconds - ANSWER_MARGIN_SECONDS:g} s")
    return None
