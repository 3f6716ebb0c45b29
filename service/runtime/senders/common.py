"""Small helpers the sender verifiers share."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from service.runtime.verification import AuthFailed


def matches_any(candidate: bytes, expected: Iterable[bytes]) -> bool:
    # No early exit: the time taken does not tell which (or whether a) secret matched.
    found = False
    for value in expected:
        found |= hmac.compare_digest(candidate, value)
    return found


def header_value(headers: object, name: str) -> str | None:
    value = headers.get(name)  # type: ignore[attr-defined]
    return value.strip() if isinstance(value, str) else None


def require_header(headers: object, name: str, what: str) -> str:
    """The value as received: a signature or timestamp is checked in the vendor's exact form (the server has
    already removed the whitespace HTTP allows around it)."""
    value = headers.get(name)  # type: ignore[attr-defined]
    if not isinstance(value, str) or not value:
        raise AuthFailed("missing_header", f"the {name} header with {what} is missing")
    return value


def check_age(timestamp: int, now: float, tolerance_seconds: int, header: str) -> None:
    if abs(now - timestamp) > tolerance_seconds:
        raise AuthFailed("stale_timestamp",
                         f"the {header} time is more than {tolerance_seconds} s away from the server's clock; "
                         "replayed or delayed requests are refused: send a fresh, signed request")
