"""A small synthetic Google Ads BigQuery Data Transfer for the local stack and the tests: the cost side
of the synthetic GA4 export (tools/local/ga4_sample.py), with the same campaign ids.

Two of the transfer's tables, with the columns hookstream reads and a few neighbours (Google: "Google
Ads report transformation", https://cloud.google.com/bigquery/docs/google-ads-transformation; column
names are the Google Ads API fields with `.` written `_`):
- `ads_CampaignBasicStats_<customer id>`: one row per day, campaign, network and device, cost in
  micros of the account's currency (USD here);
- `ads_Campaign_<customer id>`: one snapshot of every campaign per transfer day (`_DATA_DATE`), the
  newest marked by `_DATA_DATE = _LATEST_DATE`.

The story (days as in the GA4 sample, `today` the property's current day):
- campaign 2001 spring_sale: 25.00 on mobile + 15.00 on desktop on today-3 (N1's and nobody else's
  purchase day), 10.00 on today-1 (no order that day); its older snapshot still says `spring_sale_v1`;
- campaign 2002 brand: 20.00 on today-2 (N6 bought 80.00 EUR through it);
- campaign 2003 prospecting: 5.55 on today-2, no purchase at all;
- campaign 2001 again on today-40: 99.00, before a 30-day window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from service.model.ads import AdsConsent, GoogleAdsConversions
from service.model.stitch import GoogleAdsCost
from service.model.stream import Stream

SAMPLE_ADS_DATASET = "google_ads_sample"
SAMPLE_ADS_CUSTOMER_ID = "1234567890"  # the GA4 sample's google_ads_campaign.customer_id
SAMPLE_ADS_COST = GoogleAdsCost(dataset=SAMPLE_ADS_DATASET, customer_id=SAMPLE_ADS_CUSTOMER_ID, currency="USD")
# (campaign id, days ago, device, cost in micros)
COST_LINES = ((2001, 3, "MOBILE", 25_000_000), (2001, 3, "DESKTOP", 15_000_000), (2001, 1, "MOBILE", 10_000_000),
              (2002, 2, "MOBILE", 20_000_000), (2003, 2, "DESKTOP", 5_550_000), (2001, 40, "MOBILE", 99_000_000))
# (campaign id, name, days ago of the snapshot)
CAMPAIGN_SNAPSHOTS = ((2001, "spring_sale_v1", 3), (2001, "spring_sale", 1), (2002, "brand", 1),
                      (2003, "prospecting", 1))


def _schema(columns: tuple[tuple[str, str], ...]) -> list[Any]:
    from google.cloud import bigquery

    return [bigquery.SchemaField(name, kind) for name, kind in columns]


STATS_COLUMNS = (("customer_id", "INTEGER"), ("campaign_id", "INTEGER"), ("segments_date", "DATE"),
                 ("segments_ad_network_type", "STRING"), ("segments_device", "STRING"),
                 ("metrics_impressions", "INTEGER"), ("metrics_clicks", "INTEGER"),
                 ("metrics_cost_micros", "INTEGER"), ("_DATA_DATE", "DATE"), ("_LATEST_DATE", "DATE"))
CAMPAIGN_COLUMNS = (("customer_id", "INTEGER"), ("campaign_id", "INTEGER"), ("campaign_name", "STRING"),
                    ("campaign_status", "STRING"), ("_DATA_DATE", "DATE"), ("_LATEST_DATE", "DATE"))


def sample_ads_tables(today: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Table name -> rows of the synthetic transfer, dated from `today`."""
    latest = str(today - dt.timedelta(days=1))  # the transfer runs for yesterday

    def day(ago: int) -> str:
        return str(today - dt.timedelta(days=ago))

    customer = int(SAMPLE_ADS_CUSTOMER_ID)
    return {
        f"ads_CampaignBasicStats_{SAMPLE_ADS_CUSTOMER_ID}": [
            {"customer_id": customer, "campaign_id": campaign, "segments_date": day(ago),
             "segments_ad_network_type": "SEARCH", "segments_device": device, "metrics_impressions": 1000,
             "metrics_clicks": 40, "metrics_cost_micros": micros, "_DATA_DATE": day(ago), "_LATEST_DATE": latest}
            for campaign, ago, device, micros in COST_LINES],
        f"ads_Campaign_{SAMPLE_ADS_CUSTOMER_ID}": [
            {"customer_id": customer, "campaign_id": campaign, "campaign_name": name, "campaign_status": "ENABLED",
             "_DATA_DATE": day(ago), "_LATEST_DATE": latest}
            for campaign, name, ago in CAMPAIGN_SNAPSHOTS],
    }


def load_ads_sample(client: Any, project: str, today: dt.date, location: str = "US") -> list[str]:
    """(Re)create the synthetic transfer in `project.google_ads_sample`; returns the table ids."""
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    reference = bigquery.Dataset(f"{project}.{SAMPLE_ADS_DATASET}")
    reference.location = location
    client.create_dataset(reference, exists_ok=True)
    created = []
    for name, rows in sample_ads_tables(today).items():
        table_id = f"{project}.{SAMPLE_ADS_DATASET}.{name}"
        client.delete_table(table_id, not_found_ok=True)  # a re-run on another day leaves one story
        columns = STATS_COLUMNS if name.startswith("ads_CampaignBasicStats_") else CAMPAIGN_COLUMNS
        client.create_table(bigquery.Table(table_id, schema=_schema(columns)))
        errors = client.insert_rows_json(table_id, rows, retry=Retry(timeout=30), timeout=30)
        if errors:
            raise RuntimeError(f"loading the synthetic Google Ads transfer into {table_id} failed: {errors[:3]}")
        created.append(table_id)
    return created


# scripts/dev --ga4-sample: a stream stitched to the sample also sends its final orders to a Google Ads
# account, the local Data Manager stand-in's (scripts/ads-upload, docs/ads.md).
SAMPLE_ADS = GoogleAdsConversions(operating_account="1234567890", conversion_destination="123456789",
                                  consent=AdsConsent(ad_user_data="granted", ad_personalization="granted"))


def with_sample_ads(streams: tuple[Stream, ...]) -> tuple[Stream, ...]:
    """Streams stitched to the sample export without an ads declaration get SAMPLE_ADS, locally only."""
    return tuple(dataclasses.replace(s, ads=SAMPLE_ADS)
                 if s.stitch is not None and SAMPLE_ADS_COST in s.stitch.costs and s.ads is None else s
                 for s in streams)
