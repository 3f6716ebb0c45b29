"""HTTP Basic authentication (Pipedrive webhooks: `http_auth_user` / `http_auth_password`).

The user name is a setting, the password the stream's secret; both are compared in constant time and a
mismatch does not say which of the two was wrong.
"""

from __future__ import annotations

import base64
import binascii

from service.model.auth_settings import BasicAuth
from service.runtime.senders.common import matches_any
from service.runtime.verification import AuthFailed, RequestView, Sender


class BasicVerifier:
    reads_body = False
    reads_target = False

    def __init__(self, auth: BasicAuth, secrets: tuple[str, ...]) -> None:
        self._user = auth.user.encode()
        self._passwords = [secret.encode() for secret in secrets]

    def verify(self, request: RequestView) -> Sender:
        scheme, _, encoded = (request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise AuthFailed("missing_credentials", "this endpoint needs HTTP Basic credentials: set the webhook's "
                             "HTTP auth user name and password (Pipedrive: http_auth_user / http_auth_password)")
        try:
            user, separator, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (ValueError, binascii.Error):
            raise AuthFailed("bad_credentials_encoding", "the Authorization: Basic value is not base64") from None
        user_ok = matches_any(user, [self._user])
        password_ok = matches_any(password, self._passwords)
        if not (separator and user_ok and password_ok):
            raise AuthFailed("bad_credentials", "the HTTP Basic user name or password is not valid for this stream")
        return Sender()
