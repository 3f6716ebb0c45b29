"""CRM orders stitched to the Google Analytics 4 export: the `<table>_attributed` view.

A stream with a `latest` view may declare `stitch=GA4Export(dataset="analytics_123456789", ...)`. From
that declaration this module builds the view's SQL; infra/views/stitched.py hands it, with the report's,
to the cdktf stack (infra/attributed_views.py) and the local stack (tools/local/provision.py) alike:

- `<table>_attributed`: one row per CRM order of `<table>_latest`, with the GA4 `purchase` event of the
  same order where there is one (and one row per web purchase the CRM never confirmed): web time,
  revenue, currency and ids, the channel GA4 reports for it and which export record it came from
  (infra/views/ga4_web.py), the CRM's status, outcome, total, refunds and chargebacks, the revenue that
  finally counts, every amount also in the stream's reporting currency where it converts, and the days
  the report counts the order and its refund on.
- `<table>_revenue_by_channel` (infra/views/revenue_by_channel.py): the same per day, channel and currency.

The steps hand each other named columns (infra/views/sql_steps.py); the SQL runs unchanged in BigQuery
and in the emulator (see infra/views/ga4_web.py for the spellings that keeps).
"""

from __future__ import annotations

from infra.views.ga4_web import web_steps
from infra.views.latest import latest_view_id, version_field
from infra.views.sql_steps import Step, check_project, with_steps
from service.model.latest import FIRST_RECEIVED_AT
from service.model.schema import DATE, RECEIVED_AT
from service.model.senders import status_map
from service.model.stitch import (
    ATTRIBUTED_SUFFIX,
    BOOKED_OUTCOMES,
    REVENUE_BY_CHANNEL_SUFFIX,
    ExchangeRates,
    GA4Export,
)
from service.model.stream import Stream


def attributed_view_id(stream: Stream) -> str:
    return f"{stream.table}{ATTRIBUTED_SUFFIX}"


def revenue_by_channel_view_id(stream: Stream) -> str:
    return f"{stream.table}{REVENUE_BY_CHANNEL_SUFFIX}"


def ga4_project(stream: Stream, project: str) -> str:
    """The project that holds the GA4 export: the declared one, else the deploy project."""
    return stitch_of(stream).project or project


def stitch_of(stream: Stream) -> GA4Export:
    if stream.stitch is None or stream.latest is None:
        raise ValueError(f"stream {stream.name!r} declares no GA4 stitch (Stream.stitch is None)")
    return stream.stitch


def time_zone(stream: Stream) -> str:
    zone = stitch_of(stream).time_zone or stream.time_zone
    return "UTC" if zone == "Z" else zone


def first_day(stream: Stream) -> str:
    """SQL for the first day of the window, as a DATE in the property's time zone."""
    return f"DATE_SUB(CURRENT_DATE('{time_zone(stream)}'), INTERVAL {stitch_of(stream).lookback_days} DAY)"


def attributed_view_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_attributed` for `stream` deployed in `project`."""
    stitch = stitch_of(stream)
    check_project(project)
    events = f"`{ga4_project(stream, project)}.{stitch.dataset}.events_*`"
    orders = f"`{project}.{stream.dataset}.{latest_view_id(stream)}`"
    first_suffix = f"REPLACE(CAST({first_day(stream)} AS STRING), '-', '')"  # YYYYMMDD
    steps = [
        *web_steps(events, first_suffix),
        Step("crm", _crm(stream, orders)),
        Step("crm_amounts", _crm_amounts()),
        Step("pairs", _pairs(stitch)),
        Step("joined", _joined(stream)),
    ]
    if stitch.exchange_rates is not None:
        steps.append(Step("rate_periods", rate_periods_sql(stitch.exchange_rates, project)))
    steps.append(Step("rated", _rated(stitch)))
    return with_steps(steps, _final(stitch))


def _crm(stream: Stream, orders: str) -> str:
    """One row per CRM order: the latest view's fields the stitch names, and the status's outcome."""
    stitch, latest = stitch_of(stream), stream.latest
    assert latest is not None

    def field(name: str | None, cast: str, empty: str) -> str:
        return empty if name is None else f"CAST(l.`{name}` AS {cast})"

    def time_of(name: str | None) -> str:
        if name is None:
            return "CAST(NULL AS TIMESTAMP)"
        return f"TIMESTAMP(l.`{name}`)" if latest.field(name).type == "DATE" else f"l.`{name}`"

    statuses = stitch.statuses if stitch.statuses is not None else status_map(stream.auth)
    outcome = " ".join(f"WHEN '{status.strip().lower()}' THEN '{result}'" for status, result in statuses)
    versioned_by = version_field(stream)
    updated = time_of(versioned_by)
    return "\n".join([
        "  SELECT",
        f"    CAST(l.`{latest.key}` AS STRING) AS order_id,",
        f"    l.`{stitch.status_field}` AS crm_status,",
        f"    CASE LOWER(TRIM(l.`{stitch.status_field}`)) {outcome} ELSE 'open' END AS crm_outcome,",
        f"    {field(stitch.currency_field, 'STRING', 'CAST(NULL AS STRING)')} AS crm_currency_sent,",
        f"    CAST(l.`{stitch.total_field}` AS NUMERIC) AS crm_total,",
        f"    {field(stitch.refunded_field, 'NUMERIC', 'CAST(NULL AS NUMERIC)')} AS refunded_sent,",
        f"    {field(stitch.chargeback_field, 'NUMERIC', 'CAST(NULL AS NUMERIC)')} AS chargebacks_sent,",
        f"    {field(stitch.user_id_field, 'STRING', 'CAST(NULL AS STRING)')} AS crm_user_id,",
        f"    {time_of(stitch.created_field)} AS crm_created_at,",
        f"    TIMESTAMP_MILLIS(l.`{FIRST_RECEIVED_AT}`) AS crm_first_seen_at,",
        # The CRM's event time of the latest version, else when that version arrived.
        f"    COALESCE({updated}, TIMESTAMP_MILLIS(l.`{RECEIVED_AT.name}`)) AS crm_updated_at,",
        f"    l.`{DATE.name}` AS crm_date",
        f"  FROM {orders} AS l",
    ])


def _crm_amounts() -> str:
    """What went back and what finally counts: final revenue = total - refunded - chargebacks.

    A refunded order without a refunded amount gave back its total; a chargeback without an amount lost
    its total; a partial refund without an amount is unknown (NULL). Not paid is 0; open has no final
    revenue yet.
    """
    booked = ", ".join(f"'{outcome}'" for outcome in BOOKED_OUTCOMES)
    refunded = (f"CASE WHEN c.crm_outcome NOT IN ({booked}) THEN CAST(NULL AS NUMERIC) "
                "WHEN c.crm_outcome = 'partially_refunded' THEN c.refunded_sent "
                "ELSE COALESCE(c.refunded_sent, IF(c.crm_outcome = 'refunded', c.crm_total, CAST(0 AS NUMERIC))) END")
    chargebacks = (f"CASE WHEN c.crm_outcome NOT IN ({booked}) THEN CAST(NULL AS NUMERIC) "
                   "ELSE COALESCE(c.chargebacks_sent, IF(c.crm_outcome = 'chargeback', c.crm_total, "
                   "CAST(0 AS NUMERIC))) END")
    names = ("order_id", "crm_status", "crm_outcome", "crm_total", "crm_user_id", "crm_created_at",
             "crm_first_seen_at", "crm_updated_at", "crm_date")
    columns = ",\n".join(f"    c.{name} AS {name}" for name in names)
    return "\n".join([
        f"  SELECT\n{columns},",
        "    UPPER(TRIM(c.crm_currency_sent)) AS crm_currency,",
        f"    {refunded} AS crm_refunded,",
        f"    {chargebacks} AS crm_chargebacks,",
        f"    CASE WHEN c.crm_outcome IN ({booked}) THEN c.crm_total - ({refunded}) - ({chargebacks})",
        "      WHEN c.crm_outcome = 'not_paid' THEN CAST(0 AS NUMERIC) END AS final_revenue",
        "  FROM crm AS c",
    ])


def _pairs(stitch: GA4Export) -> str:
    if stitch.match == "transaction_id":
        return ("  SELECT c.order_id AS order_id, w.purchase_key AS purchase_key\n"
                "  FROM crm_amounts AS c\n"
                "  JOIN web AS w ON w.transaction_id = c.order_id")
    # By user: each order takes the user's purchase nearest its creation time (else its first receipt),
    # and each purchase the nearest order; only pairs that choose each other match, so an order is one
    # row however many purchases its user made, and no purchase counts twice.
    gap = "ABS(TIMESTAMP_DIFF(w.web_purchase_at, COALESCE(c.crm_created_at, c.crm_first_seen_at), SECOND))"
    return "\n".join([
        "  SELECT cand.order_id AS order_id, cand.purchase_key AS purchase_key",
        "  FROM (",
        f"    SELECT c.order_id AS order_id, w.purchase_key AS purchase_key, {gap} AS gap_seconds",
        "    FROM crm_amounts AS c",
        "    JOIN web AS w ON w.web_user_id = c.crm_user_id",
        f"    WHERE {gap} <= {stitch.user_match_hours * 3600}",
        "  ) AS cand",
        "  QUALIFY ROW_NUMBER() OVER (PARTITION BY cand.order_id ORDER BY cand.gap_seconds, cand.purchase_key) = 1",
        "    AND ROW_NUMBER() OVER (PARTITION BY cand.purchase_key ORDER BY cand.gap_seconds, cand.order_id) = 1",
    ])


CRM_COLUMNS = ("crm_status", "crm_outcome", "crm_currency", "crm_total", "crm_refunded", "crm_chargebacks",
               "final_revenue", "crm_created_at", "crm_updated_at", "crm_user_id")
WEB_COLUMNS = ("web_currency", "web_revenue", "web_purchase_at", "user_pseudo_id", "web_user_id", "source",
               "medium", "campaign", "campaign_id", "default_channel_group", "google_ads_customer_id", "click_id",
               "gclid", "gbraid", "wbraid", "source_record")


def _joined(stream: Stream) -> str:
    """Every CRM order with its purchase, and every purchase no order claimed; the match and the days."""
    zone = time_zone(stream)
    created_day = f"DATE(COALESCE(c.crm_created_at, c.crm_first_seen_at), '{zone}')"
    report_date = f"COALESCE(w.web_purchase_date, {created_day})"
    columns = ",\n".join([*(f"    c.{name} AS {name}" for name in CRM_COLUMNS),
                          *(f"    w.{name} AS {name}" for name in WEB_COLUMNS)])
    return "\n".join([
        "  SELECT",
        "    COALESCE(c.order_id, w.transaction_id) AS order_id,",
        "    CASE WHEN c.order_id IS NOT NULL AND w.purchase_key IS NOT NULL THEN 'matched'",
        # Created before the window: its web purchase, if any, is in a table the view does not read.
        f"      WHEN c.order_id IS NOT NULL AND {created_day} < {first_day(stream)} THEN 'outside_window'",
        "      WHEN c.order_id IS NOT NULL THEN 'crm_only' ELSE 'web_only' END AS match_status,",
        f"{columns},",
        "    w.transaction_id AS web_transaction_id,",
        # The purchase's day (the property's), else the order's creation (or first receipt) day: the
        # day does not move when the status changes later.
        f"    {report_date} AS report_date,",
        # What went back is reported on the day it went back (the latest version's), never before the order.
        "    IF(c.crm_refunded + c.crm_chargebacks > 0,",
        f"      GREATEST(DATE(c.crm_updated_at, '{zone}'), {report_date}), NULL) AS adjustment_date",
        "  FROM crm_amounts AS c",
        "  LEFT JOIN pairs AS pr ON pr.order_id = c.order_id",
        "  FULL OUTER JOIN web AS w ON w.purchase_key = pr.purchase_key",
    ])


def rate_periods_sql(rates: ExchangeRates, project: str) -> str:
    """Each rate of the user's table with the day it holds from and the day the next one takes over."""
    table = rates.table if rates.table.count(".") == 2 else f"{project}.{rates.table}"
    currency = "UPPER(TRIM(er.currency))"
    return ("  SELECT " + currency + " AS currency, CAST(er.rate AS NUMERIC) AS rate, er.date AS valid_from,\n"
            f"    LEAD(er.date) OVER (PARTITION BY {currency} ORDER BY er.date) AS valid_until\n"
            f"  FROM `{table}` AS er")


def _rated(stitch: GA4Export) -> str:
    """Per row, the rate from each side's currency to the reporting currency on the report day: 1 for the
    reporting currency itself, else the rate period of the exchange-rate table that holds that day (the
    latest rate on or before it), else NULL: not converted."""
    names = ("order_id", "match_status", *CRM_COLUMNS, *WEB_COLUMNS, "web_transaction_id", "report_date",
             "adjustment_date")
    columns = ",\n".join(f"    j.{name} AS {name}" for name in names)
    reporting = f"'{stitch.reporting_currency}'"
    if stitch.exchange_rates is None:
        return (f"  SELECT\n{columns},\n"
                f"    IF(j.crm_currency = {reporting}, CAST(1 AS NUMERIC), NULL) AS crm_rate,\n"
                f"    IF(j.web_currency = {reporting}, CAST(1 AS NUMERIC), NULL) AS web_rate\n"
                "  FROM joined AS j")

    def period(alias: str, currency: str) -> str:
        return (f"  LEFT JOIN rate_periods AS {alias} ON {alias}.currency = j.{currency}\n"
                f"    AND j.report_date >= {alias}.valid_from\n"
                f"    AND ({alias}.valid_until IS NULL OR j.report_date < {alias}.valid_until)")

    return (f"  SELECT\n{columns},\n"
            f"    IF(j.crm_currency = {reporting}, CAST(1 AS NUMERIC), crm_period.rate) AS crm_rate,\n"
            f"    IF(j.web_currency = {reporting}, CAST(1 AS NUMERIC), web_period.rate) AS web_rate\n"
            "  FROM joined AS j\n"
            f"{period('crm_period', 'crm_currency')}\n"
            f"{period('web_period', 'web_currency')}")


def _final(stitch: GA4Export) -> str:
    return "\n".join([
        "SELECT",
        "  r.order_id AS order_id, r.match_status AS match_status,",
        "  r.crm_status AS crm_status, r.crm_outcome AS crm_outcome, r.crm_currency AS crm_currency,",
        "  r.crm_total AS crm_total, r.crm_refunded AS crm_refunded, r.crm_chargebacks AS crm_chargebacks,",
        "  r.final_revenue AS final_revenue,",
        "  r.web_currency AS web_currency, r.web_revenue AS web_revenue,",
        f"  '{stitch.reporting_currency}' AS reporting_currency,",
        # NULL where the row has no such side; FALSE where its currency has no rate (or is unknown).
        "  IF(r.crm_total IS NULL, NULL, r.crm_rate IS NOT NULL) AS crm_converted,",
        "  IF(r.web_revenue IS NULL, NULL, r.web_rate IS NOT NULL) AS web_converted,",
        "  r.crm_total * r.crm_rate AS crm_total_reporting,",
        "  (r.crm_refunded + r.crm_chargebacks) * r.crm_rate AS refunds_reporting,",
        "  r.final_revenue * r.crm_rate AS final_revenue_reporting,",
        "  r.web_revenue * r.web_rate AS web_revenue_reporting,",
        "  r.final_revenue * r.crm_rate - r.web_revenue * r.web_rate AS revenue_difference,",
        "  r.crm_created_at AS crm_created_at, r.crm_updated_at AS crm_updated_at, r.crm_user_id AS crm_user_id,",
        "  r.web_purchase_at AS web_purchase_at, r.web_transaction_id AS web_transaction_id,",
        "  r.user_pseudo_id AS user_pseudo_id, r.web_user_id AS web_user_id,",
        "  r.source AS source, r.medium AS medium, r.campaign AS campaign, r.campaign_id AS campaign_id,",
        "  r.default_channel_group AS default_channel_group, r.google_ads_customer_id AS google_ads_customer_id,",
        "  r.click_id AS click_id, r.gclid AS gclid, r.gbraid AS gbraid, r.wbraid AS wbraid,",
        "  r.source_record AS source_record,",
        "  r.report_date AS report_date, r.adjustment_date AS adjustment_date",
        "FROM rated AS r",
    ])
