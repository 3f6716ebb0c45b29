"""A shared secret inside the body: a form field (Bitrix24 outbound webhooks send `auth[application_token]`)
or a JSON field at a dotted path. Nothing is written before it matched, and the token is replaced by
`[redacted]` in the stored payload (the rest of the body is kept as sent).

The token is looked for before anyone is known, so a stranger's body must cost next to nothing: the field is
found by one regular-expression scan (C speed, no per-field objects; a form is never split into its pairs),
and at most a fixed number of candidate values is looked at. Only once a candidate matched a token, i.e.
the sender has proven it holds the secret, is a JSON body parsed in full, to confirm the token sits at the
configured path; a body too deep for Python's parser is then refused like any other, never a 500.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple
from urllib.parse import quote, quote_plus, unquote_plus

from service.model.auth_settings import BodyTokenAuth
from service.runtime.senders.common import matches_any
from service.runtime.verification import AuthFailed, RequestView, Sender

# JSON candidates looked at before the body counts as carrying no valid token: the leaf name may occur in other
# records of a legitimate body, but a stranger repeating it must not buy a value comparison per repetition.
MAX_JSON_CANDIDATES = 16
# Characters a form encoder never percent-encodes (RFC 3986 unreserved); the rest of a field name ('[', ']')
# may come plain or encoded (Bitrix24 sends `auth%5Bapplication_token%5D`).
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")
_JSON_SPACE = "[ \t\n\r]*"
_STRING = json.JSONDecoder()


class Spelled(NamedTuple):
    """A value found in the body, decoded, and as the body spells it (what must not reach the table)."""

    value: str
    raw: str


def _form_name(field: str) -> str:
    parts = []
    for char in field:
        if _UNRESERVED.match(char):
            parts.append(re.escape(char))
        else:
            code = f"{ord(char):02X}"
            parts.append(f"(?:{re.escape(char)}|%{code[0]}[{code[1].upper()}{code[1].lower()}])")
    return "".join(parts)


class FormTokenField:
    """Finds `field=value` among a form body's `&`-separated pairs without splitting the body.

    Both patterns start with a literal, so the regex engine skips to candidates at memchr speed; at most two
    occurrences are ever collected (one is expected)."""

    def __init__(self, field: str) -> None:
        pair = _form_name(field) + r"(?:=([^&]*))?(?=&|\Z)"
        self._at_start = re.compile(pair)
        self._after_separator = re.compile("&" + pair)

    def values(self, body: str) -> list[Spelled]:
        """The values of the first two occurrences of the field (a bare name counts, as blank)."""
        found = [match.group(1) or "" for match in [self._at_start.match(body)] if match]
        for match in self._after_separator.finditer(body):
            if len(found) == 2:
                break
            found.append(match.group(1) or "")
        return [Spelled(unquote_plus(raw), raw) for raw in found]


class JsonTokenField:
    """Finds the string values of the path's last key anywhere in the text, for a comparison with the tokens,
    and confirms a matching one sits at the full dotted path (that parse only runs for a sender with a token)."""

    def __init__(self, path: str) -> None:
        self._path = path.split(".")
        leaf = json.dumps(self._path[-1])  # the key as a JSON encoder spells it
        self._leaf_value = re.compile(re.escape(leaf) + _JSON_SPACE + ":" + _JSON_SPACE + '"')

    def candidates(self, body: str) -> list[Spelled]:
        values: list[Spelled] = []
        for match in self._leaf_value.finditer(body):
            if len(values) == MAX_JSON_CANDIDATES:
                break
            try:  # from the value's opening quote: the C scanner reads that one string and stops
                value, end = _STRING.raw_decode(body, match.end() - 1)
            except ValueError:
                continue
            if isinstance(value, str):
                values.append(Spelled(value, body[match.end():end - 1]))
        return values

    def value_at_path(self, body: str) -> str | None:
        try:
            value: object = json.loads(body)
        except (ValueError, RecursionError):
            return None
        for part in self._path:
            value = value.get(part) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None


class BodyTokenVerifier:
    reads_body = True
    reads_target = False

    def __init__(self, auth: BodyTokenAuth, secrets: tuple[str, ...]) -> None:
        self._auth = auth
        self._tokens = [secret.encode() for secret in secrets]
        self._form = FormTokenField(auth.field)
        self._json = JsonTokenField(auth.field)

    def verify(self, request: RequestView) -> Sender:
        try:
            text = request.signed_bytes.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        found = self._form_token(text) if self._auth.format == "form" else self._json_token(text)
        # The token as this body spells it, and as encoders spell it: plain, percent-encoded or JSON-escaped.
        value = found.value
        spellings = {found.raw, value, quote_plus(value), quote(value, safe=""), json.dumps(value)[1:-1]}
        return Sender(redact=tuple(sorted(spelling for spelling in spellings if spelling)))

    def _missing(self, why: str) -> AuthFailed:
        auth = self._auth
        return AuthFailed("missing_token", f"the {auth.format} field '{auth.field}' with this stream's token "
                          f"is {why}")

    def _bad_token(self) -> AuthFailed:
        auth = self._auth
        return AuthFailed("bad_token", f"the {auth.format} field '{auth.field}' does not hold a valid token "
                          "for this stream")

    def _form_token(self, text: str) -> Spelled:
        values = self._form.values(text)
        if len(values) != 1:
            raise self._missing("missing from the body (exactly one is expected)" if not values else
                                "in the body more than once (exactly one is expected)")
        if not matches_any(values[0].value.encode(), self._tokens):
            raise self._bad_token()
        return values[0]

    def _json_token(self, text: str) -> Spelled:
        candidates = self._json.candidates(text)
        if not candidates:
            raise self._missing("missing from the body (a JSON object holding it as a string is expected)")
        matching = [found for found in candidates if matches_any(found.value.encode(), self._tokens)]
        if not matching:
            raise self._bad_token()
        at_path = self._json.value_at_path(text)
        if at_path is None or not any(found.value == at_path for found in matching):
            raise self._missing("not where the stream expects it: the body must be one valid JSON object "
                                "(nested less deeply than Python's parser allows) holding the token as the "
                                "string at that path")
        return next(found for found in matching if found.value == at_path)
