"""Signature and timestamp header values, parsed exactly as the vendors send them (docs/authentication.md
cites each vendor's page).

Python's own parsers are lenient: `int()` takes `+1`, `1_0`, surrounding spaces and non-ASCII digits,
`bytes.fromhex()` takes uppercase and spaces between bytes, `str.isdigit()` is true for '²' (which `int()` then
refuses with a ValueError nobody caught). None of that is a way in without the key, but each is a request no
vendor sends and some were a 500; here a value is either in the vendor's form or refused with its code.
Surrounding whitespace never reaches a check over HTTP: the server strips it as RFC 9110 says.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

from service.runtime.verification import AuthFailed

# Unix seconds (or HubSpot's milliseconds) as ASCII digits; 16 digits reach year 2286 in milliseconds.
_DIGITS = re.compile(r"[0-9]{1,16}")
# Zendesk's form: 2021-03-25T05:09:27Z (UTC, whole seconds).
_ISO_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Every vendor with a hex signature sends lowercase (what hexdigest(), hash_hmac() and digest('hex') give).
_LOWER_HEX = re.compile(r"[0-9a-f]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def digits(value: str, header: str, unit: str = "Unix seconds") -> int:
    if not _DIGITS.fullmatch(value):
        raise AuthFailed("bad_timestamp", f"the {header} header must be {unit}: ASCII digits only, no sign, "
                         "spaces or separators")
    return int(value)


def iso8601_utc(value: str, header: str) -> int:
    """Unix seconds of a `YYYY-MM-DDTHH:MM:SSZ` value."""
    try:
        if not _ISO_UTC.fullmatch(value):
            raise ValueError(value)
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthFailed("bad_timestamp", f"the {header} header must be a UTC time like "
                         "2021-03-25T05:09:27Z") from None
    return int(moment.timestamp())


def hex_digest(text: str, size: int) -> bytes | None:
    """The digest of `size` bytes a lowercase hex value spells, or None when it is not one."""
    if len(text) != 2 * size or not _LOWER_HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def base64_digest(text: str, size: int) -> bytes | None:
    """The digest of `size` bytes a base64 value spells in its one canonical form (padded, no stray bits)."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        digest = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None
    if len(digest) != size or base64.b64encode(digest).decode() != text:
        return None
    return digest
