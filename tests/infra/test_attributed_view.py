"""Attributed revenue: the GA4 stitch declaration, its SQL, and both views in the emulator over the
synthetic GA4 export (tools/local/ga4_sample.py), the sample CRM export (backfill) and live hits sent with
curl through gunicorn. Every expected figure below is worked out by hand from the sample's story and the
hits the test sends."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.cloud import bigquery

from infra.streams import STREAMS
from infra.views.attributed import attributed_view_sql
from infra.views.revenue_by_channel import revenue_by_channel_sql
from service.model.latest import PayloadField
from service.model.senders import HubSpot, status_map
from service.model.stitch import ExchangeRates, GA4Export
from service.model.stream import Stream, StreamDefinitionError
from tests.conftest import Emulator
from tests.tools.test_local_tools import doc_queries
from tools.local.ads_sample import SAMPLE_ADS_COST, load_ads_sample
from tools.local.ga4_sample import load_sample
from tools.operator.backfill.load import Backfill, LoadOptions
from tools.operator.backfill.sources import open_source

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "crm_orders.csv"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
assert CRM_ORDERS.latest is not None
# The shipped order fields plus the amount refunded so far.
WITH_REFUNDS = dataclasses.replace(CRM_ORDERS.latest,
                                   fields=(*CRM_ORDERS.latest.fields, PayloadField("refunded", "NUMERIC")))
BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC


def stitched(**overrides: Any) -> Stream:
    return dataclasses.replace(CRM_ORDERS, latest=WITH_REFUNDS,
                               stitch=GA4Export(**{"dataset": "analytics_42", **overrides}))


# --- the declaration -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"dataset": "analytics-42"}, "stitch.dataset", "analytics_123456789"),
        ({"project": "Not A Project"}, "stitch.project", "project id"),
        ({"lookback_days": 1000}, "stitch.lookback_days", "0 to 400"),
        ({"time_zone": "Mars/Olympus"}, "stitch.time_zone", "IANA"),
        ({"match": "email"}, "stitch.match", "transaction_id, user_id"),
        ({"statuses": (("cancelled", "not_paid"),)}, "stitch.statuses", "'paid'"),
        ({"statuses": (("paid", "paid"), ("Paid", "open"))}, "stitch.statuses", "mapped twice"),
        ({"statuses": (("it's done", "paid"),)}, "stitch.statuses", "letters"),
        ({"statuses": (("done", "kept"),)}, "stitch.statuses", "partially_refunded"),
        ({"statuses": (("paid", "paid"), ("part", "partially_refunded"))}, "stitch.refunded_field", "refunded amount"),
        ({"reporting_currency": "usd"}, "stitch.reporting_currency", "ISO 4217"),
        ({"exchange_rates": ExchangeRates("fx")}, "stitch.exchange_rates", "dataset.table"),
        ({"status_field": "state"}, "stitch.status_field", "latest view's fields"),
        ({"total_field": "currency"}, "stitch.total_field", "NUMERIC"),
        ({"refunded_field": "status"}, "stitch.refunded_field", "NUMERIC"),
        ({"currency_field": "total"}, "stitch.currency_field", "STRING"),
        ({"match": "user_id", "user_id_field": None}, "stitch.user_id_field", "match='user_id'"),
    ],
)
def test_a_bad_stitch_names_stream_field_value_and_rule(overrides: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        stitched(**overrides)
    assert "stream 'crm-orders'" in str(caught.value)
    assert caught.value.field_name == field
    assert hint in str(caught.value)


def test_user_id_matching_needs_no_creation_field() -> None:
    stream = stitched(match="user_id", created_field=None)
    assert stream.stitch is not None and stream.stitch.created_field is None


def test_a_stitch_needs_a_latest_view() -> None:
    with pytest.raises(StreamDefinitionError, match="declare latest=LatestView"):
        Stream(name="orders", dataset="crm", table="orders", stitch=GA4Export(dataset="analytics_42"))


def test_the_shipped_streams_declare_no_stitch() -> None:
    # A stitch needs a real GA4 export in the deploy project; infra/streams.py shows it commented out.
    assert all(stream.stitch is None for stream in STREAMS)


def test_presets_name_their_statuses_and_others_get_the_generic_map() -> None:
    assert dict(status_map(HubSpot())) == {"closedwon": "paid", "closedlost": "not_paid"}
    generic = dict(status_map(CRM_ORDERS.auth))
    assert (generic["delivered"], generic["canceled"], generic["cancelled"], generic["returned"],
            generic["partially refunded"], generic["disputed"], generic["voided"]) == (
        "paid", "not_paid", "not_paid", "refunded", "partially_refunded", "chargeback", "not_paid")


# --- the SQL ---------------------------------------------------------------------------------------

def test_sql_reads_exactly_the_window_s_daily_and_intraday_tables_and_the_latest_view() -> None:
    sql = attributed_view_sql(stitched(project="acme-marketing", lookback_days=14), "my-project")
    first = "REPLACE(CAST(DATE_SUB(CURRENT_DATE('Europe/Berlin'), INTERVAL 14 DAY) AS STRING), '-', '')"
    assert ("  FROM `acme-marketing.analytics_42.events_*` AS e\n"
            f"  WHERE e._TABLE_SUFFIX >= {first}\n"
            "    AND REGEXP_CONTAINS(e._TABLE_SUFFIX, r'^(intraday_)?[0-9]{8}$')\n"
            f"    AND SUBSTR(e._TABLE_SUFFIX, -8) >= {first}\n") in sql
    assert "  FROM `my-project.crm.orders_latest` AS l\n" in sql
    assert "  JOIN web AS w ON w.transaction_id = c.order_id\n" in sql
    assert ("CASE LOWER(TRIM(l.`status`)) WHEN 'paid' THEN 'paid' WHEN 'delivered' THEN 'paid' "
            "WHEN 'completed' THEN 'paid'") in sql
    assert ("NULLIF(NULLIF(NULLIF(NULLIF(e.session_traffic_source_last_click.cross_channel_campaign.source, ''), "
            "'(not set)'), '(direct)'), '(none)') AS cross_channel_source") in sql


def test_a_project_that_is_not_a_project_id_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Google Cloud project id"):
        attributed_view_sql(stitched(), "My Project")
    with pytest.raises(ValueError, match="declares no GA4 stitch"):
        revenue_by_channel_sql(CRM_ORDERS, "my-project")


def test_exchange_rates_in_the_deploy_project_unless_named() -> None:
    assert "FROM `my-project.fx.rates` AS er" in attributed_view_sql(
        stitched(exchange_rates=ExchangeRates("fx.rates")), "my-project")
    assert "FROM `finance-prj.fx.rates` AS er" in attributed_view_sql(
        stitched(exchange_rates=ExchangeRates("finance-prj.fx.rates")), "my-project")


# --- in the emulator -------------------------------------------------------------------------------

def curl(url: str, body: str) -> None:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", body, url],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out == "200", out


def query(emulator: Emulator, sql: str) -> list[dict[str, Any]]:
    return emulator.query(sql)


ATTRIBUTED_COLUMNS = (
    "match_status", "crm_status", "crm_outcome", "crm_currency", "crm_total", "crm_refunded", "crm_chargebacks",
    "final_revenue", "web_currency", "web_revenue", "final_revenue_reporting", "web_revenue_reporting",
    "source", "medium", "campaign", "default_channel_group", "source_record", "report_date", "adjustment_date")
REPORT_KEY = ("day", "source", "medium", "campaign", "default_channel_group", "currency")
REPORT_MEASURES = ("web_orders", "web_revenue", "confirmed_orders", "confirmed_revenue", "refunds",
                   "not_counted_orders", "open_orders", "unconfirmed_web_orders", "not_converted", "net_revenue")
NOT_SEEN = ("(not seen on web)",) * 4
ROI_KEY = ("day", "source", "medium", "campaign", "campaign_id", "currency")
ROI_MEASURES = ("cost", "ga4_revenue", "crm_final_revenue", "refunded_revenue", "cancelled_revenue", "orders",
                "final_orders", "web_orders", "not_converted")
RATIOS = ("roas_ga4", "roas_crm", "cost_per_final_order")


def send_crm_story(url: str, day: dict[int, dt.date]) -> None:
    """The live hits; the backfill adds N1-N3 (tests/data/crm_orders.csv)."""
    curl(url, "orderId=N1&status=delivered&total=120.13&userId=U1")  # the README's curl: no event time
    # Created yesterday, never seen on the website.
    curl(url, f"orderId=N4&status=delivered&total=50.00&currency=USD&userId=U9&createdAt={day[1]}T10:00:00Z")
    # Paid, partially refunded, then an older status delivered late: the refund stays.
    curl(url, f"orderId=N5&status=paid&total=200.00&currency=USD&userId=U5&createdAt={day[3]}T11:00:00Z"
              f"&updatedAt={day[3]}T12:07:00Z")
    curl(url, f"orderId=N5&status=partially+refunded&refunded=50.00&updatedAt={day[1]}T09:00:00Z")
    curl(url, f"orderId=N5&status=shipped&updatedAt={day[2]}T08:00:00Z")
    curl(url, f"orderId=N6&status=paid&total=80.00&currency=EUR&userId=U6&createdAt={day[2]}T11:00:00Z")
    # A status without event time, then a chargeback dated after that hit arrived: the chargeback stays.
    curl(url, f"orderId=N7&status=paid&total=30.00&currency=USD&createdAt={day[1]}T08:00:00Z")
    disputed_at = (dt.datetime.now(UTC) + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    curl(url, f"orderId=N7&status=disputed&updatedAt={disputed_at}")
    curl(url, f"orderId=N8&status=canceled&total=40.00&currency=USD&createdAt={day[1]}T09:00:00Z")


@pytest.mark.integration
def test_attributed_view_and_channel_report_over_the_synthetic_export(emulator: Emulator,
                                                                      start_stream_service: Any) -> None:
    ga4_dataset = "ga4_e2e"
    stream = dataclasses.replace(stitched(dataset=ga4_dataset, lookback_days=30, refunded_field="refunded",
                                          costs=(SAMPLE_ADS_COST,)), dataset="attr_e2e")
    assert stream.stitch is not None
    service = start_stream_service(stream)  # provisions the table and all three views
    url = f"{service.hooks_url}/{service.secrets[0]}"
    today = dt.datetime.now(BERLIN).date()
    day = {ago: today - dt.timedelta(days=ago) for ago in range(6)}
    load_sample(emulator.client, emulator.project, ga4_dataset, today)
    load_ads_sample(emulator.client, emulator.project, today)
    send_crm_story(url, day)
    with open_source(str(SAMPLE_CSV)) as source:
        loaded = Backfill(emulator.client, stream, f"{emulator.project}.{stream.table_ref}",
                          LoadOptions(source_format="csv", payload_format="form",
                                      received_at_column="updatedAt")).run(source)
    assert loaded.written == 3

    views = f"{emulator.project}.{stream.dataset}"
    # The local stack describes the views as the deployed stack does (one spec, infra/views/stitched.py).
    assert emulator.client.get_table(f"{views}.orders_attributed").description == (
        "Orders of attr_e2e.orders stitched to GA4 purchases in ga4_e2e (hookstream)")
    rows = query(emulator, f"SELECT * FROM `{views}.orders_attributed`")
    table = {row["order_id"]: tuple(row[c] for c in ATTRIBUTED_COLUMNS) for row in rows}
    assert len(rows) == len(table) == 11  # one row per order and per unclaimed purchase
    d = Decimal
    assert table == {
        # The README's curl (no event time) beats the export's 2020 versions; the currency is the export's.
        # GA4's cross-channel last click; the web included 5.00 the CRM did not bill.
        "N1": ("matched", "delivered", "paid", "USD", d("120.13"), d("0"), d("0"), d("120.13"), "USD",
               d("125.13"), d("120.13"), d("125.13"), "google", "cpc", "spring_sale", "Paid Search",
               "cross_channel_campaign", day[3], None),
        # Refunded in full: booked on the purchase day, given back on it too (its refund dates from 2020).
        "N2": ("matched", "refunded", "refunded", "USD", d("96.12"), d("96.12"), d("0"), d("0"), "USD",
               d("96.12"), d("0"), d("96.12"), "newsletter", "email", "jan_news", None,
               "collected_traffic_source", day[2], day[2]),
        # Created 2020-01-20, before the window: its purchase (40 days old) is in a table the view skips.
        "N3": ("outside_window", "received", "open", "USD", d("299.99"), None, None, None, None, None, None, None,
               None, None, None, None, None, dt.date(2020, 1, 20), None),
        "N4": ("crm_only", "delivered", "paid", "USD", d("50.00"), d("0"), d("0"), d("50.00"), None, None,
               d("50.00"), None, None, None, None, None, None, day[1], None),
        # 200 - 50 refunded; the last-click records hold only placeholders, the landing page a bare gclid.
        "N5": ("matched", "partially refunded", "partially_refunded", "USD", d("200.00"), d("50.00"), d("0"),
               d("150.00"), "USD", d("200.00"), d("150.00"), d("200.00"), "google", "cpc", None, "Unassigned",
               "collected_traffic_source", day[3], day[1]),
        # EUR without an exchange-rate table: nothing in the reporting currency.
        "N6": ("matched", "paid", "paid", "EUR", d("80.00"), d("0"), d("0"), d("80.00"), "EUR", d("80.00"),
               None, None, "google", "cpc", "brand", None, "google_ads_campaign", day[2], None),
        # 30 - 30 chargeback, given back today (the dispute's day).
        "N7": ("crm_only", "disputed", "chargeback", "USD", d("30.00"), d("0"), d("30.00"), d("0"), None, None,
               d("0"), None, None, None, None, None, None, day[1], day[0]),
        "N8": ("crm_only", "canceled", "not_paid", "USD", d("40.00"), None, None, d("0"), None, None, d("0"), None,
               None, None, None, None, None, day[1], None),
        "W1": ("web_only", None, None, None, None, None, None, None, "USD", d("45.00"), None, d("45.00"),
               "facebook", "social", "retargeting", None, "event_params", day[1], None),
        # Direct traffic (today's intraday table): GA4's "(direct)" / "(none)" are no source, its group stays.
        "W2": ("web_only", None, None, None, None, None, None, None, "USD", d("19.99"), None, d("19.99"),
               None, None, None, "Direct", None, day[0], None),
        # U5's second purchase, no transaction id: a gbraid event parameter, so google / cpc.
        None: ("web_only", None, None, None, None, None, None, None, "USD", d("10.00"), None, d("10.00"),
               "google", "cpc", None, None, "event_params", day[1], None),
    }  # Not there: N3's old purchase, I1 (yesterday's intraday table beside its daily one), F1 (events_fresh_)

    report = query(emulator, f"SELECT * FROM `{views}.orders_revenue_by_channel`")
    by_key = {tuple(row[c] for c in REPORT_KEY): tuple(row[c] for c in REPORT_MEASURES) for row in report}
    assert len(report) == len(by_key)
    assert by_key == {
        # (web orders, web revenue, confirmed orders, confirmed revenue, refunds, not counted, open,
        #  unconfirmed web orders, not converted, net revenue)
        (day[3], "google", "cpc", "spring_sale", "Paid Search", "USD"):
            (1, d("125.13"), 1, d("120.13"), d("0"), 0, 0, 0, 0, d("120.13")),
        (day[3], "google", "cpc", "(not set)", "Unassigned", "USD"):
            (1, d("200.00"), 1, d("200.00"), d("0"), 0, 0, 0, 0, d("200.00")),
        (day[2], "google", "cpc", "brand", "(not set)", "EUR"):  # shown apart: the web side and the CRM side
            (1, d("80.00"), 1, d("80.00"), d("0"), 0, 0, 0, 2, d("80.00")),
        (day[2], "newsletter", "email", "jan_news", "(not set)", "USD"):
            (1, d("96.12"), 1, d("96.12"), d("-96.12"), 0, 0, 0, 0, d("0")),
        (day[1], *NOT_SEEN, "USD"):  # N4 50 + N7 30 confirmed, N8 cancelled
            (0, d("0"), 2, d("80.00"), d("0"), 1, 0, 0, 0, d("80.00")),
        (day[1], "facebook", "social", "retargeting", "(not set)", "USD"):
            (1, d("45.00"), 0, d("0"), d("0"), 0, 0, 1, 0, d("0")),
        (day[1], "google", "cpc", "(not set)", "(not set)", "USD"):
            (1, d("10.00"), 0, d("0"), d("0"), 0, 0, 1, 0, d("0")),
        (day[1], "google", "cpc", "(not set)", "Unassigned", "USD"):  # N5's partial refund, on its own day
            (0, d("0"), 0, d("0"), d("-50.00"), 0, 0, 0, 0, d("-50.00")),
        (day[0], "(not set)", "(not set)", "(not set)", "Direct", "USD"):
            (1, d("19.99"), 0, d("0"), d("0"), 0, 0, 1, 0, d("0")),
        (day[0], *NOT_SEEN, "USD"):  # N7's chargeback
            (0, d("0"), 0, d("0"), d("-30.00"), 0, 0, 0, 0, d("-30.00")),
    }  # N3 (created 2020-01-20) is before the window: not in the report

    # Cost beside it: the synthetic Google Ads transfer (tools/local/ads_sample.py), in USD. A refund
    # counts against the day the order was bought on; N6's euros have no rate: shown apart.
    roi = query(emulator, f"SELECT * FROM `{views}.orders_roi_by_channel`")
    by_campaign = {tuple(row[c] for c in ROI_KEY): (*(row[c] for c in ROI_MEASURES),
                                                    *(None if row[c] is None else round(row[c], 5) for c in RATIOS))
                   for row in roi}
    assert len(roi) == len(by_campaign)
    assert by_campaign == {
        # (cost, GA4 revenue, CRM-final revenue, refunded, cancelled, orders, final orders, web orders,
        #  not converted, ROAS GA4, ROAS CRM, cost per final order)
        # 25.00 + 15.00 spent; 125.13 / 40.00 and 120.13 / 40.00.
        (day[3], "google", "cpc", "spring_sale", "2001", "USD"):
            (d("40.00"), d("125.13"), d("120.13"), d("0"), d("0"), 1, 1, 1, 0, d("3.12825"), d("3.00325"),
             d("40.00")),
        (day[3], "google", "cpc", "(not set)", None, "USD"):  # N5, a bare gclid: no campaign to charge
            (d("0"), d("200.00"), d("150.00"), d("50.00"), d("0"), 1, 1, 1, 0, None, None, None),
        (day[2], "google", "cpc", "brand", "2002", "USD"):  # the dollars spent; N6 paid in euros
            (d("20.00"), d("0"), d("0"), d("0"), d("0"), 0, 0, 0, 0, d("0"), d("0"), None),
        (day[2], "google", "cpc", "brand", "2002", "EUR"):
            (d("0"), d("80.00"), d("80.00"), d("0"), d("0"), 1, 1, 1, 2, None, None, None),
        (day[2], "google", "cpc", "prospecting", "2003", "USD"):  # spent, nothing sold
            (d("5.55"), d("0"), d("0"), d("0"), d("0"), 0, 0, 0, 0, d("0"), d("0"), None),
        (day[2], "newsletter", "email", "jan_news", None, "USD"):  # refunded in full after delivery
            (d("0"), d("96.12"), d("0"), d("96.12"), d("0"), 1, 0, 1, 0, None, None, None),
        (day[1], "google", "cpc", "spring_sale", "2001", "USD"):
            (d("10.00"), d("0"), d("0"), d("0"), d("0"), 0, 0, 0, 0, d("0"), d("0"), None),
        (day[1], "facebook", "social", "retargeting", None, "USD"):
            (d("0"), d("45.00"), d("0"), d("0"), d("0"), 0, 0, 1, 0, None, None, None),
        (day[1], "google", "cpc", "(not set)", None, "USD"):
            (d("0"), d("10.00"), d("0"), d("0"), d("0"), 0, 0, 1, 0, None, None, None),
        (day[1], *NOT_SEEN[:3], None, "USD"):  # N4 50.00 paid, N7 30.00 charged back, N8 40.00 cancelled
            (d("0"), d("0"), d("50.00"), d("30.00"), d("40.00"), 2, 1, 0, 0, None, None, None),
        (day[0], "(not set)", "(not set)", "(not set)", None, "USD"):
            (d("0"), d("19.99"), d("0"), d("0"), d("0"), 0, 0, 1, 0, None, None, None),
    }  # Not there: N3 and the 99.00 spent on today-40, before the window

    # docs/analysts.md's ROAS query, on these views: spring_sale's 50.00 brought 125.13 on the web and
    # 120.13 kept (ROAS 2.50260 vs 2.40260); brand's and prospecting's dollars brought nothing.
    roas_sql = next(sql for sql in doc_queries() if "_roi_by_channel" in sql).replace(
        "hookstream-local.crm.", f"{views}.")
    ranked = [(r["campaign"], r["cost"], round(r["roas_ga4"], 5), round(r["roas_crm"], 5))
              for r in query(emulator, roas_sql)]
    assert ranked[0] == ("spring_sale", d("50.00"), d("2.50260"), d("2.40260"))
    assert sorted(ranked[1:]) == [("brand", d("20.00"), d("0"), d("0")), ("prospecting", d("5.55"), d("0"), d("0"))]

    # With an exchange-rate table, N6's euros convert at the latest rate on or before its day (today-5's).
    emulator.client.create_table(bigquery.Table(f"{views}.fx", schema=[
        bigquery.SchemaField("date", "DATE"), bigquery.SchemaField("currency", "STRING"),
        bigquery.SchemaField("rate", "NUMERIC")]))
    assert emulator.client.insert_rows_json(f"{views}.fx", [
        {"date": str(day[5]), "currency": "EUR", "rate": "1.10"},
        {"date": str(day[1]), "currency": "EUR", "rate": "1.20"}]) == []
    rated = dataclasses.replace(stream, stitch=dataclasses.replace(
        stream.stitch, exchange_rates=ExchangeRates(f"{stream.dataset}.fx")))
    n6 = next(row for row in query(emulator, attributed_view_sql(rated, emulator.project))
              if row["order_id"] == "N6")
    assert (n6["crm_converted"], n6["web_converted"], n6["final_revenue_reporting"],
            n6["web_revenue_reporting"]) == (True, True, d("88.00"), d("88.00"))  # 80.00 x 1.10

    # Without the refunded amount's field, N5's partial refund is of unknown size: no final revenue yet.
    no_amount = dataclasses.replace(stream, stitch=dataclasses.replace(stream.stitch, refunded_field=None))
    n5 = next(row for row in query(emulator, attributed_view_sql(no_amount, emulator.project))
              if row["order_id"] == "N5")
    assert (n5["crm_outcome"], n5["crm_refunded"], n5["final_revenue"], n5["adjustment_date"]) == (
        "partially_refunded", None, None, None)

    # A two-day window reads neither today-3's tables nor older ones: N1 and N5 (created before it) are
    # outside the window, N4 (created yesterday) is CRM-only.
    short = dataclasses.replace(stream, stitch=dataclasses.replace(stream.stitch, lookback_days=2))
    statuses = {row["order_id"]: row["match_status"] for row in query(emulator, attributed_view_sql(
        short, emulator.project))}
    assert statuses == {"N1": "outside_window", "N2": "matched", "N3": "outside_window", "N4": "crm_only",
                        "N5": "outside_window", "N6": "matched", "N7": "crm_only", "N8": "crm_only",
                        "W1": "web_only", "W2": "web_only", None: "web_only"}

    # By user, without a creation field: each order takes its user's purchase nearest its first receipt.
    # N5's user bought twice (N5 today-3, W5 yesterday): the order is one row, paired with yesterday's.
    by_user = dataclasses.replace(stream, stitch=dataclasses.replace(
        stream.stitch, match="user_id", created_field=None, user_match_hours=24 * 5))
    crm_side = sorted((row["order_id"], row["match_status"], row["web_purchase_at"])
                      for row in query(emulator, attributed_view_sql(by_user, emulator.project))
                      if row["crm_status"] is not None)
    noon = {ago: dt.datetime(day[ago].year, day[ago].month, day[ago].day, 12, tzinfo=UTC) for ago in range(4)}
    assert crm_side == [
        ("N1", "outside_window", None),  # first received in 2020 (the export's updatedAt)
        ("N2", "outside_window", None),
        ("N3", "outside_window", None),
        ("N4", "crm_only", None),  # U9 bought nothing
        ("N5", "matched", noon[1] + dt.timedelta(seconds=600)),
        ("N6", "matched", noon[2] + dt.timedelta(seconds=300)),
        ("N7", "crm_only", None),  # no userId sent
        ("N8", "crm_only", None),
    ]
