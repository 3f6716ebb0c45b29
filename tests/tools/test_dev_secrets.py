"""Local endpoint secrets: kept across runs (pasted URLs keep working), private, and in the form each mode needs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from service.model.auth_settings import NoAuth, StandardWebhooksAuth, TokenAuth
from service.model.stream import Stream
from service.runtime.auth import make_verifier
from tools.local.dev_secrets import load_or_create


def stream(auth: object) -> Stream:
    return Stream(name="orders", dataset="crm", table="orders", auth=auth)  # type: ignore[arg-type]


def test_secrets_persist_are_private_and_follow_the_auth_mode(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    first = load_or_create(path, (stream(TokenAuth()),))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path, (stream(TokenAuth()),)) == first  # same URL on the next run
    make_verifier(TokenAuth(), (first["orders"],))  # long enough for a token

    switched = load_or_create(path, (stream(StandardWebhooksAuth()),))
    assert switched["orders"] != first["orders"] and switched["orders"].startswith("whsec_")
    make_verifier(StandardWebhooksAuth(), (switched["orders"],))  # decodes as a Standard Webhooks secret
    assert json.loads(path.read_text()) == switched

    assert "open" not in load_or_create(tmp_path / "other.json", (Stream(
        name="open", dataset="crm", table="open", auth=NoAuth()),))
