"""The Data Manager API through Google's own client (`google-ads-datamanager`, REST transport).

Conversions and restatements go to `events:ingest` with the order id as transaction id: Google Ads treats an
event whose transaction id matches an earlier conversion of the same conversion action as an adjustment of it
(https://developers.google.com/data-manager/api/devguides/events/google-ads/conversion-adjustments). A
restatement carries the new value and a later `last_updated_timestamp`. That page documents no retraction:
retractions go to the Google Ads API (service/ads/retraction.py). One attempt per request: a throttled or
failed request is sent again by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from service.ads.config import AdsUploadConfig
from service.ads.plan import Action

DATAMANAGER_SCOPE = "https://www.googleapis.com/auth/datamanager"
MAX_EVENTS_PER_REQUEST = 2_000  # Data Manager's limit per events:ingest request
REQUEST_TIMEOUT_SECONDS = 60.0


def make_client(endpoint: str | None = None) -> Any:
    """An IngestionServiceClient: Google's endpoint with the job's own credentials (the Data Manager scope),
    or `endpoint` (http://127.0.0.1:port, the local stand-in) with anonymous credentials."""
    from google.ads import datamanager_v1

    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return datamanager_v1.IngestionServiceClient(
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            transport="rest", client_options=ClientOptions(api_endpoint=endpoint))
    import google.auth

    credentials, _ = google.auth.default(scopes=[DATAMANAGER_SCOPE])
    return datamanager_v1.IngestionServiceClient(credentials=credentials, transport="rest")


def _consent_status(value: str) -> Any:
    from google.ads import datamanager_v1

    return {"GRANTED": datamanager_v1.ConsentStatus.CONSENT_GRANTED,
            "DENIED": datamanager_v1.ConsentStatus.CONSENT_DENIED}.get(
        value, datamanager_v1.ConsentStatus.CONSENT_STATUS_UNSPECIFIED)


def _event(action: Action) -> Any:
    from google.ads import datamanager_v1

    c = action.conversion
    identifiers = [datamanager_v1.UserIdentifier(email_address=c.email_sha256)] if c.email_sha256 else []
    if c.phone_sha256:
        identifiers.append(datamanager_v1.UserIdentifier(phone_number=c.phone_sha256))
    event = datamanager_v1.Event(
        transaction_id=c.transaction_id,
        event_timestamp=c.conversion_at,
        last_updated_timestamp=c.updated_at or c.conversion_at,
        conversion_value=float(action.value),
        currency=c.currency,
        event_source=datamanager_v1.EventSource.OTHER,
        consent=datamanager_v1.Consent(ad_user_data=_consent_status(c.ad_user_data_consent),
                                       ad_personalization=_consent_status(c.ad_personalization_consent)),
    )
    if c.gclid or c.gbraid or c.wbraid:
        event.ad_identifiers = datamanager_v1.AdIdentifiers(gclid=c.gclid or "", gbraid=c.gbraid or "",
                                                            wbraid=c.wbraid or "")
    if identifiers:
        event.user_data = datamanager_v1.UserData(user_identifiers=identifiers)
    return event


def ingest_request(config: AdsUploadConfig, actions: list[Action], validate_only: bool) -> Any:
    from google.ads import datamanager_v1

    account = datamanager_v1.ProductAccount
    destination = datamanager_v1.Destination(
        operating_account=account(account_id=config.operating_account, account_type=account.AccountType.GOOGLE_ADS),
        product_destination_id=config.conversion_destination)
    if config.login_account:
        destination.login_account = account(account_id=config.login_account,
                                            account_type=account.AccountType.GOOGLE_ADS)
    return datamanager_v1.IngestEventsRequest(
        destinations=[destination], events=[_event(action) for action in actions],
        encoding=datamanager_v1.Encoding.HEX, validate_only=validate_only)


def send(client: Any, request: Any) -> str:
    """The request id; raises google.api_core.exceptions.GoogleAPIError when refused or throttled."""
    response = client.ingest_events(request=request, retry=None, timeout=REQUEST_TIMEOUT_SECONDS)
    return str(response.request_id)


def retrieve(client: Any, request_id: str) -> tuple[str, str]:
    """Google's status of an earlier request (the worst over its destinations) and its details as JSON."""
    from google.ads import datamanager_v1

    response = client.retrieve_request_status(
        request=datamanager_v1.RetrieveRequestStatusRequest(request_id=request_id),
        retry=None, timeout=REQUEST_TIMEOUT_SECONDS)
    statuses = list(response.request_status_per_destination)
    names = [status.request_status.name for status in statuses] or ["REQUEST_STATUS_UNKNOWN"]
    order = ("FAILED", "PARTIAL_SUCCESS", "PROCESSING", "REQUEST_STATUS_UNKNOWN", "SUCCESS")
    worst = min(names, key=lambda name: order.index(name) if name in order else 0)
    details = [json.loads(type(status).to_json(status, use_integers_for_enums=False)) for status in statuses]
    for detail in details:
        detail.pop("destination", None)
    return worst, json.dumps(details, sort_keys=True)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
