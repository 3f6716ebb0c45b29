"""Length limits of the Google APIs that the provider bindings do not check at synth.

- Service account description: at most 256 UTF-8 bytes (hashicorp/google 6.50.0,
  resource_google_service_account.go: `validation.StringLenBetween(0, 256)`; Go counts bytes).
- Cloud Run service description: at most 512 characters (Cloud Run Admin API v2, Service.description).
A dataset or table id may be 1024 characters, so descriptions naming them are cut to fit, visibly.
"""

from __future__ import annotations

SERVICE_ACCOUNT_DESCRIPTION_BYTES = 256
CLOUD_RUN_DESCRIPTION_CHARS = 512
ELLIPSIS = "..."


def fit_bytes(text: str, limit: int) -> str:
    """`text`, or its longest prefix that fits in `limit` UTF-8 bytes with '...' (never half a character)."""
    if len(text.encode()) <= limit:
        return text
    cut = text.encode()[:limit - len(ELLIPSIS)].decode(errors="ignore")
    return cut + ELLIPSIS


def fit_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - len(ELLIPSIS)] + ELLIPSIS
