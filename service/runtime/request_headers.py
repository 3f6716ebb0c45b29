"""The row's `headers` column from one request: a lookup of a few precomputed WSGI keys, then one json.dumps.

Which headers: service/model/kept_headers.py, decided once at start-up. Per hit this reads the environ keys
of that allow-list and nothing else, so an unlisted header (a signature, a cookie) is never even looked at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service.model.auth_settings import Auth
from service.model.kept_headers import CONTENT_TYPE, METHOD_KEY, kept_header_names

# One encoder, made once: json.dumps with non-default options builds a new one on every call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def environ_key(header: str) -> str:
    """Where WSGI puts a request header: `X-Shopify-Topic` -> `HTTP_X_SHOPIFY_TOPIC`."""
    return "HTTP_" + header.upper().replace("-", "_")


class HeaderKeeper:
    """Builds the `headers` JSON of a request for one stream's allow-list."""

    def __init__(self, auth: Auth, listed: tuple[str, ...]) -> None:
        # (environ key, JSON key) pairs, computed once: the hot path only does dict lookups.
        self._wanted = tuple((environ_key(name), name) for name in kept_header_names(auth, listed))

    def headers_json(self, environ: Mapping[str, Any], method: str) -> str:
        kept = {METHOD_KEY: method}
        content_type = environ.get("CONTENT_TYPE")  # WSGI keeps it apart from the HTTP_* keys
        if content_type:
            kept[CONTENT_TYPE] = content_type
        for key, name in self._wanted:
            value = environ.get(key)
            if value is not None:
                kept[name] = value
        return _ENCODE(kept)
