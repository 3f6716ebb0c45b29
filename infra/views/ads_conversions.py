"""The `<table>_ads_conversions` view: one row per final CRM order that Google Ads can match.

Built on `<table>_attributed` (the order's final revenue in the reporting currency, and the GA4 session's
Google Ads click ids) and `<table>_latest` (the CRM's own email, phone and click-id fields). An order is
in the view when its outcome is final (not `open`), its final revenue converts to the reporting currency,
and it carries a gclid / gbraid / wbraid or a hashed email / phone number. The upload job
(tools/operator/ads_upload) reads it and decides, against its ledger, what to send.

User identifiers are normalised and SHA-256 hashed (hex) as Google's Data Manager formatting guide says
(https://developers.google.com/data-manager/api/devguides/concepts/formatting): email: whitespace removed,
lowercase, and for gmail.com / googlemail.com the dots and any `+suffix` of the local part removed; phone:
E.164 (`+`, the country code and digits only; a number without `+` is not guessed at and not sent). The
clear values never leave the view's SQL. The SQL runs unchanged in BigQuery and the emulator; strings are
joined with ARRAY_TO_STRING (see infra/views/ga4_web.py).
"""

from __future__ import annotations

from infra.views.attributed import attributed_view_id
from infra.views.latest import latest_view_id
from infra.views.sql_steps import Step, check_project, with_steps
from service.model.ads import ADS_CONVERSIONS_SUFFIX, ADS_UPLOADS_SUFFIX, GoogleAdsConversions
from service.model.stream import Stream

# The columns the upload job reads, in the view's order.
COLUMNS = ("transaction_id", "gclid", "gbraid", "wbraid", "email_sha256", "phone_sha256", "conversion_at",
           "updated_at", "outcome", "value", "currency", "ad_user_data_consent", "ad_personalization_consent")


def ads_conversions_view_id(stream: Stream) -> str:
    return f"{stream.table}{ADS_CONVERSIONS_SUFFIX}"


def ads_uploads_table_id(stream: Stream) -> str:
    return f"{stream.table}{ADS_UPLOADS_SUFFIX}"


def ads_of(stream: Stream) -> GoogleAdsConversions:
    if stream.ads is None or stream.stitch is None or stream.latest is None:
        raise ValueError(f"stream {stream.name!r} declares no Google Ads conversions (Stream.ads is None)")
    return stream.ads


def normalized_email_sql(value: str) -> str:
    """SQL for the email `value` formatted as Google's guide says, NULL where it is not user@domain."""
    email = f"LOWER(REGEXP_REPLACE({value}, r'\\s', ''))"
    local, domain = f"REGEXP_EXTRACT({email}, r'^([^@]+)@')", f"REGEXP_EXTRACT({email}, r'@([^@]+)$')"
    gmail_local = f"REGEXP_REPLACE(REGEXP_REPLACE({local}, r'\\+.*$', ''), r'\\.', '')"
    return (f"CASE WHEN NOT REGEXP_CONTAINS({email}, r'^[^@]+@[^@]+$') THEN NULL "
            f"WHEN {domain} IN ('gmail.com', 'googlemail.com') THEN ARRAY_TO_STRING([{gmail_local}, {domain}], '@') "
            f"ELSE {email} END")


def normalized_phone_sql(value: str) -> str:
    """SQL for the phone `value` in E.164 (`+` and digits), NULL without a leading `+` (no country code)."""
    trimmed = f"TRIM({value})"
    digits = f"REGEXP_REPLACE({trimmed}, r'[^0-9]', '')"
    return (f"CASE WHEN STARTS_WITH({trimmed}, '+') AND LENGTH({digits}) > 0 "
            f"THEN ARRAY_TO_STRING(['+', {digits}], '') END")


def sha256_hex_sql(value: str) -> str:
    return f"TO_HEX(SHA256({value}))"


def ads_conversions_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_ads_conversions` for `stream` deployed in `project`."""
    ads = ads_of(stream)
    check_project(project)
    latest = stream.latest
    assert latest is not None
    attributed = f"`{project}.{stream.dataset}.{attributed_view_id(stream)}`"
    orders = f"`{project}.{stream.dataset}.{latest_view_id(stream)}`"

    def crm_field(name: str | None) -> str:
        return "CAST(NULL AS STRING)" if name is None else f"l.`{name}`"

    steps = [
        Step("crm_ids", "\n".join([
            "  SELECT",
            f"    CAST(l.`{latest.key}` AS STRING) AS order_id,",
            f"    {crm_field(ads.email_field)} AS email,",
            f"    {crm_field(ads.phone_field)} AS phone,",
            f"    NULLIF(TRIM({crm_field(ads.click_id_field)}), '') AS crm_gclid",
            f"  FROM {orders} AS l",
        ])),
        Step("candidates", "\n".join([
            "  SELECT",
            "    a.order_id AS transaction_id,",
            # One ad identifier per conversion, the most precise first: a gclid (the session's, else the
            # CRM's), else a gbraid, else a wbraid.
            "    COALESCE(a.gclid, c.crm_gclid) AS gclid,",
            "    IF(COALESCE(a.gclid, c.crm_gclid) IS NULL, a.gbraid, NULL) AS gbraid,",
            "    IF(COALESCE(a.gclid, c.crm_gclid, a.gbraid) IS NULL, a.wbraid, NULL) AS wbraid,",
            f"    {normalized_email_sql('c.email')} AS email_normalized,",
            f"    {normalized_phone_sql('c.phone')} AS phone_normalized,",
            # The web purchase, else the CRM's creation time, else its latest version's.
            "    COALESCE(a.web_purchase_at, a.crm_created_at, a.crm_updated_at) AS conversion_at,",
            "    a.crm_updated_at AS updated_at,",
            "    a.crm_outcome AS outcome,",
            "    a.final_revenue_reporting AS value,",
            "    a.reporting_currency AS currency",
            f"  FROM {attributed} AS a",
            "  LEFT JOIN crm_ids AS c ON c.order_id = a.order_id",
            "  WHERE a.crm_status IS NOT NULL AND a.crm_outcome <> 'open' AND a.final_revenue_reporting IS NOT NULL",
        ])),
    ]
    final = "\n".join([
        "SELECT",
        "  x.transaction_id AS transaction_id, x.gclid AS gclid, x.gbraid AS gbraid, x.wbraid AS wbraid,",
        f"  {sha256_hex_sql('x.email_normalized')} AS email_sha256,",
        f"  {sha256_hex_sql('x.phone_normalized')} AS phone_sha256,",
        "  x.conversion_at AS conversion_at, x.updated_at AS updated_at, x.outcome AS outcome,",
        "  x.value AS value, x.currency AS currency,",
        f"  '{ads.consent.ad_user_data.upper()}' AS ad_user_data_consent,",
        f"  '{ads.consent.ad_personalization.upper()}' AS ad_personalization_consent",
        "FROM candidates AS x",
        "WHERE COALESCE(x.gclid, x.gbraid, x.wbraid, x.email_normalized, x.phone_normalized) IS NOT NULL",
    ])
    return with_steps(steps, final)
