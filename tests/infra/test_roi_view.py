"""The `<table>_roi_by_channel` view and scripts/report's page in the emulator: Google Ads transfer tables
and a generic cost table beside the attributed view's orders. Every expected figure is worked out by
hand from the rows below.

The attributed view's rows are written here as a table of that name and those columns: its own figures
are checked in tests/infra/test_attributed_view.py; the point here is what the ROI view makes of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.cloud import bigquery

from infra.streams import STREAMS
from infra.views.roi_by_channel import cost_datasets, roi_by_channel_sql
from service.model.stitch import CostTable, ExchangeRates, GA4Export, GoogleAdsCost
from service.model.stream import Stream, StreamDefinitionError
from tests.conftest import Emulator
from tools.operator.report.cli import ReportError, fetch_rows
from tools.operator.report.cli import main as report_main
from tools.operator.report.figures import build_report
from tools.operator.report.page import render

CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
BERLIN = ZoneInfo("Europe/Berlin")
d = Decimal


def with_costs(dataset: str = "crm", **overrides: Any) -> Stream:
    return dataclasses.replace(CRM_ORDERS, dataset=dataset, stitch=GA4Export(**{"dataset": "analytics_42",
                                                                                **overrides}))


@pytest.mark.parametrize(
    ("cost", "field", "hint"),
    [
        (GoogleAdsCost("ads", "123-456-7890", "USD"), "stitch.costs[0].customer_id", "ten digits"),
        (GoogleAdsCost("ads-data", "1234567890", "USD"), "stitch.costs[0].dataset", "dataset id"),
        (GoogleAdsCost("ads", "1234567890", "usd"), "stitch.costs[0].currency", "ISO 4217"),
        (CostTable("costs"), "stitch.costs[0].table", "dataset.table"),
        ("ads.costs", "stitch.costs[0]", "CostTable"),
    ],
)
def test_a_bad_cost_source_names_stream_field_value_and_rule(cost: Any, field: str, hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        with_costs(costs=(cost,))
    assert "stream 'crm-orders'" in str(caught.value)
    assert caught.value.field_name == field
    assert hint in str(caught.value)


def test_the_view_reads_the_transfer_tables_and_the_cost_table_where_they_are_declared() -> None:
    stream = with_costs(costs=(GoogleAdsCost("ads", "1234567890", "USD", project="acme-ads"),
                               CostTable("marketing.costs"), CostTable("crm.sheet_costs")))
    sql = roi_by_channel_sql(stream, "my-project")
    assert "FROM `acme-ads.ads.ads_CampaignBasicStats_1234567890` AS s" in sql
    assert "FROM `acme-ads.ads.ads_Campaign_1234567890` AS c" in sql
    assert "FROM `my-project.marketing.costs` AS ct" in sql
    assert "FROM `my-project.crm.orders_attributed` AS a" in sql
    # The stream's own dataset needs no grant; each other one, once.
    assert cost_datasets(stream, "my-project") == [("acme-ads", "ads"), ("my-project", "marketing")]


def _table(emulator: Emulator, ref: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
    emulator.client.create_table(bigquery.Table(ref, schema=[
        bigquery.SchemaField(name, kind) for name, kind in columns.items()]))
    assert emulator.client.insert_rows_json(ref, rows) == []


ATTRIBUTED = {"order_id": "STRING", "report_date": "DATE", "source": "STRING", "medium": "STRING",
              "campaign": "STRING", "campaign_id": "STRING", "web_purchase_at": "TIMESTAMP",
              "web_currency": "STRING", "web_revenue": "NUMERIC", "web_converted": "BOOL",
              "web_revenue_reporting": "NUMERIC", "crm_outcome": "STRING", "crm_currency": "STRING",
              "crm_converted": "BOOL", "crm_total": "NUMERIC", "crm_total_reporting": "NUMERIC",
              "crm_refunded": "NUMERIC", "crm_chargebacks": "NUMERIC", "refunds_reporting": "NUMERIC",
              "final_revenue": "NUMERIC", "final_revenue_reporting": "NUMERIC"}


Channel = tuple[str, str, str, str | None]
Web = tuple[str, str, str | None]
Crm = tuple[str, str, str, str | None, str]


def _order(order_id: str, day: dt.date, channel: Channel | None, web: Web | None, crm: Crm | None) -> dict[str, Any]:
    """channel: source, medium, campaign, campaign id; web: currency, revenue, in USD (None: no rate);
    crm: outcome, currency, total, refunded, final revenue (each in USD when the currency is USD or EUR x 1.10)."""
    row: dict[str, Any] = {"order_id": order_id, "report_date": str(day)}
    if channel is not None:
        row.update(zip(("source", "medium", "campaign", "campaign_id"), channel, strict=True))
    if web is not None:
        row.update(web_purchase_at=f"{day}T12:00:00Z", web_currency=web[0], web_revenue=web[1],
                   web_converted=web[2] is not None, web_revenue_reporting=web[2])
    if crm is not None:
        outcome, currency, total, refunded, final = crm
        rate = {"USD": d("1"), "EUR": d("1.10")}.get(currency)

        def rated(amount: str | None) -> str | None:
            return None if amount is None or rate is None else str(d(amount) * rate)

        row.update(crm_outcome=outcome, crm_currency=currency, crm_converted=rate is not None, crm_total=total,
                   crm_total_reporting=rated(total), crm_refunded=refunded, crm_chargebacks="0" if refunded else None,
                   refunds_reporting=rated(refunded), final_revenue=final, final_revenue_reporting=rated(final))
    return row


ROI_COLUMNS = ("cost", "ga4_revenue", "crm_final_revenue", "refunded_revenue", "cancelled_revenue", "orders",
               "final_orders", "web_orders", "not_converted", "converted")
RATIOS = ("roas_ga4", "roas_crm", "cost_per_final_order")


@dataclasses.dataclass(frozen=True)
class RoiStory:
    stream: Stream
    day: dict[int, dt.date]


@pytest.fixture(scope="module")
def roi_story(emulator: Emulator) -> RoiStory:
    """The attributed view's rows, the Google Ads transfer, a cost table and a rate, loaded once."""
    views, ads = f"{emulator.project}.roi_e2e", f"{emulator.project}.roi_ads"
    for dataset in (views, ads):
        emulator.client.create_dataset(dataset, exists_ok=True)
    today = dt.datetime.now(BERLIN).date()
    day = {ago: today - dt.timedelta(days=ago) for ago in (1, 2, 3, 5, 40)}
    spring, brand = ("google", "cpc", "spring_sale", "2001"), ("google", "cpc", "brand", "2002")
    _table(emulator, f"{views}.orders_attributed", ATTRIBUTED, [
        _order("A", day[3], spring, ("USD", "125.13", "125.13"), ("paid", "USD", "120.13", "0", "120.13")),
        # Delivered, then refunded in full: booked on its purchase day, worth nothing there now.
        _order("B", day[3], spring, ("USD", "200.00", "200.00"), ("refunded", "USD", "200.00", "200.00", "0")),
        _order("C", day[2], brand, ("EUR", "80.00", "88.00"), ("paid", "EUR", "80.00", "0", "80.00")),
        # Pounds have no rate: shown apart, never added to the dollars.
        _order("H", day[2], brand, ("GBP", "30.00", None), ("paid", "GBP", "30.00", "0", "30.00")),
        # A utm id on a Facebook campaign is no Google Ads id: matched by name.
        _order("D", day[1], ("facebook", "social", "retargeting", "fb-77"), ("USD", "45.00", "45.00"),
               ("partially_refunded", "USD", "45.00", "10.00", "35.00")),
        _order("E", day[1], None, None, ("paid", "USD", "50.00", "0", "50.00")),
        _order("F", day[1], None, None, ("not_paid", "USD", "40.00", None, "0")),
        # No cost source pays for the newsletter.
        _order("G", day[2], ("newsletter", "email", "jan_news", None), ("USD", "96.12", "96.12"),
               ("paid", "USD", "96.12", "0", "96.12")),
        _order("OLD", day[40], spring, ("USD", "70.00", "70.00"), ("paid", "USD", "70.00", "0", "70.00")),
    ])
    _table(emulator, f"{ads}.ads_CampaignBasicStats_1234567890", {
        "customer_id": "INT64", "campaign_id": "INT64", "segments_date": "DATE", "segments_device": "STRING",
        "metrics_cost_micros": "INT64", "metrics_clicks": "INT64"}, [
        {"customer_id": 1234567890, "campaign_id": cid, "segments_date": str(day[ago]), "segments_device": device,
         "metrics_cost_micros": micros, "metrics_clicks": 3}
        for cid, ago, device, micros in ((2001, 3, "MOBILE", 30_000_000), (2001, 3, "DESKTOP", 10_500_000),
                                         (2002, 2, "MOBILE", 25_000_000), (2003, 1, "MOBILE", 12_340_000),
                                         (2001, 40, "MOBILE", 99_000_000))])
    _table(emulator, f"{ads}.ads_Campaign_1234567890", {
        "campaign_id": "INT64", "campaign_name": "STRING", "_DATA_DATE": "DATE", "_LATEST_DATE": "DATE"}, [
        {"campaign_id": cid, "campaign_name": name, "_DATA_DATE": str(day[snapshot]), "_LATEST_DATE": str(day[1])}
        for cid, name, snapshot in ((2001, "spring_sale_draft", 5), (2001, "spring_sale", 1), (2002, "brand", 1),
                                    (2003, "prospecting", 1))])
    _table(emulator, f"{views}.costs", {"date": "DATE", "source": "STRING", "medium": "STRING",
                                        "campaign": "STRING", "cost": "NUMERIC", "currency": "STRING"}, [
        {"date": str(day[1]), "source": "facebook", "medium": "social", "campaign": "retargeting", "cost": "15.00",
         "currency": "eur"},
        {"date": str(day[1]), "source": "linkedin", "medium": "paid", "campaign": "b2b", "cost": "20.00",
         "currency": "GBP"}])
    _table(emulator, f"{views}.fx", {"date": "DATE", "currency": "STRING", "rate": "NUMERIC"},
           [{"date": str(day[5]), "currency": "EUR", "rate": "1.10"}])
    stream = with_costs(dataset="roi_e2e", exchange_rates=ExchangeRates("roi_e2e.fx"),
                        costs=(GoogleAdsCost("roi_ads", "1234567890", "USD"), CostTable("roi_e2e.costs")))

    return RoiStory(stream, day)


@pytest.mark.integration
def test_roi_by_channel_with_refunds_unmatched_cost_and_orders_and_two_currencies(emulator: Emulator,
                                                                                  roi_story: RoiStory) -> None:
    stream, day = roi_story.stream, roi_story.day
    rows = emulator.query(roi_by_channel_sql(stream, emulator.project))
    table = {(r["day"], r["source"], r["medium"], r["campaign"], r["campaign_id"], r["currency"]):
             (*(r[c] for c in ROI_COLUMNS), *(None if r[c] is None else round(d(r[c]), 4) for c in RATIOS))
             for r in rows}
    assert len(rows) == len(table)
    not_seen = ("(not seen on web)",) * 3
    assert table == {
        # (cost, GA4 revenue, CRM-final revenue, refunded, cancelled, orders, final orders, web orders,
        #  not converted, converted, ROAS GA4, ROAS CRM, cost per final order)
        # 30.00 + 10.50 spent; 125.13 + 200.00 on the web, 120.13 finally: 325.13 / 40.50, 120.13 / 40.50.
        (day[3], "google", "cpc", "spring_sale", "2001", "USD"):
            (d("40.50"), d("325.13"), d("120.13"), d("200.00"), d("0"), 2, 1, 2, 0, True,
             d("8.0279"), d("2.9662"), d("40.50")),
        # 80 EUR x 1.10 on both sides: 88.00 / 25.00.
        (day[2], "google", "cpc", "brand", "2002", "USD"):
            (d("25.00"), d("88.00"), d("88.00"), d("0"), d("0"), 1, 1, 1, 0, True, d("3.52"), d("3.52"), d("25.00")),
        (day[2], "google", "cpc", "brand", "2002", "GBP"):
            (d("0"), d("30.00"), d("30.00"), d("0"), d("0"), 1, 1, 1, 2, False, None, None, None),
        # Spent, nothing sold.
        (day[1], "google", "cpc", "prospecting", "2003", "USD"):
            (d("12.34"), d("0"), d("0"), d("0"), d("0"), 0, 0, 0, 0, True, d("0"), d("0"), None),
        # 15.00 EUR x 1.10 = 16.50; 45.00 / 16.50 and (45.00 - 10.00) / 16.50.
        (day[1], "facebook", "social", "retargeting", None, "USD"):
            (d("16.50"), d("45.00"), d("35.00"), d("10.00"), d("0"), 1, 1, 1, 0, True,
             d("2.7273"), d("2.1212"), d("16.50")),
        (day[1], "linkedin", "paid", "b2b", None, "GBP"):
            (d("20.00"), d("0"), d("0"), d("0"), d("0"), 0, 0, 0, 1, False, d("0"), d("0"), None),
        (day[1], *not_seen, None, "USD"):  # E paid 50.00, F cancelled 40.00
            (d("0"), d("0"), d("50.00"), d("0"), d("40.00"), 1, 1, 0, 0, True, None, None, None),
        (day[2], "newsletter", "email", "jan_news", None, "USD"):
            (d("0"), d("96.12"), d("96.12"), d("0"), d("0"), 1, 1, 1, 0, True, None, None, None),
    }  # Not there: OLD and the 99.00 spent 40 days ago, before the 30-day window.


class _Tables(HTMLParser):
    """Each <table>'s caption -> its rows of cell text, as a reader of the page sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._in: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("caption", "td", "th"):
            self._in, self._text = tag, ""
        elif tag == "tr" and self._caption is not None:
            self.tables[self._caption].append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._caption = self._text
            self.tables[self._caption] = []
        elif tag in ("td", "th") and self._caption is not None:
            self.tables[self._caption][-1].append(self._text)
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text += data


@pytest.fixture(scope="module")
def report_file(emulator: Emulator, roi_story: RoiStory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page scripts/report writes for the story, from the ROI view created in the emulator."""
    view = bigquery.Table(f"{emulator.project}.roi_e2e.orders_roi_by_channel")
    view.view_query = roi_by_channel_sql(roi_story.stream, emulator.project)
    emulator.client.create_table(view, exists_ok=True)
    rows = fetch_rows(emulator.client, str(view.reference), None, None)
    out = tmp_path_factory.mktemp("report") / "report.html"
    out.write_text(render(build_report(rows), "ROI of roi_e2e.orders"), encoding="utf-8")
    return out


def assert_hand_computed_tables(tables: dict[str, list[list[str]]]) -> None:
    # USD rows only: cost 40.50 + 25.00 + 12.34 + 16.50; GA4 325.13 + 88.00 + 45.00 + 96.12;
    # CRM-final 120.13 + 88.00 + 35.00 + 50.00 + 96.12; 165.00 / 554.25 = 29.8 %.
    assert tables["Headline (USD)"] == [
        ["figure", "value"], ["GA4-reported revenue", "554.25"], ["CRM-final revenue", "389.25"],
        ["Gap (GA4 - CRM)", "165.00"], ["Gap in % of GA4", "29.8%"], ["Cost", "94.34"],
        ["ROAS on GA4 revenue", "5.88"], ["ROAS on CRM-final revenue", "4.13"]]
    header = ["cost", "GA4 revenue", "CRM-final revenue", "refunded", "cancelled", "ROAS GA4", "ROAS CRM"]
    assert tables["By channel"] == [
        ["channel", *header],
        ["(not seen on web) / (not seen on web)", "0.00", "0.00", "50.00", "0.00", "40.00", "n/a", "n/a"],
        ["facebook / social", "16.50", "45.00", "35.00", "10.00", "0.00", "2.73", "2.12"],
        # 413.13 / 77.84 and 208.13 / 77.84
        ["google / cpc", "77.84", "413.13", "208.13", "200.00", "0.00", "5.31", "2.67"],
        ["newsletter / email", "0.00", "96.12", "96.12", "0.00", "0.00", "n/a", "n/a"]]
    # ROAS change: spring_sale 8.03 -> 2.97, retargeting 2.73 -> 2.12, brand and prospecting none.
    assert [row[0] for row in tables["Campaigns whose ROAS changes most once CRM outcomes count"][1:]] == [
        "google / cpc / spring_sale", "facebook / social / retargeting", "google / cpc / brand",
        "google / cpc / prospecting"]


@pytest.mark.integration
def test_the_report_shows_hand_computed_headline_channel_and_campaign_figures(report_file: Path) -> None:
    out = report_file
    text = out.read_text(encoding="utf-8")
    assert "plotly.js v" in text and 'src="http' not in text  # its JavaScript inlined: opens offline
    parser = _Tables()
    parser.feed(text)
    assert_hand_computed_tables(parser.tables)
    assert "GBP: 2 rows" in text  # shown apart, never added


@pytest.mark.integration
def test_the_report_says_what_to_do_when_there_is_no_stack_or_no_view(emulator: Emulator, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert report_main(["--stream", "crm-orders", "--dir", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "start it with scripts/dev --ga4-sample, or pass --project" in capsys.readouterr().err
    with pytest.raises(ReportError, match=r"does not exist .*scripts/dev --ga4-sample"):
        fetch_rows(emulator.client, f"{emulator.project}.nowhere.orders_roi_by_channel", None, None)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.integration
def test_the_report_renders_in_a_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    """Opened as a marketer would (a browser, a file, no network): the charts draw and the page's
    figures are the hand-computed ones. scripts/test installs Debian's chromium."""
    chromium = shutil.which("chromium")
    assert chromium is not None, "Debian's chromium is needed (scripts/test installs it: apt-get install chromium)"
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                          "--virtual-time-budget=10000", "--dump-dom", report_file.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    parser = _Tables()
    parser.feed(dom)
    assert_hand_computed_tables(parser.tables)
    # Plotly drew all four charts (an SVG each only once its inlined JavaScript ran), with the channels
    # as the bar charts' categories and each chart's title.
    assert dom.count('<svg class="main-svg"') >= 4, dom[:2000]
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", dom)
    for title in ("Revenue by channel", "ROAS by channel (channels with cost)",
                  "Refunds and cancellations by channel", "Per day"):
        assert title in labels
    assert labels.count("google / cpc") == 3 and labels.count("facebook / social") == 3
