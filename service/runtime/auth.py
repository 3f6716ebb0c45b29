"""Picks the check for a stream's auth mode, and refuses to start with no secret or a weak one.

The checks are in service/runtime/senders/; what they share (RequestView, Sender, AuthFailed) in
service/runtime/verification.py.
"""

from __future__ import annotations

from service.model.auth_settings import Auth, HmacAuth, NoAuth, StandardWebhooksAuth, TokenAuth
from service.runtime.senders.builtin import HmacVerifier, OpenVerifier, StandardWebhooksVerifier, TokenVerifier
from service.runtime.senders.registry import sender_verifier
from service.runtime.verification import AuthSetupError, Verifier, key_material

# Key material below this is guessable or brute-forceable offline from one signed request; the
# deploy generates 64 characters (token, HMAC) or 32 random bytes (Standard Webhooks).
MIN_SECRET_BYTES = 16


def check_secret_strength(auth: Auth, secrets: tuple[str, ...]) -> None:
    """Refuse to start with a weak secret: `whsec_` with nothing after it is an empty HMAC key."""
    for number, secret in enumerate(secrets, start=1):
        size = len(key_material(auth, secret))
        if size < MIN_SECRET_BYTES:
            # The position and size only: never the value.
            raise AuthSetupError(f"secret {number} of {len(secrets)} for auth mode {auth.mode!r} has {size} bytes "
                                 f"of key material; at least {MIN_SECRET_BYTES} are required "
                                 "(generate one with scripts/dev or the deploy, never by hand)")


def secret_form(auth: Auth) -> str:
    """What a secret for `auth` looks like, for messages that must say so without showing one."""
    if isinstance(auth, StandardWebhooksAuth):
        return (f"'whsec_' followed by the base64 of at least {MIN_SECRET_BYTES} random bytes (the sender's "
                "signing secret, e.g. a Svix endpoint's)")
    if isinstance(auth, HmacAuth) and auth.key_encoding == "hex":
        return f"an even number of hex digits, at least {2 * MIN_SECRET_BYTES} (e.g. Close's signature_key)"
    return (f"at least {MIN_SECRET_BYTES} characters without spaces, as the sender shows or takes it (e.g. "
            "Stripe's whsec_..., HubSpot's client secret); several separated by spaces while one is rotated")


def make_verifier(auth: Auth, secrets: tuple[str, ...]) -> Verifier:
    """The check for a stream; refuses to start a protected stream that has no secret."""
    if isinstance(auth, NoAuth):
        return OpenVerifier()
    if not secrets:
        raise AuthSetupError(f"auth mode {auth.mode!r} needs at least one secret in HOOKSTREAM_SECRETS")
    check_secret_strength(auth, secrets)
    if isinstance(auth, TokenAuth):
        return TokenVerifier(secrets)
    if isinstance(auth, HmacAuth):
        return HmacVerifier(auth, secrets)
    if isinstance(auth, StandardWebhooksAuth):
        return StandardWebhooksVerifier(auth, secrets)
    verifier = sender_verifier(auth, secrets)
    if verifier is None:
        raise AuthSetupError(f"auth mode {auth.mode!r} has no verifier")
    return verifier
