"""Endpoint secrets for the local stack, kept in .dev/secrets.json (mode 600, git-ignored).

They persist across runs so the URLs a developer pasted keep working; a stream whose auth mode
changed gets a new secret in the form its mode needs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as random_secrets
from pathlib import Path

from service.model.auth_settings import WHSEC_PREFIX, Auth, HmacAuth, StandardWebhooksAuth
from service.model.stream import Stream


def generate_secret(auth: Auth) -> str:
    """A new secret in the form the mode expects (scripts/dev, tests; deploys generate theirs in Terraform)."""
    if isinstance(auth, StandardWebhooksAuth):
        return WHSEC_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()
    if _hex_key(auth):
        return random_secrets.token_hex(32)
    # URL-safe and long: 43 characters, 256 bits.
    return random_secrets.token_urlsafe(32)


def _hex_key(auth: Auth) -> bool:
    return isinstance(auth, HmacAuth) and auth.key_encoding == "hex"


def _fits(stream: Stream, secret: str) -> bool:
    if _hex_key(stream.auth) and not all(c in "0123456789abcdefABCDEF" for c in secret):
        return False
    return secret.startswith(WHSEC_PREFIX) == isinstance(stream.auth, StandardWebhooksAuth)


def load_or_create(path: Path, streams: tuple[Stream, ...]) -> dict[str, str]:
    secrets: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for stream in streams:
        if stream.auth.mode == "none":
            continue
        if stream.name not in secrets or not _fits(stream, secrets[stream.name]):
            secrets[stream.name] = generate_secret(stream.auth)
            changed = True
    if changed or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(secrets, out, indent=2)
    return secrets
