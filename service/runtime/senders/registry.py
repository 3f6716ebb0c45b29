"""Which verifier checks which preset mode (service/model/auth_settings.py); used by make_verifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.model.auth_settings import (
    Auth,
    BasicAuth,
    BodyTokenAuth,
    HubSpotAuth,
    KeyAuth,
    SalesforceAuth,
    StripeAuth,
)
from service.runtime.senders.basic import BasicVerifier
from service.runtime.senders.body_token import BodyTokenVerifier
from service.runtime.senders.hubspot import HubSpotVerifier
from service.runtime.senders.key import KeyVerifier
from service.runtime.senders.salesforce import SalesforceVerifier
from service.runtime.senders.stripe import StripeVerifier
from service.runtime.verification import Verifier

VERIFIERS: dict[type[Any], Callable[[Any, tuple[str, ...]], Verifier]] = {
    HubSpotAuth: HubSpotVerifier,
    StripeAuth: StripeVerifier,
    SalesforceAuth: SalesforceVerifier,
    BasicAuth: BasicVerifier,
    KeyAuth: KeyVerifier,
    BodyTokenAuth: BodyTokenVerifier,
}


def sender_verifier(auth: Auth, secrets: tuple[str, ...]) -> Verifier | None:
    factory = VERIFIERS.get(type(auth))
    return factory(auth, secrets) if factory is not None else None
