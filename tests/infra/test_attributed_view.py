"""Attributed revenue: the GA4 stitch declaration, its SQL, and both views in the emulator over the
synthetic GA4 export, the sample CRM export (backfill) and live hits sent with curl through gunicorn."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.streams import STREAMS
from infra.views.attributed import (
    attributed_view_id,
    attributed_view_sql,
    revenue_by_channel_sql,
    revenue_by_channel_view_id,
)
from service.model.stitch import GA4Export
from service.model.stream import Stream, StreamDefinitionError
from tools.backfill.load import Backfill, LoadOptions
from tools.backfill.sources import open_source
from tools.local.ga4_sample import load_sample

SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "crm_orders.csv"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
BERLIN = ZoneInfo("Europe/Berlin")


def stitched(**overrides: Any) -> Stream:
    return dataclasses.replace(CRM_ORDERS, stitch=GA4Export(**{"dataset": "analytics_42", **overrides}))


# --- the declaration -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"dataset": "analytics-42"}, "stitch.dataset", "analytics_123456789"),
        ({"project": "Not A Project"}, "stitch.project", "project id"),
        ({"lookback_days": 1000}, "stitch.lookback_days", "0 to 400"),
        ({"time_zone": "Mars/Olympus"}, "stitch.time_zone", "IANA"),
        ({"match": "email"}, "stitch.match", "transaction_id, user_id"),
        ({"counts": ()}, "stitch.counts", "at least one"),
        ({"counts": ("delivered",), "does_not_count": ("Delivered",)}, "stitch.does_not_count", "delivered"),
        ({"counts": ("it's done",)}, "stitch.counts", "letters"),
        ({"status_field": "state"}, "stitch.status_field", "latest view's fields"),
        ({"total_field": "currency"}, "stitch.total_field", "NUMERIC"),
        ({"match": "user_id", "created_field": None}, "stitch.created_field", "match='user_id'"),
    ],
)
def test_a_bad_stitch_names_stream_field_value_and_rule(overrides: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        stitched(**overrides)
    assert "stream 'crm-orders'" in str(caught.value)
    assert caught.value.field_name == field
    assert hint in str(caught.value)


def test_a_stitch_needs_a_latest_view() -> None:
    with pytest.raises(StreamDefinitionError, match="declare latest=LatestView"):
        Stream(name="orders", dataset="crm", table="orders", stitch=GA4Export(dataset="analytics_42"))


def test_the_shipped_streams_declare_no_stitch() -> None:
    # A stitch needs a real GA4 export in the deploy project; infra/streams.py shows it commented out.
    assert all(stream.stitch is None for stream in STREAMS)


# --- the SQL ---------------------------------------------------------------------------------------

def test_sql_reads_the_window_of_the_export_and_the_latest_view() -> None:
    sql = attributed_view_sql(stitched(project="acme-marketing", lookback_days=14), "my-project")
    assert "FROM `acme-marketing.analytics_42.events_*` AS e" in sql
    assert ("WHERE e._TABLE_SUFFIX >= REPLACE(CAST(DATE_SUB(CURRENT_DATE('Europe/Berlin'), INTERVAL 14 DAY) "
            "AS STRING), '-', '')") in sql
    assert "FROM `my-project.crm.orders_latest` AS l" in sql
    assert "JOIN web AS w ON w.transaction_id = c.order_id" in sql
    assert "WHEN LOWER(TRIM(l.`status`)) IN ('delivered', 'completed', 'paid') THEN 'counts'" in sql
    assert "(SELECT p.value.int_value FROM UNNEST(e.event_params) AS p WHERE p.key = 'ga_session_id')" in sql
    assert attributed_view_sql(stitched(), "my-project") == attributed_view_sql(stitched(), "my-project")


def test_user_id_matching_pairs_each_order_with_the_nearest_purchase_of_that_user() -> None:
    sql = attributed_view_sql(stitched(match="user_id", user_match_hours=6), "my-project")
    assert "JOIN web AS w ON w.web_user_id = c.crm_user_id" in sql
    assert "<= 21600" in sql
    assert "transaction_id = c.order_id" not in sql


def test_report_sql_groups_the_attributed_view() -> None:
    sql = revenue_by_channel_sql(stitched(), "my-project")
    assert "FROM `my-project.crm.orders_attributed` AS a" in sql
    assert "GROUP BY r.day, r.source, r.medium, r.campaign" in sql
    with pytest.raises(ValueError, match="declares no GA4 stitch"):
        revenue_by_channel_sql(CRM_ORDERS, "my-project")


# --- in the emulator -------------------------------------------------------------------------------

def curl(url: str, body: str) -> None:
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", body, url],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out == "200", out


def attributed(emulator: Any, stream: Stream, sql: str | None = None) -> dict[str | None, dict[str, Any]]:
    query = sql or f"SELECT * FROM `{emulator.project}.{stream.dataset}.{attributed_view_id(stream)}`"
    return {row["order_id"]: row for row in emulator.query(query)}


WEB_COLUMNS = ("match_status", "crm_status", "crm_outcome", "crm_total", "final_revenue", "web_revenue",
               "revenue_difference", "source", "medium", "campaign", "click_id", "source_record")


@pytest.mark.integration
def test_attributed_view_and_channel_report_over_the_synthetic_export(emulator: Any,
                                                                      start_stream_service: Any) -> None:
    ga4_dataset = "ga4_e2e"
    stream = dataclasses.replace(CRM_ORDERS, dataset="attr_e2e",
                                 stitch=GA4Export(dataset=ga4_dataset, lookback_days=30))
    service = start_stream_service(stream)  # provisions the table and all three views
    url = f"{service.hooks_url}/{service.secrets[0]}"
    today = dt.datetime.now(BERLIN).date()
    load_sample(emulator.client, emulator.project, ga4_dataset, today)
    curl(url, "orderId=N1&status=delivered&total=120.13&userId=U1")  # the README's curl
    with open_source(str(SAMPLE_CSV)) as source:
        loaded = Backfill(emulator.client, stream, f"{emulator.project}.{stream.table_ref}",
                          LoadOptions(source_format="csv", payload_format="form",
                                      received_at_column="updatedAt")).run(source)
    assert loaded.written == 3
    # An order the website never saw, created yesterday (inside the window).
    yesterday = today - dt.timedelta(days=1)
    curl(url, f"orderId=N4&status=delivered&total=50.00&userId=U9&createdAt={yesterday}T10:00:00Z")

    rows = attributed(emulator, stream)
    assert sorted(rows, key=str) == ["N1", "N2", "N3", "N4", "W1", "W2"]
    table = {order: tuple(row[c] for c in WEB_COLUMNS) for order, row in rows.items()}
    assert table == {
        # Matched; the web included 5.00 the CRM did not bill; Google Ads click, session last-click record.
        "N1": ("matched", "delivered", "counts", Decimal("120.13"), Decimal("120.13"), Decimal("125.13"),
               Decimal("-5.00"), "google", "cpc", "spring_sale", "Cj0-sample-gclid-N1",
               "session_traffic_source_last_click"),
        # Refunded in the CRM: final revenue 0; source from the landing page's collected_traffic_source.
        "N2": ("matched", "refunded", "does_not_count", Decimal("96.12"), Decimal("0"), Decimal("96.12"),
               Decimal("-96.12"), "newsletter", "email", "jan_news", None, "collected_traffic_source"),
        # Its purchase is in a daily table 40 days old, outside the window: CRM-only, status still open.
        "N3": ("crm_only", "received", "open", Decimal("299.99"), None, None, None,
               None, None, None, None, None),
        "N4": ("crm_only", "delivered", "counts", Decimal("50.00"), Decimal("50.00"), None, None,
               None, None, None, None, None),
        # Web purchases the CRM never confirmed: one tagged by event parameters, one (intraday) untagged.
        "W1": ("web_only", None, None, None, None, Decimal("45.00"), None,
               "facebook", "social", "retargeting", None, "event_params"),
        "W2": ("web_only", None, None, None, None, Decimal("19.99"), None,
               None, None, None, None, None),
    }
    n1 = rows["N1"]
    assert (n1["user_pseudo_id"], n1["web_user_id"], n1["crm_user_id"]) == ("p-u1", "U1", "U1")
    assert n1["google_ads_customer_id"] == "1234567890" and n1["campaign_id"] == "2001"
    # The first of the two purchase events of N1 (the thank-you page was reloaded 30 s later).
    n1_day = today - dt.timedelta(days=3)
    assert n1["web_purchase_at"] == dt.datetime(n1_day.year, n1_day.month, n1_day.day, 12, 1, tzinfo=dt.UTC)
    assert rows["N2"]["crm_updated_at"] == dt.datetime(2020, 1, 20, tzinfo=dt.UTC)
    assert rows["N4"]["crm_created_at"] == dt.datetime(yesterday.year, yesterday.month, yesterday.day, 10,
                                                       tzinfo=dt.UTC)

    report = emulator.query(f"SELECT * FROM `{emulator.project}.{stream.dataset}."
                            f"{revenue_by_channel_view_id(stream)}` ORDER BY day, source")
    columns = ("day", "source", "medium", "campaign", "web_orders", "web_revenue", "confirmed_orders",
               "confirmed_revenue", "not_counted_orders", "open_orders", "unconfirmed_web_orders")
    day = {ago: today - dt.timedelta(days=ago) for ago in range(4)}
    assert [tuple(row[c] for c in columns) for row in report] == [
        (day[3], "google", "cpc", "spring_sale", 1, Decimal("125.13"), 1, Decimal("120.13"), 0, 0, 0),
        (day[2], "newsletter", "email", "jan_news", 1, Decimal("96.12"), 0, Decimal("0"), 1, 0, 0),
        (day[1], "(not seen on web)", "(not seen on web)", "(not seen on web)", 0, Decimal("0"), 1,
         Decimal("50.00"), 0, 0, 0),
        (day[1], "facebook", "social", "retargeting", 1, Decimal("45.00"), 0, Decimal("0"), 0, 0, 1),
        (day[0], "(not set)", "(not set)", "(not set)", 1, Decimal("19.99"), 0, Decimal("0"), 0, 0, 1),
    ]  # N3 (created 2020-01-20) is before the window: not in the report

    # A two-day window reads neither the 40-day-old table nor today-3's: N1 loses its web side.
    short = dataclasses.replace(stream, stitch=GA4Export(dataset=ga4_dataset, lookback_days=2))
    short_rows = attributed(emulator, short, attributed_view_sql(short, emulator.project))
    assert {order: row["match_status"] for order, row in short_rows.items()} == {
        "N1": "crm_only", "N2": "matched", "N3": "crm_only", "N4": "crm_only", "W1": "web_only", "W2": "web_only"}
