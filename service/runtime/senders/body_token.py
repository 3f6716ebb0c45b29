"""A shared secret inside the body: a form field (Bitrix24 outbound webhooks send `auth[application_token]`)
or a JSON field at a dotted path. The body must be parsed to find it; nothing is written before it matched,
and the token is replaced by `[redacted]` in the stored payload (the rest of the body is kept as sent).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote, quote_plus

from service.model.auth_settings import BodyTokenAuth
from service.runtime.senders.common import matches_any
from service.runtime.verification import AuthFailed, RequestView, Sender


def _form_value(body: str, field: str) -> str | None:
    values = parse_qs(body, keep_blank_values=True).get(field, [])
    return values[0] if len(values) == 1 else None


def _json_value(body: str, path: str) -> str | None:
    try:
        value: object = json.loads(body)
    except ValueError:
        return None
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


class BodyTokenVerifier:
    reads_body = True
    reads_target = False

    def __init__(self, auth: BodyTokenAuth, secrets: tuple[str, ...]) -> None:
        self._auth = auth
        self._tokens = [secret.encode() for secret in secrets]

    def verify(self, request: RequestView) -> Sender:
        auth = self._auth
        try:
            text = request.signed_bytes.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        value = _form_value(text, auth.field) if auth.format == "form" else _json_value(text, auth.field)
        if value is None:
            raise AuthFailed("missing_token", f"the {auth.format} field '{auth.field}' with this stream's token is "
                             "missing from the body (exactly one is expected)")
        if not matches_any(value.encode(), self._tokens):
            raise AuthFailed("bad_token", f"the {auth.format} field '{auth.field}' does not hold a valid token "
                             "for this stream")
        # The token as the body spells it: plain, percent-encoded (forms) or JSON-escaped.
        spellings = {value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]}
        return Sender(redact=tuple(sorted(spelling for spelling in spellings if spelling)))
