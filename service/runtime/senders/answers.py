"""What a sender expects back besides hookstream's JSON answer.

- Handshakes (never rows): Keap's REST hook verification (`X-Hook-Secret` echoed in the answer's headers) and
  monday.com's URL challenge (`{"challenge": ...}` echoed as JSON). Detected only after the stream's checks
  passed, so a stranger cannot make the endpoint answer one.
- Acknowledgements (after the row is stored): Salesforce's SOAP `notificationsResponse` with Ack true; any
  other answer makes Salesforce re-send the message for up to 24 hours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Response
from werkzeug.datastructures import Headers

from service.model.auth_settings import Auth, SalesforceAuth, TokenAuth


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 200


SALESFORCE_ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack>"
    b"</notificationsResponse>"
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)
# A hook secret or challenge is echoed back: only printable ASCII of bounded length, so an answer header or
# body can never carry anything but what the handshake needs.
_ECHOABLE = re.compile(r"^[\x21-\x7e]{1,512}$")
MAX_CHALLENGE_BODY = 4096


def handshake_answer(auth: Auth, headers: Mapping[str, str] | Headers, body: bytes) -> Answer | None:
    """The answer to a handshake request, or None when the request is an ordinary hit."""
    if not isinstance(auth, TokenAuth) or auth.handshake == "none":
        return None
    if auth.handshake == "x-hook-secret":
        secret = headers.get("X-Hook-Secret")
        if secret is None or not _ECHOABLE.match(secret):
            return None
        return Answer(b'{"status":"handshake"}', "application/json", (("X-Hook-Secret", secret),))
    if len(body) > MAX_CHALLENGE_BODY or not body.lstrip().startswith(b"{"):
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # 4 KiB of '[' is deeper than Python's parser goes: not a challenge
        return None
    challenge = message.get("challenge") if isinstance(message, dict) and len(message) == 1 else None
    if not isinstance(challenge, str) or not _ECHOABLE.match(challenge):
        return None
    return Answer(json.dumps({"challenge": challenge}, separators=(",", ":")).encode(), "application/json")


def stored_answer(auth: Auth) -> Answer | None:
    """The sender's own acknowledgement, sent instead of the JSON answer once the row is stored."""
    if isinstance(auth, SalesforceAuth):
        return Answer(SALESFORCE_ACK, "text/xml; charset=utf-8")
    return None


def answer_response(answer: Answer) -> Response:
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers:
        response.headers[name] = value
    return response
