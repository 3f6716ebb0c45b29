"""One place that builds the official BigQuery client, for Google Cloud or for the local emulator."""

from __future__ import annotations

import os
from typing import Any

from google.api_core import exceptions as api_errors
from google.api_core import retry as api_retry

GOOGLE_ENDPOINT = "https://bigquery.googleapis.com"


def make_client(project: str, emulator_url: str | None = None) -> Any:
    """A `google.cloud.bigquery.Client`; against `emulator_url` (http://host:port) when given."""
    from google.cloud import bigquery

    if emulator_url:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        client = bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=emulator_url),
        )
    else:
        client = bigquery.Client(project=project)
    read_environment_once(client._http, emulator_url or GOOGLE_ENDPOINT)
    return client


def read_environment_once(session: Any, endpoint: str) -> None:
    """Take the proxy and CA-bundle variables into the HTTP session now, and stop it reading them per call.

    `requests` looks at the environment on every request (HTTPS_PROXY / NO_PROXY, twice over, REQUESTS_CA_BUNDLE,
    ~/.netrc): ~0.15 ms of CPU per insertAll, measured (docs/benchmark.md). A container's environment
    does not change while it runs, so the same settings are read once, for the endpoint the client calls.
    (A ~/.netrc is not read: the client authenticates with its own credentials.)"""
    import requests.utils

    session.proxies.update(requests.utils.get_environ_proxies(endpoint))
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


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
