"""A small synthetic Google Analytics 4 export for the local stack and the tests.

The tables follow Google's published export schema ("[GA4] BigQuery Export schema",
https://support.google.com/analytics/answer/7029846): one `events_YYYYMMDD` table per day and
`events_intraday_YYYYMMDD` for today, nested `event_params` (REPEATED RECORD of key / typed value),
`ecommerce`, `items`, and the three traffic-source records (`traffic_source`, `collected_traffic_source`,
`session_traffic_source_last_click` with its `manual_campaign` and `google_ads_campaign` records). Only
the columns hookstream reads and a few neighbours are filled; the rest of Google's schema is omitted.

The story, against the sample CRM export (tests/data/crm_orders.csv: N1 delivered, N2 refunded,
N3 received), with `today` the GA4 property's current day:
- today-3: N1 bought for 125.13 after a Google Ads click (session_traffic_source_last_click, gclid in
  collected_traffic_source); the thank-you page is reloaded, so the purchase event is sent twice.
- today-2: N2 bought for 96.12 from a newsletter; the export has only collected_traffic_source (on the
  landing page_view, as GA4 records it), no last-click record. The CRM later refunds it.
- today-1: W1 bought for 45.00 from a Facebook ad tagged with `source` / `medium` / `campaign` event
  parameters only; the CRM never confirms it.
- today (intraday table): W2 bought for 19.99 with no source at all; never confirmed.
- today-40: N3 bought in an old daily table outside a 30-day window: the views must not read it, so
  N3 stays a CRM-only order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.model.stitch import GA4Export

SAMPLE_GA4_DATASET = "analytics_123456789"
SAMPLE_LOOKBACK_DAYS = 30
# What scripts/dev --ga4-sample gives a stream that declares a latest view but no stitch of its own.
SAMPLE_STITCH = GA4Export(dataset=SAMPLE_GA4_DATASET, lookback_days=SAMPLE_LOOKBACK_DAYS)
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


def _purchase(transaction_id: str, revenue: float) -> dict[str, Any]:
    return {"ecommerce": {"transaction_id": transaction_id, "purchase_revenue": revenue,
                          "purchase_revenue_in_usd": revenue, "total_item_quantity": 1, "unique_items": 1},
            "items": [{"item_id": f"SKU-{transaction_id}", "item_name": "Sample item", "price": revenue,
                       "quantity": 1, "item_revenue": revenue}]}


def sample_tables(today: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Table name -> rows of the synthetic export, relative to `today` (the property's day)."""
    def day(ago: int) -> dt.date:
        return today - dt.timedelta(days=ago)

    def daily(ago: int) -> str:
        return f"events_{day(ago):%Y%m%d}"

    ads_click = {"manual_campaign": {"source": "google", "medium": "cpc", "campaign_name": "spring_sale",
                                     "campaign_id": "2001"},
                 "google_ads_campaign": {"customer_id": "1234567890", "account_name": "Sample Shop",
                                         "campaign_id": "2001", "campaign_name": "spring_sale",
                                         "ad_group_id": "3001", "ad_group_name": "shoes"}}
    no_last_click = {"manual_campaign": None, "google_ads_campaign": None}
    n1_day, n2_day, w1_day = day(3), day(2), day(1)
    return {
        daily(OLD_TABLE_AGE_DAYS): [
            _event(day(OLD_TABLE_AGE_DAYS), 0, "purchase", "p-u3", 9009, "U3", **_purchase("N3", 299.99),
                   session_traffic_source_last_click={"manual_campaign": {"source": "old", "medium": "referral"}}),
        ],
        daily(3): [
            _event(n1_day, 0, "session_start", "p-u1", 1001, "U1",
                   collected_traffic_source={"manual_source": "google", "manual_medium": "cpc",
                                             "manual_campaign_name": "spring_sale", "manual_campaign_id": "2001",
                                             "gclid": "Cj0-sample-gclid-N1"},
                   session_traffic_source_last_click=ads_click),
            _event(n1_day, 5, "page_view", "p-u1", 1001, "U1", session_traffic_source_last_click=ads_click),
            _event(n1_day, 60, "purchase", "p-u1", 1001, "U1", **_purchase("N1", 125.13),
                   session_traffic_source_last_click=ads_click),
            # The thank-you page reloaded: the same transaction reported again.
            _event(n1_day, 90, "purchase", "p-u1", 1001, "U1", **_purchase("N1", 125.13),
                   session_traffic_source_last_click=ads_click),
        ],
        daily(2): [
            _event(n2_day, 0, "page_view", "p-u2", 2002, "U2",
                   collected_traffic_source={"manual_source": "newsletter", "manual_medium": "email",
                                             "manual_campaign_name": "jan_news"},
                   session_traffic_source_last_click=no_last_click),
            _event(n2_day, 120, "purchase", "p-u2", 2002, "U2", **_purchase("N2", 96.12),
                   session_traffic_source_last_click=no_last_click),
        ],
        daily(1): [
            _event(w1_day, 0, "page_view", "p-anon", 3003,
                   params={"source": "facebook", "medium": "social", "campaign": "retargeting"}),
            _event(w1_day, 200, "purchase", "p-anon", 3003, **_purchase("W1", 45.0)),
        ],
        f"events_intraday_{today:%Y%m%d}": [
            _event(today, 0, "purchase", "p-u4", 4004, "U4", **_purchase("W2", 19.99)),
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
