"""The data streams hookstream deploys. Change this list in a pull request; `cdktf deploy` applies it.

Each entry is validated when this module is imported: a typo in a dataset id, an unknown time zone or
two streams writing one table fail `scripts/test`, `scripts/dev` and `cdktf synth` alike.
"""

from infra.retired import RetiredStream
from infra.stream_rules import checked_streams
from service.model.latest import LatestView, PayloadField
from service.model.stream import Stream, TableOptions

STREAMS: tuple[Stream, ...] = checked_streams((
    # Order status changes from the CRM (a sample export: tests/data/crm_orders.csv): one row per webhook call.
    Stream(
        name="crm-orders",
        dataset="crm",
        table="orders",
        time_zone="Europe/Berlin",
        description="Order created / status changed (orderId, status, total, currency, userId).",
        table_options=TableOptions(location="EU", labels=(("source", "crm"),)),
        # View crm.orders_latest: the latest status per orderId. TIMESTAMP (not DATE) for the dates: it
        # reads the export's '2020-01-15' as midnight UTC and a webhook's '2020-01-15T10:00:00Z' exactly.
        latest=LatestView(
            fields=(
                PayloadField("orderId", "STRING"),
                PayloadField("status", "STRING"),
                PayloadField("total", "NUMERIC"),
                PayloadField("currency", "STRING"),
                PayloadField("userId", "STRING"),
                PayloadField("createdAt", "TIMESTAMP"),
                PayloadField("updatedAt", "TIMESTAMP"),
            ),
            key="orderId",
            version_field="updatedAt",
        ),
        # Attributed revenue (docs/analysts.md): stitch the latest orders to your GA4 BigQuery export to
        # get crm.orders_attributed and crm.orders_revenue_by_channel. Not on by default: the views and
        # their authorization need a real export dataset in your project, and `cdktf deploy` fails on a
        # dataset that does not exist. Try it locally first with `scripts/dev --ga4-sample`.
        # stitch=GA4Export(
        #     dataset="analytics_123456789",            # your GA4 property's export dataset
        #     project=None,                             # None: the deploy project
        #     lookback_days=30,                         # read only today's and the 30 previous days' tables
        #     match="transaction_id",                   # orderId = ecommerce.transaction_id ("user_id": userId)
        #     reporting_currency="EUR",                 # the report sums in this currency
        #     exchange_rates=ExchangeRates("finance.fx_rates"),  # date, currency, rate; else not converted
        #     statuses=None,                            # None: the generic status map (docs/analysts.md)
        # ),
    ),
    # A CRM by name instead of the default token (docs/senders.md says what to paste where), e.g.
    # `from service.model.senders import HubSpot, Salesforce` and then
    # Stream(name="hubspot-deals", dataset="crm", table="hubspot_deals", auth=HubSpot()),
    # Stream(name="sf-opportunities", dataset="crm", table="sf_opportunities",
    #        auth=Salesforce(organization_ids=("00D7Q000006hT3b",))),
    # Stream(name="shop-orders", dataset="shop", table="orders", auth=Shopify()),  # rows keep X-Shopify-Topic
    #        (and the shop, ids) in `headers`; keep_headers=("X-Request-Id",) adds a header of your own.
    # Lead updates; the sales team's day starts in Moscow time.
    Stream(
        name="crm-leads",
        dataset="crm",
        table="leads",
        time_zone="+03:00",
        max_body_bytes=256 * 1024,
        description="Lead created / qualified / converted.",
        table_options=TableOptions(location="EU", labels=(("source", "crm"),)),
    ),
))

# Streams removed from STREAMS whose tables keep their rows: the table leaves Terraform state and stays in
# BigQuery (docs/deploy.md, "Removing a stream"). Keeping an entry after the deploy is harmless.
#   RETIRED_STREAMS = (RetiredStream(name="crm-leads", dataset="crm", table="leads"),)
RETIRED_STREAMS: tuple[RetiredStream, ...] = ()

# Streams whose stored rows this change may destroy (scripts/review fails otherwise). Visible in the pull
# request on purpose; empty it again once the change is deployed.
ALLOW_DATA_LOSS: tuple[str, ...] = ()
