"""A small synthetic Google Analytics 4 export for the local stack and the tests.

The tables follow Google's published export schema ("[GA4] BigQuery Export schema",
https://support.google.com/analytics/answer/7029846): one `events_YYYYMMDD` table per day,
`events_intraday_YYYYMMDD` (streaming export) and, as GA4 360 writes them, `events_fresh_YYYYMMDD`;
nested `event_params` (REPEATED RECORD of key / typed value), `ecommerce`, `items`, and the traffic-source
records (`traffic_source`, `collected_traffic_source`, `session_traffic_source_last_click` with its
`cross_channel_campaign`, `manual_campaign` and `google_ads_campaign` records). Only the columns hookstream
reads and a few neighbours are filled; the rest of Google's schema is omitted.

The story, with `today` the GA4 property's current day (every event at noon UTC plus a few seconds, so on
the same calendar day in any property time zone within +-11 h). Orders N* the CRM knows about (the sample
CRM export tests/data/crm_orders.csv has N1-N3; tests send the others), W* / I* / F* it never confirms:
- today-3: N1 bought for 125.13 USD after a Google Ads click: GA4's cross-channel last click says google /
  cpc / spring_sale, "Paid Search"; the thank-you page is reloaded, so the purchase event is sent twice.
- today-3: N5 bought for 200.00 USD; the session's last-click records hold only GA4's placeholders
  ("(not set)", "(direct)", "(none)") and its landing page collected a bare gclid (auto-tagging, no UTM
  tags): google / cpc from collected_traffic_source.
- today-2: N2 bought for 96.12 USD from a newsletter; only collected_traffic_source (on the landing
  page_view, as GA4 records it) has the source.
- today-2: N6 bought for 80.00 EUR; an export from before the cross-channel record, with the Google Ads
  campaign `brand` only.
- today-1: W1 bought for 45.00 USD from a Facebook ad tagged with `source` / `medium` / `campaign` event
  parameters only. The same day's intraday table still exists beside the complete daily table, with a
  purchase I1 the daily processing dropped: the daily table is the day's record, I1 is not counted.
- today-1: W5, a second purchase of user U5 (who bought N5 on today-3), 10.00 USD, no transaction id,
  after an app-to-web Google Ads click whose gbraid the site sends as an event parameter: google / cpc.
- today-2 in `events_fresh_` (GA4 360): F1, a copy the views must not read.
- today (intraday table): W2 bought for 19.99 USD as direct traffic (cross-channel "(direct)" / "(none)",
  "Direct").
- today-40: N3 bought in an old daily table outside a 30-day window: the views must not read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.model.stitch import GA4Export
from tools.local.ads_sample import SAMPLE_ADS_COST

SAMPLE_GA4_DATASET = "analytics_123456789"
SAMPLE_LOOKBACK_DAYS = 30
# What scripts/dev --ga4-sample gives a stream that declares a latest view but no stitch of its own.
# Its cost is the synthetic Google Ads transfer (tools/local/ads_sample.py).
SAMPLE_STITCH = GA4Export(dataset=SAMPLE_GA4_DATASET, lookback_days=SAMPLE_LOOKBACK_DAYS, costs=(SAMPLE_ADS_COST,))
OLD_TABLE_AGE_DAYS = 40


def _field(name: str, kind: str, mode: str = "NULLABLE", fields: tuple[Any, ...] = ()) -> Any:
    from google.cloud import bigquery

    return bigquery.SchemaField(name, kind, mode=mode, fields=fields)


def export_schema() -> list[Any]:
    """The GA4 event table columns the sample fills (names and types as in Google's export)."""
    s, i, f = "STRING", "INTEGER", "FLOAT"
    value = _field("value", "RECORD", fields=(
        _field("string_value", s), _field("int_value", i), _field("float_value", f), _field("double_value", f)))
    manual_campaign = ("campaign_id", "campaign_name", "source", "medium", "term", "content", "source_platform",
                       "creative_format", "marketing_tactic")
    cross_channel = ("campaign_id", "campaign_name", "source", "medium", "source_platform", "default_channel_group",
                     "primary_channel_group")
    google_ads = ("customer_id", "account_name", "campaign_id", "campaign_name", "ad_group_id", "ad_group_name")
    collected = ("manual_campaign_id", "manual_campaign_name", "manual_source", "manual_medium", "manual_term",
                 "manual_content", "manual_source_platform", "manual_creative_format", "manual_marketing_tactic",
                 "gclid", "dclid", "srsltid")
    return [
        _field("event_date", s), _field("event_timestamp", i), _field("event_name", s),
        _field("event_params", "RECORD", "REPEATED", (_field("key", s), value)),
        _field("event_value_in_usd", f),
        _field("user_id", s), _field("user_pseudo_id", s), _field("user_first_touch_timestamp", i),
        _field("platform", s), _field("stream_id", s),
        _field("traffic_source", "RECORD", fields=(_field("name", s), _field("medium", s), _field("source", s))),
        _field("collected_traffic_source", "RECORD", fields=tuple(_field(n, s) for n in collected)),
        _field("session_traffic_source_last_click", "RECORD", fields=(
            _field("cross_channel_campaign", "RECORD", fields=tuple(_field(n, s) for n in cross_channel)),
            _field("manual_campaign", "RECORD", fields=tuple(_field(n, s) for n in manual_campaign)),
            _field("google_ads_campaign", "RECORD", fields=tuple(_field(n, s) for n in google_ads)),
        )),
        _field("ecommerce", "RECORD", fields=(
            _field("total_item_quantity", i), _field("purchase_revenue_in_usd", f), _field("purchase_revenue", f),
            _field("refund_value_in_usd", f), _field("refund_value", f), _field("shipping_value_in_usd", f),
            _field("shipping_value", f), _field("tax_value_in_usd", f), _field("tax_value", f),
            _field("unique_items", i), _field("transaction_id", s))),
        _field("items", "RECORD", "REPEATED", (
            _field("item_id", s), _field("item_name", s), _field("price", f), _field("quantity", i),
            _field("item_revenue", f))),
    ]


def _params(**values: str | int) -> list[dict[str, Any]]:
    return [{"key": key, "value": {"int_value": v} if isinstance(v, int) else {"string_value": v}}
            for key, v in values.items()]


def _event(day: dt.date, seconds: int, name: str, pseudo_id: str, session_id: int,
           user_id: str | None = None, **extra: Any) -> dict[str, Any]:
    # Noon UTC plus a few seconds: the same calendar day in any property time zone within +-11 h.
    micros = int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp()) * 1_000_000
    params = extra.pop("params", {})
    return {"event_date": day.strftime("%Y%m%d"), "event_timestamp": micros + seconds * 1_000_000,
            "event_name": name, "event_params": _params(ga_session_id=session_id, **params),
            "user_id": user_id, "user_pseudo_id": pseudo_id, "platform": "WEB", "stream_id": "1234567890",
            **extra}


def _purchase(transaction_id: str | None, revenue: float) -> dict[str, Any]:
    item_id = f"SKU-{transaction_id or 'none'}"
    return {"ecommerce": {"transaction_id": transaction_id, "purchase_revenue": revenue,
                          "total_item_quantity": 1, "unique_items": 1},
            "items": [{"item_id": item_id, "item_name": "Sample item", "price": revenue, "quantity": 1,
                       "item_revenue": revenue}]}


def _purchase_event(day: dt.date, seconds: int, pseudo_id: str, session_id: int, user_id: str | None,
                    transaction_id: str | None, revenue: float, currency: str = "USD",
                    **extra: Any) -> dict[str, Any]:
    # GA4 carries the purchase's currency as the `currency` event parameter; purchase_revenue is in it.
    return _event(day, seconds, "purchase", pseudo_id, session_id, user_id, params={"currency": currency},
                  **_purchase(transaction_id, revenue), **extra)


def _last_click(cross_channel: dict[str, str] | None = None, manual: dict[str, str] | None = None,
                google_ads: dict[str, str] | None = None) -> dict[str, Any]:
    return {"session_traffic_source_last_click": {"cross_channel_campaign": cross_channel,
                                                  "manual_campaign": manual, "google_ads_campaign": google_ads}}


def sample_tables(today: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Table name -> rows of the synthetic export, relative to `today` (the property's day)."""
    def day(ago: int) -> dt.date:
        return today - dt.timedelta(days=ago)

    def daily(ago: int) -> str:
        return f"events_{day(ago):%Y%m%d}"

    ads_click = _last_click(
        cross_channel={"source": "google", "medium": "cpc", "campaign_name": "spring_sale", "campaign_id": "2001",
                       "source_platform": "Google Ads", "default_channel_group": "Paid Search",
                       "primary_channel_group": "Paid Search"},
        manual={"source": "google", "medium": "cpc", "campaign_name": "spring_sale", "campaign_id": "2001"},
        google_ads={"customer_id": "1234567890", "account_name": "Sample Shop", "campaign_id": "2001",
                    "campaign_name": "spring_sale", "ad_group_id": "3001", "ad_group_name": "shoes"})
    placeholders = _last_click(
        cross_channel={"source": "(not set)", "medium": "(not set)", "campaign_name": "(not set)",
                       "default_channel_group": "Unassigned"},
        manual={"source": "(direct)", "medium": "(none)", "campaign_name": "(direct)"})
    direct = _last_click(cross_channel={"source": "(direct)", "medium": "(none)", "campaign_name": "(direct)",
                                        "default_channel_group": "Direct"})
    brand_only = _last_click(google_ads={"customer_id": "1234567890", "campaign_id": "2002", "campaign_name": "brand"})
    return {
        daily(OLD_TABLE_AGE_DAYS): [
            _purchase_event(day(OLD_TABLE_AGE_DAYS), 0, "p-u3", 9009, "U3", "N3", 299.99,
                            **_last_click(manual={"source": "old", "medium": "referral"})),
        ],
        daily(3): [
            _event(day(3), 0, "session_start", "p-u1", 1001, "U1",
                   collected_traffic_source={"manual_source": "google", "manual_medium": "cpc",
                                             "manual_campaign_name": "spring_sale", "manual_campaign_id": "2001",
                                             "gclid": "Cj0-sample-gclid-N1"}, **ads_click),
            _event(day(3), 5, "page_view", "p-u1", 1001, "U1", **ads_click),
            _purchase_event(day(3), 60, "p-u1", 1001, "U1", "N1", 125.13, **ads_click),
            # The thank-you page reloaded: the same transaction reported again.
            _purchase_event(day(3), 90, "p-u1", 1001, "U1", "N1", 125.13, **ads_click),
            _event(day(3), 100, "page_view", "p-u5", 5005, "U5",
                   collected_traffic_source={"gclid": "EAIaIQ-sample-gclid-N5"}, **placeholders),
            _purchase_event(day(3), 400, "p-u5", 5005, "U5", "N5", 200.0, **placeholders),
        ],
        daily(2): [
            _event(day(2), 0, "page_view", "p-u2", 2002, "U2",
                   collected_traffic_source={"manual_source": "newsletter", "manual_medium": "email",
                                             "manual_campaign_name": "jan_news"}),
            _purchase_event(day(2), 120, "p-u2", 2002, "U2", "N2", 96.12),
            _purchase_event(day(2), 300, "p-u6", 6006, "U6", "N6", 80.0, "EUR", **brand_only),
        ],
        f"events_fresh_{day(2):%Y%m%d}": [
            _purchase_event(day(2), 500, "p-fresh", 7007, None, "F1", 999.0),
        ],
        daily(1): [
            _event(day(1), 0, "page_view", "p-anon", 3003,
                   params={"source": "facebook", "medium": "social", "campaign": "retargeting"}),
            _purchase_event(day(1), 200, "p-anon", 3003, None, "W1", 45.0),
            # An app-to-web click: the site sends the gbraid as an event parameter.
            _event(day(1), 550, "page_view", "p-u5", 5006, "U5", params={"gbraid": "0AAAAA-sample-gbraid-W5"}),
            _purchase_event(day(1), 600, "p-u5", 5006, "U5", None, 10.0),
        ],
        f"events_intraday_{day(1):%Y%m%d}": [
            _purchase_event(day(1), 700, "p-intraday", 8008, None, "I1", 500.0),
        ],
        f"events_intraday_{today:%Y%m%d}": [
            _purchase_event(today, 0, "p-u4", 4004, "U4", "W2", 19.99, **direct),
        ],
    }


def load_sample(client: Any, project: str, dataset: str, today: dt.date, location: str = "US") -> list[str]:
    """(Re)create the synthetic export in `project.dataset`; returns the table ids.

    Every `events_*` table already in the dataset is dropped first, so a re-run on another day leaves
    exactly one window's worth of tables, as a real export would look.
    """
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    reference = bigquery.Dataset(f"{project}.{dataset}")
    reference.location = location
    client.create_dataset(reference, exists_ok=True)
    for table in client.list_tables(f"{project}.{dataset}"):
        if table.table_id.startswith("events_"):
            client.delete_table(table.reference, not_found_ok=True)
    created = []
    for name, rows in sample_tables(today).items():
        table_id = f"{project}.{dataset}.{name}"
        client.create_table(bigquery.Table(table_id, schema=export_schema()))
        errors = client.insert_rows_json(table_id, rows, retry=Retry(timeout=30), timeout=30)
        if errors:
            raise RuntimeError(f"loading the synthetic GA4 export into {table_id} failed: {errors[:3]}")
        created.append(table_id)
    return created
