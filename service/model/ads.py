"""Final CRM outcomes back to Google Ads, as a stream declares it (`ads=GoogleAdsConversions(...)`).

Only the declaration and its rules live here (a bad one fails in infra/streams.py at import); the deploy
code builds the `<table>_ads_conversions` view from it (infra/views/ads_conversions.py) and the upload
job reads that view and keeps the `<table>_ads_uploads` ledger (tools/operator/ads_upload, docs/ads.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from service.model.ids import MAX_TABLE_ID_LENGTH
from service.model.latest import LatestView

ADS_CONVERSIONS_SUFFIX = "_ads_conversions"
ADS_UPLOADS_SUFFIX = "_ads_uploads"
# A Google Ads customer id: ten digits, without dashes (the UI shows 123-456-7890).
ACCOUNT_ID = re.compile(r"^[0-9]{10}$")
# A conversion action id (the `ctId` of the conversion action's URL in Google Ads).
CONVERSION_ACTION_ID = re.compile(r"^[0-9]{1,20}$")
# A Secret Manager secret id (letters, digits, - and _, at most 255).
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# Google Ads accepts offline click conversions up to 90 days after the click (docs/ads.md).
MAX_IMPORT_WINDOW_DAYS = 90
ConsentStatus = Literal["granted", "denied", "unspecified"]
CONSENT_STATUSES: tuple[str, ...] = ("granted", "denied", "unspecified")


@dataclass(frozen=True)
class AdsConsent:
    """What the customers behind these orders agreed to (the EEA's consent mode signals, docs/ads.md):
    `ad_user_data` (their data may be sent to Google for advertising) and `ad_personalization`."""

    ad_user_data: ConsentStatus = "unspecified"
    ad_personalization: ConsentStatus = "unspecified"


@dataclass(frozen=True)
class GoogleAdsConversions:
    """Declares that a stream's final orders go back to one Google Ads conversion action.

    operating_account: the Google Ads account that owns the conversion action (ten digits).
    login_account: the manager account the upload's service account was added to, if not the operating
      account itself; None: the operating account.
    conversion_destination: the id of the conversion action (type "Import from clicks", docs/ads.md).
    email_field / phone_field: the latest view's STRING fields with the customer's email / phone number
      (E.164, e.g. +18005550100); normalised and hashed by the view, never sent in clear.
    click_id_field: a latest-view STRING field with a gclid the CRM stored itself (e.g. from a lead form);
      the attributed GA4 session's gclid / gbraid / wbraid is used first.
    consent: sent with every conversion.
    import_window_days: orders converted longer ago are not sent (counted as outside the window).
    developer_token_secret: the Secret Manager secret (its id, in the deploy's project) holding a Google Ads
      API developer token, which retractions need (Data Manager has none, docs/ads.md); None: retractions
      are not sent, only counted, until one is declared.
    """

    operating_account: str
    conversion_destination: str
    consent: AdsConsent
    login_account: str | None = None
    email_field: str | None = None
    phone_field: str | None = None
    click_id_field: str | None = None
    import_window_days: int = MAX_IMPORT_WINDOW_DAYS
    developer_token_secret: str | None = None


def ads_problems(ads: object, stitch: object, latest: LatestView | None,
                 table: str) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of an ads declaration; empty when valid."""
    if not isinstance(ads, GoogleAdsConversions):
        return [("ads", ads, "use None or GoogleAdsConversions(operating_account=..., conversion_destination=..., "
                             "consent=AdsConsent(...))")]
    if stitch is None or latest is None:
        return [("ads", ads, "the conversions are the attributed orders: declare latest=LatestView(...) and "
                             "stitch=GA4Export(...) too")]
    problems: list[tuple[str, object, str]] = []
    for name, value, optional in (("operating_account", ads.operating_account, False),
                                  ("login_account", ads.login_account, True)):
        if not (optional and value is None) and not (isinstance(value, str) and ACCOUNT_ID.match(value)):
            problems.append((f"ads.{name}", value, "a Google Ads customer id: ten digits without dashes, "
                                                   "e.g. '1234567890'" + (" (or None)" if optional else "")))
    if not isinstance(ads.conversion_destination, str) or not CONVERSION_ACTION_ID.match(ads.conversion_destination):
        problems.append(("ads.conversion_destination", ads.conversion_destination,
                         "the conversion action's id, digits only (its ctId in Google Ads)"))
    consent = ads.consent
    if not isinstance(consent, AdsConsent) or consent.ad_user_data not in CONSENT_STATUSES \
            or consent.ad_personalization not in CONSENT_STATUSES:
        problems.append(("ads.consent", consent, "AdsConsent(ad_user_data=..., ad_personalization=...), each one of "
                                                 f"{', '.join(CONSENT_STATUSES)}"))
    declared = {f.name: f.type for f in latest.fields}
    for name in ("email_field", "phone_field", "click_id_field"):
        value = getattr(ads, name)
        if value is None:
            continue
        if value not in declared:
            problems.append((f"ads.{name}", value, f"name one of the latest view's fields ({', '.join(declared)})"))
        elif declared[value] != "STRING":
            problems.append((f"ads.{name}", value, "the field's type must be STRING"))
    secret = ads.developer_token_secret
    if secret is not None and not (isinstance(secret, str) and SECRET_ID.match(secret)):
        problems.append(("ads.developer_token_secret", secret, "a Secret Manager secret id (letters, digits, - and "
                                                               "_), e.g. 'google-ads-developer-token', or None"))
    window = ads.import_window_days
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_IMPORT_WINDOW_DAYS:
        problems.append(("ads.import_window_days", window,
                         f"a whole number of days from 1 to {MAX_IMPORT_WINDOW_DAYS} (Google Ads' import window)"))
    longest = max(len(ADS_CONVERSIONS_SUFFIX), len(ADS_UPLOADS_SUFFIX))
    if len(table) + longest > MAX_TABLE_ID_LENGTH:
        problems.append(("table", table, f"at most {MAX_TABLE_ID_LENGTH - longest} characters with ads "
                                         f"(the views add {ADS_CONVERSIONS_SUFFIX!r})"))
    return problems
