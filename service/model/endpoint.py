"""The endpoint's address: where a CRM sends hits, in one place for the deploy, the local stack and the service."""

from __future__ import annotations

from service.model.auth_settings import Auth, takes_path_token

HOOKS_PATH = "/hooks"


def endpoint_url(base_url: str, auth: Auth, secret: str | None) -> str:
    """What the CRM is given: `<base>/hooks`, with the secret as the last path segment for the modes that
    take it there (token, and the presets built on it: Keap, monday, Salesforce)."""
    url = f"{base_url}{HOOKS_PATH}"
    return f"{url}/{secret}" if takes_path_token(auth) and secret is not None else url
