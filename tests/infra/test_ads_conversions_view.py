"""The Google Ads declaration and the `<table>_ads_conversions` view, in the emulator over the synthetic GA4
export and CRM hits sent through gunicorn. Expected hashes are written out: Google's own examples
(googleads/data-manager-python tests/formatter_test.py, for the Data Manager formatting guide
https://developers.google.com/data-manager/api/devguides/concepts/formatting), or `printf '%s' ... |
sha256sum` of the normalised string the guide's own example gives."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.views.ads_conversions import ads_conversions_sql
from service.model.ads import AdsConsent, GoogleAdsConversions
from service.model.latest import PayloadField
from service.model.stitch import GA4Export
from service.model.stream import Stream, StreamDefinitionError
from tests.conftest import Emulator
from tests.infra.test_attributed_view import CRM_ORDERS, WITH_REFUNDS, curl
from tools.local.ga4_sample import load_sample

GRANTED = AdsConsent(ad_user_data="granted", ad_personalization="granted")
WITH_CONTACT = dataclasses.replace(WITH_REFUNDS, fields=(
    *WITH_REFUNDS.fields, PayloadField("email"), PayloadField("phone"), PayloadField("gclid"),
    PayloadField("amount", "NUMERIC")))
# Google's example: "  ALEXZ@example.com   " and its variants hash (hex) to this.
ALEXZ_SHA256 = "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a"
# Google's example: +18005550100 ("(800)555-0100" in the US) hashes to this.
PHONE_SHA256 = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"
# The guide: cloudy.sanfrancisco+shopping@gmail.com -> cloudysanfrancisco@gmail.com; sha256sum of the latter.
CLOUDY_SHA256 = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
# The guide: user.name+NYC@Example.com -> user.name+nyc@example.com (not gmail: dots and plus kept); sha256sum.
USER_NAME_SHA256 = "f109a2a632fbcea5fc82049f50beed3d8621bf9034399f437fb622222acccdac"


def with_ads(**overrides: Any) -> Stream:
    ads = {"operating_account": "1234567890", "conversion_destination": "987654321", "consent": GRANTED,
           "email_field": "email", "phone_field": "phone", "click_id_field": "gclid", **overrides}
    return dataclasses.replace(CRM_ORDERS, latest=WITH_CONTACT,
                               stitch=GA4Export(dataset="analytics_42", refunded_field="refunded"),
                               ads=GoogleAdsConversions(**ads))


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"operating_account": "123-456-7890"}, "ads.operating_account", "ten digits"),
        ({"login_account": "12345"}, "ads.login_account", "ten digits"),
        ({"conversion_destination": "AW-123/abc"}, "ads.conversion_destination", "digits only"),
        ({"consent": AdsConsent(ad_user_data="yes")},  # type: ignore[arg-type]
         "ads.consent", "granted, denied, unspecified"),
        ({"email_field": "mail"}, "ads.email_field", "latest view's fields"),
        ({"phone_field": "amount"}, "ads.phone_field", "STRING"),
        ({"import_window_days": 120}, "ads.import_window_days", "1 to 90"),
        ({"developer_token_secret": "projects/p/secrets/t"}, "ads.developer_token_secret", "Secret Manager secret id"),
    ],
)
def test_a_bad_ads_declaration_names_stream_field_value_and_rule(overrides: dict[str, Any], field: str,
                                                                 hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        with_ads(**overrides)
    assert "stream 'crm-orders'" in str(caught.value)
    assert caught.value.field_name == field
    assert hint in str(caught.value)


def test_ads_needs_an_attributed_stream() -> None:
    with pytest.raises(StreamDefinitionError, match="declare latest=LatestView"):
        Stream(name="orders", dataset="crm", table="orders",
               ads=GoogleAdsConversions(operating_account="1234567890", conversion_destination="1", consent=GRANTED))


def test_the_view_reads_the_attributed_and_latest_views_and_never_selects_clear_identifiers() -> None:
    sql = ads_conversions_sql(with_ads(), "my-project")
    assert "FROM `my-project.crm.orders_attributed` AS a" in sql
    assert "FROM `my-project.crm.orders_latest` AS l" in sql
    final = sql[sql.rindex("\nSELECT"):]
    assert "TO_HEX(SHA256(x.email_normalized)) AS email_sha256" in final and "x.email_normalized AS" not in final


@pytest.mark.integration
def test_the_view_lists_final_matchable_orders_with_hashed_identifiers(emulator: Emulator,
                                                                       start_stream_service: Any) -> None:
    ga4_dataset = "ga4_ads_view"
    stream = dataclasses.replace(with_ads(), dataset="ads_view_e2e",
                                 stitch=GA4Export(dataset=ga4_dataset, refunded_field="refunded"))
    service = start_stream_service(stream)  # provisions the table, the views and the ledger
    url = f"{service.hooks_url}/{service.secrets[0]}"
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    day3 = today - dt.timedelta(days=3)
    load_sample(emulator.client, emulator.project, ga4_dataset, today)
    # N5: bought on the web on today-3 after a gclid click; the CRM says paid, then partially refunded.
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&createdAt={day3}T11:00:00Z"
              f"&updatedAt={day3}T12:30:00Z&email=%20%20ALEXZ%40example.com%20%20%20&phone=%2B1%20800%20555%200100")
    curl(url, f"orderId=N5&status=partially+refunded&refunded=50.00&updatedAt={day3}T18:00:00Z")
    # Never seen on the web; a gmail address with dots and a +suffix; a gclid the CRM kept itself.
    curl(url, "orderId=C1&status=paid&total=30.00&currency=USD&createdAt=2026-12-01T09:00:00Z"
              "&email=Cloudy.SanFrancisco%2Bshopping%40Gmail.com&gclid=Cj0-crm-gclid-C1")
    curl(url, "orderId=C2&status=cancelled&total=20.00&currency=USD&createdAt=2026-12-01T10:00:00Z"
              "&email=user.name%2BNYC%40Example.com&phone=800-555-0100")  # no +country code: not sent
    curl(url, "orderId=C3&status=received&total=99.00&currency=USD&email=a%40b.example")  # open: not final
    curl(url, "orderId=C4&status=paid&total=10.00&currency=USD")  # nothing to match it by
    curl(url, "orderId=C5&status=paid&total=10.00&currency=EUR&email=x%40y.example")  # no EUR rate: no value

    rows = emulator.query(f"SELECT * FROM `{emulator.project}.{stream.dataset}.orders_ads_conversions`")
    by_id = {row["transaction_id"]: row for row in rows}
    assert len(rows) == len(by_id) == 3
    n5, c1, c2 = by_id["N5"], by_id["C1"], by_id["C2"]
    # The web purchase's time (noon + 400 s of today-3, UTC) and the session's gclid.
    assert (n5["gclid"], n5["gbraid"], n5["wbraid"], n5["email_sha256"], n5["phone_sha256"], n5["outcome"],
            n5["value"], n5["currency"], n5["conversion_at"], n5["updated_at"]) == (
        "EAIaIQ-sample-gclid-N5", None, None, ALEXZ_SHA256, PHONE_SHA256, "partially_refunded", Decimal("150.00"),
        "USD", dt.datetime(day3.year, day3.month, day3.day, 12, 6, 40, tzinfo=dt.UTC),
        dt.datetime(day3.year, day3.month, day3.day, 18, 0, tzinfo=dt.UTC))
    assert (c1["gclid"], c1["email_sha256"], c1["phone_sha256"], c1["value"], c1["conversion_at"]) == (
        "Cj0-crm-gclid-C1", CLOUDY_SHA256, None, Decimal("30.00"), dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    assert (c2["gclid"], c2["email_sha256"], c2["phone_sha256"], c2["outcome"], c2["value"]) == (
        None, USER_NAME_SHA256, None, "not_paid", Decimal("0"))
    assert {(row["ad_user_data_consent"], row["ad_personalization_consent"]) for row in rows} == {
        ("GRANTED", "GRANTED")}
