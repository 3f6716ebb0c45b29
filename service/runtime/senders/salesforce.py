"""Salesforce outbound messages (developer.salesforce.com: "Understanding the Outbound Messaging WSDL",
"Considerations for Security").

Salesforce signs nothing. Its own advice is to check the OrganizationId every message carries; a token in
the URL (as in token mode) keeps other Salesforce customers who learn the URL out as well. The SOAP body is
parsed with defusedxml (no DTDs, no entity expansion) only after the token matched. The notification ids
become the row's delivery id; the `notificationsResponse` Ack (answers.py) is sent only once the row is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from service.model.auth_settings import SALESFORCE_ORG_ID, SalesforceAuth
from service.runtime.refusals import Rejected
from service.runtime.senders.builtin import TokenVerifier
from service.runtime.verification import AuthFailed, RequestView, Sender

SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
MAX_NOTIFICATIONS = 100


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    notification_ids: tuple[str, ...]


def _not_a_message(detail: str) -> Rejected:
    return Rejected(400, "not_outbound_message",
                    f"the body is not a Salesforce outbound message ({detail}); this stream takes the SOAP "
                    "notifications Salesforce sends from an outbound message action")


def parse_outbound_message(body: bytes) -> OutboundMessage:
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise _not_a_message("not well-formed XML, or it declares a DTD or entities") from None
    notifications = root.find(f"{{{SOAP_ENVELOPE}}}Body/{{{OUTBOUND}}}notifications")
    if root.tag != f"{{{SOAP_ENVELOPE}}}Envelope" or notifications is None:
        raise _not_a_message("no soapenv:Envelope/soapenv:Body/notifications element")
    organization_id = (notifications.findtext(f"{{{OUTBOUND}}}OrganizationId") or "").strip()
    ids = tuple((item.findtext(f"{{{OUTBOUND}}}Id") or "").strip()
                for item in notifications.findall(f"{{{OUTBOUND}}}Notification"))
    if not ids or len(ids) > MAX_NOTIFICATIONS or not all(ids):
        raise _not_a_message(f"it must hold 1-{MAX_NOTIFICATIONS} Notification elements, each with an Id")
    return OutboundMessage(organization_id, ids)


class SalesforceVerifier:
    reads_body = True
    reads_target = False

    def __init__(self, auth: SalesforceAuth, secrets: tuple[str, ...]) -> None:
        self._token = TokenVerifier(secrets)
        # Company Information shows 15 characters, messages carry 18 (15 + a case checksum): compare 15.
        self._organizations = frozenset(org_id[:15] for org_id in auth.organization_ids)

    def verify(self, request: RequestView) -> Sender:
        self._token.verify(request)
        message = parse_outbound_message(request.signed_bytes)
        if message.organization_id[:15] not in self._organizations:
            shown = message.organization_id if SALESFORCE_ORG_ID.match(message.organization_id) else "(invalid)"
            raise AuthFailed("unknown_organization",
                             f"OrganizationId {shown} is not in this stream's allow-list: add it to "
                             "auth=Salesforce(organization_ids=...) in infra/streams.py if this org may send")
        return Sender(delivery_id=" ".join(message.notification_ids))
