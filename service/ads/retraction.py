"""Retractions through the Google Ads API's ConversionAdjustmentUploadService, with Google's `google-ads` client.

Data Manager documents adjustments that restate a value or supplement user data, no retraction
(https://developers.google.com/data-manager/api/devguides/events/google-ads/conversion-adjustments); a value-0
restatement would keep the conversion counted. The Google Ads API's RETRACTION "negates a conversion so that its
total value and count are both zero"
(https://developers.google.com/google-ads/api/reference/rpc/v26/ConversionAdjustmentTypeEnum.ConversionAdjustmentType),
matched by `order_id` = the transaction id Data Manager got
(https://developers.google.com/google-ads/api/docs/conversions/upload-adjustments).

The client is gRPC only (google-ads ships no REST transport). Its service client is built directly, with the
developer token and login-customer-id as call metadata (what GoogleAdsClient's metadata interceptor sends,
https://developers.google.com/google-ads/api/docs/concepts/call-structure): the job's own Cloud Run identity
authenticates (scope adwords), no OAuth client file. The token is never logged nor put in an error text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from service.ads.config import AdsUploadConfig
from service.ads.ledger import refusal_text
from service.ads.plan import Action

ADWORDS_SCOPE = "https://www.googleapis.com/auth/adwords"
# google-ads 34.0.0 serves v23..v26; v26 is the newest (a Google Ads API version lives about a year).
API_VERSION = "v26"
MAX_ADJUSTMENTS_PER_REQUEST = 2_000
REQUEST_TIMEOUT_SECONDS = 60.0
_SERVICE = f"google.ads.googleads.{API_VERSION}.services"


def conversion_action(config: AdsUploadConfig) -> str:
    return f"customers/{config.operating_account}/conversionActions/{config.conversion_destination}"


def adjustment_date_time(at: dt.datetime) -> str:
    """Google's 'yyyy-mm-dd hh:mm:ss+|-hh:mm' (UTC here)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def make_client(endpoint: str | None = None) -> Any:
    """A ConversionAdjustmentUploadServiceClient: Google's endpoint with the job's credentials (scope adwords),
    or `endpoint` (host:port, the local stand-in) over an insecure channel."""
    from google.ads.googleads.v26.services.services.conversion_adjustment_upload_service import (
        ConversionAdjustmentUploadServiceClient,
    )
    from google.ads.googleads.v26.services.services.conversion_adjustment_upload_service.transports import (
        ConversionAdjustmentUploadServiceGrpcTransport,
    )

    if endpoint:
        import grpc

        transport = ConversionAdjustmentUploadServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
        return ConversionAdjustmentUploadServiceClient(transport=transport)
    import google.auth

    credentials, _ = google.auth.default(scopes=[ADWORDS_SCOPE])
    return ConversionAdjustmentUploadServiceClient(credentials=credentials)


def upload_request(config: AdsUploadConfig, actions: list[Action], validate_only: bool) -> Any:
    from google.ads.googleads.v26.enums.types.conversion_adjustment_type import ConversionAdjustmentTypeEnum
    from google.ads.googleads.v26.services.types.conversion_adjustment_upload_service import (
        ConversionAdjustment,
        UploadConversionAdjustmentsRequest,
    )

    retraction = ConversionAdjustmentTypeEnum.ConversionAdjustmentType.RETRACTION
    adjustments = [ConversionAdjustment(
        conversion_action=conversion_action(config), adjustment_type=retraction,
        order_id=action.conversion.transaction_id,
        # The CRM's time of the refund: after the conversion, and later than any restatement sent before.
        adjustment_date_time=adjustment_date_time(action.conversion.updated_at or action.conversion.conversion_at),
    ) for action in actions]
    # partial_failure: "This should always be set to true" (the method's own documentation).
    return UploadConversionAdjustmentsRequest(customer_id=config.operating_account,
                                              conversion_adjustments=adjustments, partial_failure=True,
                                              validate_only=validate_only)


def metadata(config: AdsUploadConfig, developer_token: str) -> tuple[tuple[str, str], ...]:
    login = (("login-customer-id", config.login_account),) if config.login_account else ()
    return (("developer-token", developer_token), *login)


@dataclass
class Outcome:
    """Per index of the request's adjustments, Google's error text for those it refused; the rest are done."""

    job_id: int = 0
    refused: dict[int, str] = field(default_factory=dict)


def send(client: Any, config: AdsUploadConfig, actions: list[Action], developer_token: str,
         validate_only: bool) -> Outcome:
    """Raises google.api_core.exceptions.GoogleAPIError when the whole request is refused or throttled."""
    response = client.upload_conversion_adjustments(
        request=upload_request(config, actions, validate_only), metadata=metadata(config, developer_token),
        retry=None, timeout=REQUEST_TIMEOUT_SECONDS)
    return Outcome(job_id=int(response.job_id), refused=partial_failures(response, developer_token))


def partial_failures(response: Any, developer_token: str) -> dict[int, str]:
    """The refused adjustments of a partial-failure response: GoogleAdsFailure details whose error location
    names `conversion_adjustments[i]` (https://developers.google.com/google-ads/api/docs/best-practices/partial-failures)."""
    from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure

    status = response.partial_failure_error
    if status is None or not status.code:
        return {}
    refused: dict[int, list[str]] = {}
    for detail in status.details:
        failure = GoogleAdsFailure.deserialize(detail.value)
        for error in failure.errors:
            index = next((element.index for element in error.location.field_path_elements
                          if element.field_name == "conversion_adjustments"), None)
            if index is None:
                continue
            code = type(error.error_code).to_dict(error.error_code, use_integers_for_enums=False)
            refused.setdefault(int(index), []).append(json.dumps({"error_code": code, "message": error.message},
                                                                 sort_keys=True))
    return {index: redact(f"[{', '.join(texts)}]", developer_token) for index, texts in refused.items()}


def error_text(error: Exception, developer_token: str | None) -> str:
    """The ledger's text of a refused request (service/ads/ledger.py), the developer token redacted."""
    return redact(refusal_text(error, api="google_ads"), developer_token)


def redact(text: str, secret: str | None) -> str:
    # Google's messages do not echo headers; this holds even if one ever did.
    return text.replace(secret, "[developer token]") if secret else text
