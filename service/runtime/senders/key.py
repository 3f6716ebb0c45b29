"""The secret as a named query parameter or header (Dynamics 365 / Dataverse webhooks: WebhookKey sends
`?code=<key>`, HttpQueryString `?<name>=<value>`, HttpHeader `<name>: <value>`).

Checked before the body is read. A GET is refused in query mode: its payload is the query string, so the key
would be stored in the table.
"""

from __future__ import annotations

from service.model.auth_settings import KeyAuth
from service.runtime.refusals import Rejected
from service.runtime.senders.common import header_value, matches_any
from service.runtime.verification import AuthFailed, RequestView, Sender


class KeyVerifier:
    reads_body = False
    reads_target = True

    def __init__(self, auth: KeyAuth, secrets: tuple[str, ...]) -> None:
        self._auth = auth
        self._keys = [secret.encode() for secret in secrets]

    def verify(self, request: RequestView) -> Sender:
        auth = self._auth
        if auth.location == "query":
            if request.method == "GET":
                raise Rejected(405, "method_not_allowed", f"this stream takes its key in the '{auth.name}' query "
                               "parameter, so hits must be POST or PUT (a GET's query string would be stored)")
            where = f"the '{auth.name}' query parameter"
            value = request.query.get(auth.name)
        else:
            where = f"the {auth.name} header"
            value = header_value(request.headers, auth.name)
        if not value:
            raise AuthFailed("missing_token", f"{where} with this stream's key is missing")
        if not matches_any(value.encode(), self._keys):
            raise AuthFailed("bad_token", f"{where} does not hold a valid key for this stream")
        delivery_id = header_value(request.headers, auth.delivery_id_header) if auth.delivery_id_header else None
        return Sender(delivery_id=delivery_id or None)
