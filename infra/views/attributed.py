"""CRM orders stitched to the Google Analytics 4 export: `<table>_attributed` and `<table>_revenue_by_channel`.

A stream with a `latest` view may declare `stitch=GA4Export(dataset="analytics_123456789", ...)`. From
that declaration this module builds two views' SQL, once, for the cdktf stack (infra/stream_resources.py)
and the local stack (tools/local/provision.py) alike:

- `<table>_attributed`: one row per CRM order of `<table>_latest`, with the GA4 `purchase` event of the
  same order where there is one (and one row per web purchase the CRM never confirmed): web time,
  revenue and ids, the session's source / medium / campaign / click id and which export record it came
  from, the CRM's status, total and update time, the revenue that finally counts (by the declared
  status mapping) and its difference from what the website recorded.
- `<table>_revenue_by_channel`: per day and source / medium / campaign, orders and revenue as the
  website saw them beside orders and revenue as the CRM confirmed them.

GA4 export layout (Google: https://support.google.com/analytics/answer/7029846, "[GA4] BigQuery Export
schema"; https://developers.google.com/analytics/bigquery/traffic-attribution-data): one table per day,
`events_YYYYMMDD`, and `events_intraday_YYYYMMDD` for the current day (streaming export); a daily table
still receives late events for up to three days. The views read the wildcard `events_*` with
`_TABLE_SUFFIX` bounds on both shapes, so BigQuery scans only the look-back window's tables.

The SQL runs unchanged in BigQuery and in bqemulator (DuckDB), so the tests run the deployed text:
- every struct field is read through a table alias (`e.ecommerce.transaction_id`, `p.value.int_value`
  with `UNNEST(e.event_params) AS p`): the emulator cannot resolve unqualified struct fields inside
  UNNEST or in a CTE over a wildcard table; BigQuery accepts both spellings.
- the `_TABLE_SUFFIX` bound is an expression of CURRENT_DATE, never a literal: the emulator prunes
  wildcard tables with a regex that takes the first literal `_TABLE_SUFFIX` comparison and ignores OR.
- no CONCAT / `||` / FORMAT / FORMAT_DATE / COUNTIF: when one of the emulator's rewrite rules fires on
  them, it re-emits the query with `SELECT *` of the wildcard's tables expanded without their RECORD
  columns. (The latest view's REGEXP_EXTRACT fires one too, which tools/local/bqemu_launcher.py
  works around; the spellings here keep the views independent of that patch where they can.)
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.views.latest import latest_view_id
from service.model.ids import PROJECT_ID
from service.model.schema import DATE, RECEIVED_AT
from service.model.stitch import ATTRIBUTED_SUFFIX, REVENUE_BY_CHANNEL_SUFFIX, GA4Export
from service.model.stream import Stream

# What the channel report shows where there is no source: a web purchase without one, a CRM order
# the website never saw.
NOT_SET = "(not set)"
NOT_SEEN_ON_WEB = "(not seen on web)"
# One web purchase: its transaction id, else (no id sent) the browser and the event's microsecond.
# ARRAY_TO_STRING rather than CONCAT / || / FORMAT: see the module docstring.
PURCHASE_KEY = ("COALESCE(ev.transaction_id, ARRAY_TO_STRING("
                "[IFNULL(ev.user_pseudo_id, ''), CAST(ev.event_timestamp AS STRING)], '/'))")


@dataclass(frozen=True)
class ViewSpec:
    """One view as both stacks create it: its id, SQL and description, and the name its resources take."""

    name: str  # the construct id's suffix: f"{stream.name}-{name}"
    view_id: str
    sql: str
    description: str


def attributed_view_specs(stream: Stream, project: str) -> tuple[ViewSpec, ViewSpec]:
    """The stitched views in creation order (the report reads the attributed view), for the cdktf stack
    (infra/attributed_views.py) and the local stack (tools/local/provision.py) alike."""
    stitch = _stitch(stream)
    return (
        ViewSpec("attributed-view", attributed_view_id(stream), attributed_view_sql(stream, project),
                 f"Orders of {stream.table_ref} stitched to GA4 purchases in {stitch.dataset} (hookstream)"),
        ViewSpec("revenue-by-channel-view", revenue_by_channel_view_id(stream), revenue_by_channel_sql(stream, project),
                 f"Web vs CRM-confirmed orders and revenue per day and channel of {stream.table_ref} (hookstream)"),
    )


def attributed_view_id(stream: Stream) -> str:
    return f"{stream.table}{ATTRIBUTED_SUFFIX}"


def revenue_by_channel_view_id(stream: Stream) -> str:
    return f"{stream.table}{REVENUE_BY_CHANNEL_SUFFIX}"


def ga4_project(stream: Stream, project: str) -> str:
    """The project that holds the GA4 export: the declared one, else the deploy project."""
    return _stitch(stream).project or project


def _stitch(stream: Stream) -> GA4Export:
    if stream.stitch is None or stream.latest is None:
        raise ValueError(f"stream {stream.name!r} declares no GA4 stitch (Stream.stitch is None)")
    return stream.stitch


def _time_zone(stream: Stream) -> str:
    zone = _stitch(stream).time_zone or stream.time_zone
    return "UTC" if zone == "Z" else zone


def _first_day(stream: Stream) -> str:
    """SQL for the first day of the window, as a DATE in the property's time zone."""
    return f"DATE_SUB(CURRENT_DATE('{_time_zone(stream)}'), INTERVAL {_stitch(stream).lookback_days} DAY)"


def attributed_view_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_attributed` for `stream` deployed in `project`."""
    stitch = _stitch(stream)
    latest = stream.latest
    assert latest is not None
    if not PROJECT_ID.match(project):
        raise ValueError(f"project {project!r} is not a Google Cloud project id")
    events = f"`{ga4_project(stream, project)}.{stitch.dataset}.events_*`"
    orders = f"`{project}.{stream.dataset}.{latest_view_id(stream)}`"
    zone = _time_zone(stream)
    first = f"REPLACE(CAST({_first_day(stream)} AS STRING), '-', '')"  # YYYYMMDD
    return "\n".join([
        "WITH events AS (",
        _events_select(events, first),
        "),",
        # GA4 fills collected_traffic_source / the source parameters on the event that carried the
        # campaign (usually the session's landing page), not on the purchase: take the session's first.
        "session_collected AS (",
        _first_per_session("collected", ("source", "medium", "campaign", "campaign_id", "click_id")),
        "),",
        "session_params AS (",
        _first_per_session("param", ("source", "medium", "campaign", "click_id")),
        "),",
        "purchases AS (",
        # A purchase reported twice (a reloaded thank-you page, the daily and the intraday table
        # overlapping for a while) counts once: the daily table's first event wins.
        f"  SELECT ev.*, {PURCHASE_KEY} AS purchase_key",
        "  FROM events AS ev",
        "  WHERE ev.event_name = 'purchase'",
        "  QUALIFY ROW_NUMBER() OVER (",
        f"    PARTITION BY {PURCHASE_KEY} ORDER BY ev.from_intraday, ev.event_timestamp) = 1",
        "),",
        "web_sourced AS (",
        _web_sourced(),
        "),",
        "web AS (",
        _web(),
        "),",
        "crm AS (",
        _crm(stream, orders),
        "),",
        "pairs AS (",
        _pairs(stitch),
        ")",
        _final(zone),
    ])


def _events_select(events: str, first: str) -> str:
    last_click = "e.session_traffic_source_last_click"
    collected = "e.collected_traffic_source"

    def param(key: str, kind: str = "string_value") -> str:
        return f"(SELECT p.value.{kind} FROM UNNEST(e.event_params) AS p WHERE p.key = '{key}')"

    return "\n".join([
        "  SELECT",
        "    e.event_name AS event_name,",
        "    e.event_timestamp AS event_timestamp,",
        "    e.event_date AS event_date,",
        "    e.user_pseudo_id AS user_pseudo_id,",
        "    e.user_id AS user_id,",
        "    STARTS_WITH(e._TABLE_SUFFIX, 'intraday_') AS from_intraday,",
        # GA4 writes '(not set)' where the page sent no transaction id.
        "    NULLIF(NULLIF(e.ecommerce.transaction_id, ''), '(not set)') AS transaction_id,",
        "    e.ecommerce.purchase_revenue AS purchase_revenue,",
        f"    {param('ga_session_id', 'int_value')} AS ga_session_id,",
        f"    {last_click}.manual_campaign.source AS last_click_source,",
        f"    {last_click}.manual_campaign.medium AS last_click_medium,",
        f"    COALESCE({last_click}.manual_campaign.campaign_name,",
        f"      {last_click}.google_ads_campaign.campaign_name) AS last_click_campaign,",
        f"    COALESCE({last_click}.manual_campaign.campaign_id,",
        f"      {last_click}.google_ads_campaign.campaign_id) AS last_click_campaign_id,",
        f"    {last_click}.google_ads_campaign.customer_id AS google_ads_customer_id,",
        f"    {collected}.manual_source AS collected_source,",
        f"    {collected}.manual_medium AS collected_medium,",
        f"    {collected}.manual_campaign_name AS collected_campaign,",
        f"    {collected}.manual_campaign_id AS collected_campaign_id,",
        f"    COALESCE({collected}.gclid, {collected}.dclid, {collected}.srsltid) AS collected_click_id,",
        f"    {param('source')} AS param_source,",
        f"    {param('medium')} AS param_medium,",
        f"    {param('campaign')} AS param_campaign,",
        f"    {param('gclid')} AS param_click_id",
        f"  FROM {events} AS e",
        # Daily tables (suffix YYYYMMDD) from the window's first day on, and the intraday tables
        # ('intraday_YYYYMMDD' sorts after every date; GA4 keeps only the current day's).
        f"  WHERE e._TABLE_SUFFIX >= {first}",
    ])


def _first_per_session(prefix: str, names: tuple[str, ...]) -> str:
    columns = ", ".join(f"ev.{prefix}_{name} AS {name}" for name in names)
    any_value = ", ".join(f"ev.{prefix}_{name}" for name in names)
    return "\n".join([
        f"  SELECT ev.user_pseudo_id AS user_pseudo_id, ev.ga_session_id AS ga_session_id, {columns}",
        "  FROM events AS ev",
        f"  WHERE ev.ga_session_id IS NOT NULL AND COALESCE({any_value}) IS NOT NULL",
        "  QUALIFY ROW_NUMBER() OVER (",
        "    PARTITION BY ev.user_pseudo_id, ev.ga_session_id ORDER BY ev.event_timestamp, ev.from_intraday) = 1",
    ])


def _web_sourced() -> str:
    return "\n".join([
        "  SELECT pu.*,",
        "    CASE",
        "      WHEN COALESCE(pu.last_click_source, pu.last_click_medium, pu.last_click_campaign) IS NOT NULL",
        "        THEN 'session_traffic_source_last_click'",
        "      WHEN COALESCE(sc.source, sc.medium, sc.campaign) IS NOT NULL THEN 'collected_traffic_source'",
        "      WHEN COALESCE(sp.source, sp.medium, sp.campaign) IS NOT NULL THEN 'event_params'",
        "    END AS source_record,",
        "    sc.source AS sc_source, sc.medium AS sc_medium, sc.campaign AS sc_campaign,",
        "    sc.campaign_id AS sc_campaign_id, sc.click_id AS sc_click_id,",
        "    sp.source AS sp_source, sp.medium AS sp_medium, sp.campaign AS sp_campaign, sp.click_id AS sp_click_id",
        "  FROM purchases AS pu",
        "  LEFT JOIN session_collected AS sc",
        "    ON sc.user_pseudo_id = pu.user_pseudo_id AND sc.ga_session_id = pu.ga_session_id",
        "  LEFT JOIN session_params AS sp",
        "    ON sp.user_pseudo_id = pu.user_pseudo_id AND sp.ga_session_id = pu.ga_session_id",
    ])


def _web() -> str:
    def pick(last_click: str, collected: str, params: str) -> str:
        return (f"CASE ws.source_record WHEN 'session_traffic_source_last_click' THEN {last_click} "
                f"WHEN 'collected_traffic_source' THEN {collected} WHEN 'event_params' THEN {params} END")

    return "\n".join([
        "  SELECT",
        "    ws.purchase_key AS purchase_key,",
        "    ws.transaction_id AS transaction_id,",
        "    TIMESTAMP_MICROS(ws.event_timestamp) AS web_purchase_at,",
        "    PARSE_DATE('%Y%m%d', ws.event_date) AS web_purchase_date,",
        "    CAST(ws.purchase_revenue AS NUMERIC) AS web_revenue,",
        "    ws.user_pseudo_id AS user_pseudo_id,",
        "    ws.user_id AS web_user_id,",
        f"    {pick('ws.last_click_source', 'ws.sc_source', 'ws.sp_source')} AS source,",
        f"    {pick('ws.last_click_medium', 'ws.sc_medium', 'ws.sp_medium')} AS medium,",
        f"    {pick('ws.last_click_campaign', 'ws.sc_campaign', 'ws.sp_campaign')} AS campaign,",
        f"    {pick('ws.last_click_campaign_id', 'ws.sc_campaign_id', 'CAST(NULL AS STRING)')} AS campaign_id,",
        "    ws.google_ads_customer_id AS google_ads_customer_id,",
        # The session_traffic_source_last_click record carries no click id: it is in the collected one.
        "    COALESCE(ws.sc_click_id, ws.sp_click_id) AS click_id,",
        "    ws.source_record AS source_record",
        "  FROM web_sourced AS ws",
    ])


def _crm(stream: Stream, orders: str) -> str:
    stitch, latest = _stitch(stream), stream.latest
    assert latest is not None

    def time_of(name: str | None) -> str:
        if name is None:
            return "CAST(NULL AS TIMESTAMP)"
        return f"l.`{name}`" if latest.field(name).type == "TIMESTAMP" else f"TIMESTAMP(l.`{name}`)"

    counts = ", ".join(f"'{v.lower()}'" for v in stitch.counts)
    does_not = ", ".join(f"'{v.lower()}'" for v in stitch.does_not_count) or "NULL"
    updated = time_of(latest.version_field)
    updated_at = f"COALESCE({updated}, TIMESTAMP_MILLIS(l.`{RECEIVED_AT.name}`))"
    user_id = "CAST(NULL AS STRING)" if stitch.user_id_field is None else f"CAST(l.`{stitch.user_id_field}` AS STRING)"
    status = f"LOWER(TRIM(l.`{stitch.status_field}`))"
    return "\n".join([
        "  SELECT",
        f"    CAST(l.`{latest.key}` AS STRING) AS order_id,",
        f"    l.`{stitch.status_field}` AS crm_status,",
        f"    CASE WHEN {status} IN ({counts}) THEN 'counts'",
        f"      WHEN {status} IN ({does_not}) THEN 'does_not_count' ELSE 'open' END AS crm_outcome,",
        f"    CAST(l.`{stitch.total_field}` AS NUMERIC) AS crm_total,",
        f"    {user_id} AS crm_user_id,",
        f"    {time_of(stitch.created_field)} AS crm_created_at,",
        f"    {updated_at} AS crm_updated_at,",
        f"    l.`{DATE.name}` AS crm_date",
        f"  FROM {orders} AS l",
    ])


def _pairs(stitch: GA4Export) -> str:
    if stitch.match == "transaction_id":
        return "\n".join([
            "  SELECT c.order_id AS order_id, w.purchase_key AS purchase_key",
            "  FROM crm AS c",
            "  JOIN web AS w ON w.transaction_id = c.order_id",
        ])
    # By user: each order takes the user's purchase nearest its creation time, and each purchase the
    # nearest order; only pairs that choose each other match, so nothing is counted twice.
    gap = "ABS(TIMESTAMP_DIFF(w.web_purchase_at, c.crm_created_at, SECOND))"
    return "\n".join([
        "  SELECT cand.order_id AS order_id, cand.purchase_key AS purchase_key",
        "  FROM (",
        f"    SELECT c.order_id AS order_id, w.purchase_key AS purchase_key, {gap} AS gap_seconds",
        "    FROM crm AS c",
        "    JOIN web AS w ON w.web_user_id = c.crm_user_id",
        f"    WHERE {gap} <= {stitch.user_match_hours * 3600}",
        "  ) AS cand",
        "  QUALIFY ROW_NUMBER() OVER (PARTITION BY cand.order_id ORDER BY cand.gap_seconds, cand.purchase_key) = 1",
        "    AND ROW_NUMBER() OVER (PARTITION BY cand.purchase_key ORDER BY cand.gap_seconds, cand.order_id) = 1",
    ])


def _final(zone: str) -> str:
    final_revenue = ("CASE c.crm_outcome WHEN 'counts' THEN c.crm_total "
                     "WHEN 'does_not_count' THEN CAST(0 AS NUMERIC) END")
    return "\n".join([
        "SELECT",
        "  COALESCE(c.order_id, w.transaction_id) AS order_id,",
        "  CASE WHEN c.order_id IS NOT NULL AND w.purchase_key IS NOT NULL THEN 'matched'",
        "    WHEN c.order_id IS NOT NULL THEN 'crm_only' ELSE 'web_only' END AS match_status,",
        "  c.crm_status AS crm_status,",
        "  c.crm_outcome AS crm_outcome,",
        "  c.crm_total AS crm_total,",
        f"  {final_revenue} AS final_revenue,",
        "  w.web_revenue AS web_revenue,",
        f"  ({final_revenue}) - w.web_revenue AS revenue_difference,",
        "  c.crm_created_at AS crm_created_at,",
        "  c.crm_updated_at AS crm_updated_at,",
        "  c.crm_user_id AS crm_user_id,",
        "  w.web_purchase_at AS web_purchase_at,",
        "  w.transaction_id AS web_transaction_id,",
        "  w.user_pseudo_id AS user_pseudo_id,",
        "  w.web_user_id AS web_user_id,",
        "  w.source AS source,",
        "  w.medium AS medium,",
        "  w.campaign AS campaign,",
        "  w.campaign_id AS campaign_id,",
        "  w.google_ads_customer_id AS google_ads_customer_id,",
        "  w.click_id AS click_id,",
        "  w.source_record AS source_record,",
        # The day the channel report counts the order on: the web purchase's day (the GA4 property's),
        # else the CRM's creation day, else the day its latest row arrived.
        f"  COALESCE(w.web_purchase_date, DATE(c.crm_created_at, '{zone}'), c.crm_date) AS report_date",
        "FROM crm AS c",
        "LEFT JOIN pairs AS pr ON pr.order_id = c.order_id",
        "FULL OUTER JOIN web AS w ON w.purchase_key = pr.purchase_key",
        "",
    ])


def revenue_by_channel_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_revenue_by_channel`: the attributed view grouped per day and channel."""
    _stitch(stream)
    if not PROJECT_ID.match(project):
        raise ValueError(f"project {project!r} is not a Google Cloud project id")
    attributed = f"`{project}.{stream.dataset}.{attributed_view_id(stream)}`"

    def channel(column: str) -> str:
        return (f"CASE WHEN a.match_status = 'crm_only' THEN '{NOT_SEEN_ON_WEB}' "
                f"ELSE IFNULL(a.{column}, '{NOT_SET}') END AS {column}")

    zero = "CAST(0 AS NUMERIC)"
    return "\n".join([
        "WITH report_rows AS (",
        "  SELECT a.report_date AS day,",
        f"    {channel('source')},",
        f"    {channel('medium')},",
        f"    {channel('campaign')},",
        "    a.match_status AS match_status, a.crm_outcome AS crm_outcome,",
        "    a.web_revenue AS web_revenue, a.final_revenue AS final_revenue",
        f"  FROM {attributed} AS a",
        # The report covers the look-back window: before it the view has no web side to compare.
        f"  WHERE a.report_date >= {_first_day(stream)}",
        ")",
        "SELECT r.day AS day, r.source AS source, r.medium AS medium, r.campaign AS campaign,",
        "  SUM(IF(r.match_status != 'crm_only', 1, 0)) AS web_orders,",
        f"  IFNULL(SUM(r.web_revenue), {zero}) AS web_revenue,",
        "  SUM(IF(r.crm_outcome = 'counts', 1, 0)) AS confirmed_orders,",
        f"  IFNULL(SUM(IF(r.crm_outcome = 'counts', r.final_revenue, NULL)), {zero}) AS confirmed_revenue,",
        "  SUM(IF(r.crm_outcome = 'does_not_count', 1, 0)) AS not_counted_orders,",
        "  SUM(IF(r.crm_outcome = 'open', 1, 0)) AS open_orders,",
        "  SUM(IF(r.match_status = 'web_only', 1, 0)) AS unconfirmed_web_orders",
        "FROM report_rows AS r",
        "GROUP BY r.day, r.source, r.medium, r.campaign",
        "",
    ])
