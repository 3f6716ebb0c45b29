"""Endpoint secrets for the local stack, kept in .dev/secrets.json (mode 600, git-ignored).

They persist across runs so the URLs a developer pasted keep working. A stream without an entry gets a new
secret in the form its mode needs; an entry is kept as stored whenever the stream's sender accepts it (the
same check the service runs at start-up: a Stripe `whsec_...`, a Close hex key, several secrets separated by
spaces while one is rotated), and one it does not accept stops scripts/dev with a message that names the
stream and the expected form, never the value: replacing it silently would refuse every real hit.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as random_secrets
from pathlib import Path

from service.model.auth_settings import WHSEC_PREFIX, Auth, HmacAuth, StandardWebhooksAuth
from service.model.stream import Stream
from service.runtime.auth import make_verifier, secret_form
from service.runtime.verification import AuthSetupError
from tools.local.processes import StartupFailed


class StoredSecretRefused(StartupFailed):
    """A secret in .dev/secrets.json that the stream's sender check would not start with."""


def generate_secret(auth: Auth) -> str:
    """A new secret in the form the mode expects (scripts/dev, tests; deploys generate theirs in Terraform)."""
    if isinstance(auth, StandardWebhooksAuth):
        return WHSEC_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()
    if isinstance(auth, HmacAuth) and auth.key_encoding == "hex":
        return random_secrets.token_hex(32)
    # URL-safe and long: 43 characters, 256 bits.
    return random_secrets.token_urlsafe(32)


def check_stored(path: Path, stream: Stream, stored: object) -> None:
    """Refuse a stored secret the service would refuse to start with (HOOKSTREAM_SECRETS is split on spaces)."""
    problem = "it is not a JSON string"
    if isinstance(stored, str):
        try:
            make_verifier(stream.auth, tuple(stored.split()))
            return
        except AuthSetupError as error:
            problem = str(error)  # these messages name sizes and forms, never a secret
    raise StoredSecretRefused(
        f"{path}: the secret stored for stream {stream.name!r} (auth mode {stream.auth.mode!r}) is not one its "
        f"sender accepts: {problem}. Expected: {secret_form(stream.auth)}. Store the sender's secret in that "
        "form, or delete the entry to have scripts/dev generate a new one (the endpoint URL then changes).")


def load_or_create(path: Path, streams: tuple[Stream, ...]) -> dict[str, str]:
    secrets: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for stream in streams:
        if stream.auth.mode == "none":
            continue
        if stream.name in secrets:
            check_stored(path, stream, secrets[stream.name])
        else:
            secrets[stream.name] = generate_secret(stream.auth)
            changed = True
    if changed or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(secrets, out, indent=2)
    return secrets
