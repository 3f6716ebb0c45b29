"""One place that builds the official BigQuery client, for Google Cloud or for the local emulator."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as api_errors
from google.api_core import retry as api_retry


def make_client(project: str, emulator_url: str | None = None) -> Any:
    """A `google.cloud.bigquery.Client`; against `emulator_url` (http://host:port) when given."""
    from google.cloud import bigquery

    if emulator_url:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=emulator_url),
        )
    return bigquery.Client(project=project)


def _is_retryable(error: Exception) -> bool:
    # Server-side trouble and rate limits pass; a bad request or a missing table does not.
    return isinstance(
        error,
        api_errors.InternalServerError
        | api_errors.BadGateway
        | api_errors.ServiceUnavailable
        | api_errors.GatewayTimeout
        | api_errors.TooManyRequests
        | ConnectionError,
    ) or api_retry.if_transient_error(error)


RETRYABLE = _is_retryable
