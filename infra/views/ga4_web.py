"""The web side of the attributed view: GA4 purchases of the look-back window, each with its channel.

GA4 export layout (Google: "[GA4] BigQuery Export schema", https://support.google.com/analytics/answer/7029846;
"Traffic attribution data", https://developers.google.com/analytics/bigquery/traffic-attribution-data):
one `events_YYYYMMDD` table per day (still receiving late events for up to three days), and with streaming
export `events_intraday_YYYYMMDD` for the current day, deleted once that day's daily table is complete.
GA4 360 properties also write `events_fresh_YYYYMMDD`, which `events_*` matches too: the suffix must be
exactly eight digits, or `intraday_` and eight digits.

The SQL runs unchanged in BigQuery and in bqemulator (DuckDB), so the tests run the deployed text:
- every struct field is read through a table alias (`e.ecommerce.transaction_id`, `p.value.int_value`
  with `UNNEST(e.event_params) AS p`): the emulator cannot resolve unqualified struct fields inside
  UNNEST or in a CTE over a wildcard table; BigQuery accepts both spellings.
- the first `_TABLE_SUFFIX` bound is an expression of CURRENT_DATE, never a literal: BigQuery prunes the
  tables before it; the emulator prunes with a regex that takes the first literal `_TABLE_SUFFIX`
  comparison and ignores OR, so a literal there would hide tables from the tests.
- no CONCAT / `||` / FORMAT / FORMAT_DATE / COUNTIF: when one of the emulator's rewrite rules fires on
  them, it re-emits the query with `SELECT *` of the wildcard's tables expanded without their RECORD
  columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.views.sql_steps import Step, absent_if_placeholder

# One web purchase: its transaction id, else (no id sent) the browser and the event's microsecond.
# ARRAY_TO_STRING rather than CONCAT / || / FORMAT: see the module docstring.
PURCHASE_KEY = ("COALESCE(ev.transaction_id, ARRAY_TO_STRING("
                "[IFNULL(ev.user_pseudo_id, ''), CAST(ev.event_timestamp AS STRING)], '/'))")
# A Google Ads click without UTM tags: GA4 reports it as google / cpc.
GOOGLE, CPC = "'google'", "'cpc'"


@dataclass(frozen=True)
class ChannelRecord:
    """One place GA4 records a purchase's channel: when `present`, its source / medium / campaign count."""

    name: str
    present: str
    source: str
    medium: str
    campaign: str
    campaign_id: str


def _if_google_click(click: str, source: str, value: str, otherwise: str) -> str:
    """`value` (google / cpc) where a Google click id came without a source, else `otherwise`."""
    return f"IF({source} IS NULL AND {click} IS NOT NULL, {value}, {otherwise})"


# In GA4's own order: its cross-channel last click (with its default channel group; exports before
# mid-2024 lack it), the Google Ads campaign, the manual (UTM) campaign of the session's last click,
# then what the session's first tagged event collected, then the site's own event parameters.
CHANNEL_RECORDS: tuple[ChannelRecord, ...] = (
    ChannelRecord("cross_channel_campaign",
                  "COALESCE(pu.cross_channel_source, pu.cross_channel_medium, pu.cross_channel_campaign) IS NOT NULL",
                  "pu.cross_channel_source", "pu.cross_channel_medium", "pu.cross_channel_campaign",
                  "pu.cross_channel_campaign_id"),
    ChannelRecord("google_ads_campaign",
                  "COALESCE(pu.google_ads_campaign, pu.google_ads_campaign_id) IS NOT NULL",
                  GOOGLE, CPC, "pu.google_ads_campaign", "pu.google_ads_campaign_id"),
    ChannelRecord("manual_campaign",
                  "COALESCE(pu.manual_source, pu.manual_medium, pu.manual_campaign) IS NOT NULL",
                  "pu.manual_source", "pu.manual_medium", "pu.manual_campaign", "pu.manual_campaign_id"),
    ChannelRecord("collected_traffic_source",
                  "COALESCE(sc.source, sc.medium, sc.campaign, sc.google_click) IS NOT NULL",
                  _if_google_click("sc.google_click", "sc.source", GOOGLE, "sc.source"),
                  _if_google_click("sc.google_click", "sc.source", CPC, "sc.medium"),
                  "sc.campaign", "sc.campaign_id"),
    ChannelRecord("event_params",
                  "COALESCE(sp.source, sp.medium, sp.campaign, sp.google_click) IS NOT NULL",
                  _if_google_click("sp.google_click", "sp.source", GOOGLE, "sp.source"),
                  _if_google_click("sp.google_click", "sp.source", CPC, "sp.medium"),
                  "sp.campaign", "CAST(NULL AS STRING)"),
)


def web_steps(events_table: str, first_day_suffix: str) -> list[Step]:
    """The steps up to `web`: one row per purchase of the window (columns listed in `_web`)."""
    return [
        Step("events", _events(events_table, first_day_suffix)),
        Step("daily_tables",
             "  SELECT DISTINCT ev.table_day AS table_day FROM events AS ev WHERE NOT ev.from_intraday"),
        Step("window_events", _window_events()),
        Step("session_collected", _first_per_session(
            "collected", ("source", "medium", "campaign", "campaign_id", "google_click", "click_id"))),
        Step("session_params", _first_per_session(
            "param", ("source", "medium", "campaign", "google_click", "gclid", "gbraid", "wbraid"))),
        Step("purchases", _purchases()),
        Step("web", _web()),
    ]


def _param(key: str, kind: str = "string_value") -> str:
    return f"(SELECT p.value.{kind} FROM UNNEST(e.event_params) AS p WHERE p.key = '{key}')"


def _events(events_table: str, first_day_suffix: str) -> str:
    """Every event of the window's daily and intraday tables, with the columns the later steps read."""
    last_click, collected = "e.session_traffic_source_last_click", "e.collected_traffic_source"
    cross_channel, ads, manual = (f"{last_click}.cross_channel_campaign", f"{last_click}.google_ads_campaign",
                                  f"{last_click}.manual_campaign")
    text = absent_if_placeholder
    columns = [
        ("e.event_name", "event_name"), ("e.event_timestamp", "event_timestamp"), ("e.event_date", "event_date"),
        ("e.user_pseudo_id", "user_pseudo_id"), ("e.user_id", "user_id"),
        ("SUBSTR(e._TABLE_SUFFIX, -8)", "table_day"),
        ("STARTS_WITH(e._TABLE_SUFFIX, 'intraday_')", "from_intraday"),
        (text("e.ecommerce.transaction_id"), "transaction_id"),
        # In the currency of the event's `currency` parameter (the export's "local currency").
        ("CAST(e.ecommerce.purchase_revenue AS NUMERIC)", "purchase_revenue"),
        (f"UPPER(TRIM({_param('currency')}))", "currency"),
        (_param("ga_session_id", "int_value"), "ga_session_id"),
        (text(f"{cross_channel}.source"), "cross_channel_source"),
        (text(f"{cross_channel}.medium"), "cross_channel_medium"),
        (text(f"{cross_channel}.campaign_name"), "cross_channel_campaign"),
        (text(f"{cross_channel}.campaign_id"), "cross_channel_campaign_id"),
        (text(f"{cross_channel}.default_channel_group"), "default_channel_group"),
        (text(f"{ads}.campaign_name"), "google_ads_campaign"),
        (text(f"{ads}.campaign_id"), "google_ads_campaign_id"),
        (text(f"{ads}.customer_id"), "google_ads_customer_id"),
        (text(f"{manual}.source"), "manual_source"),
        (text(f"{manual}.medium"), "manual_medium"),
        (text(f"{manual}.campaign_name"), "manual_campaign"),
        (text(f"{manual}.campaign_id"), "manual_campaign_id"),
        (text(f"{collected}.manual_source"), "collected_source"),
        (text(f"{collected}.manual_medium"), "collected_medium"),
        (text(f"{collected}.manual_campaign_name"), "collected_campaign"),
        (text(f"{collected}.manual_campaign_id"), "collected_campaign_id"),
        (text(f"{collected}.gclid"), "collected_google_click"),
        (f"COALESCE({text(f'{collected}.gclid')}, {text(f'{collected}.dclid')}, {text(f'{collected}.srsltid')})",
         "collected_click_id"),
        (text(_param("source")), "param_source"),
        (text(_param("medium")), "param_medium"),
        (text(_param("campaign")), "param_campaign"),
        # The export's collected_traffic_source has gclid but no wbraid / gbraid (iOS app and web-to-app
        # clicks): those only reach it when the site sends them as event parameters.
        (f"COALESCE({text(_param('gclid'))}, {text(_param('wbraid'))}, {text(_param('gbraid'))})",
         "param_google_click"),
        # Each kind apart too: Google Ads takes a gclid, a gbraid and a wbraid in fields of their own.
        (text(_param("gclid")), "param_gclid"),
        (text(_param("gbraid")), "param_gbraid"),
        (text(_param("wbraid")), "param_wbraid"),
    ]
    selected = ",\n".join(f"    {expression} AS {name}" for expression, name in columns)
    return (f"  SELECT\n{selected}\n"
            f"  FROM {events_table} AS e\n"
            f"  WHERE e._TABLE_SUFFIX >= {first_day_suffix}\n"
            # Daily and intraday tables only (not events_fresh_*), the intraday ones of the window too.
            f"    AND REGEXP_CONTAINS(e._TABLE_SUFFIX, r'^(intraday_)?[0-9]{{8}}$')\n"
            f"    AND SUBSTR(e._TABLE_SUFFIX, -8) >= {first_day_suffix}")


def _window_events() -> str:
    # An intraday table can outlive the completion of its day's daily table for a while: its events are
    # in the daily table then, so they count once, from there.
    names = ("event_name", "event_timestamp", "event_date", "user_pseudo_id", "user_id", "from_intraday",
             "transaction_id", "purchase_revenue", "currency", "ga_session_id", "cross_channel_source",
             "cross_channel_medium", "cross_channel_campaign", "cross_channel_campaign_id", "default_channel_group",
             "google_ads_campaign", "google_ads_campaign_id", "google_ads_customer_id", "manual_source",
             "manual_medium", "manual_campaign", "manual_campaign_id", "collected_source", "collected_medium",
             "collected_campaign", "collected_campaign_id", "collected_google_click", "collected_click_id",
             "param_source", "param_medium", "param_campaign", "param_google_click", "param_gclid", "param_gbraid",
             "param_wbraid")
    columns = ", ".join(f"ev.{name} AS {name}" for name in names)
    return (f"  SELECT {columns}\n"
            "  FROM events AS ev\n"
            "  LEFT JOIN daily_tables AS dt ON ev.from_intraday AND dt.table_day = ev.table_day\n"
            "  WHERE dt.table_day IS NULL")


def _first_per_session(prefix: str, names: tuple[str, ...]) -> str:
    """Per session (`user_pseudo_id` + `ga_session_id`), the first event with any of the values.

    GA4 fills collected_traffic_source / the source parameters on the event that carried the campaign
    (usually the session's landing page), not on the purchase.
    """
    columns = ", ".join(f"ev.{prefix}_{name} AS {name}" for name in names)
    any_value = ", ".join(f"ev.{prefix}_{name}" for name in names)
    return (f"  SELECT ev.user_pseudo_id AS user_pseudo_id, ev.ga_session_id AS ga_session_id, {columns}\n"
            "  FROM window_events AS ev\n"
            f"  WHERE ev.ga_session_id IS NOT NULL AND COALESCE({any_value}) IS NOT NULL\n"
            "  QUALIFY ROW_NUMBER() OVER (\n"
            "    PARTITION BY ev.user_pseudo_id, ev.ga_session_id ORDER BY ev.event_timestamp, ev.from_intraday) = 1")


def _purchases() -> str:
    # A purchase reported twice (a reloaded thank-you page, the daily and the intraday table
    # overlapping) counts once: the daily table's first event wins.
    names = ("transaction_id", "event_timestamp", "event_date", "user_pseudo_id", "user_id", "ga_session_id",
             "purchase_revenue", "currency", "cross_channel_source", "cross_channel_medium", "cross_channel_campaign",
             "cross_channel_campaign_id", "default_channel_group", "google_ads_campaign", "google_ads_campaign_id",
             "google_ads_customer_id", "manual_source", "manual_medium", "manual_campaign", "manual_campaign_id")
    columns = ",\n".join(f"    ev.{name} AS {name}" for name in names)
    return (f"  SELECT {PURCHASE_KEY} AS purchase_key,\n{columns}\n"
            "  FROM window_events AS ev\n"
            "  WHERE ev.event_name = 'purchase'\n"
            "  QUALIFY ROW_NUMBER() OVER (\n"
            f"    PARTITION BY {PURCHASE_KEY} ORDER BY ev.from_intraday, ev.event_timestamp) = 1")


def _pick(column: str) -> str:
    """The value of `column` from the first channel record in line that is present on the purchase."""
    branches = " ".join(f"WHEN {record.present} THEN {getattr(record, column)}" for record in CHANNEL_RECORDS)
    return f"CASE {branches} END"


def _web() -> str:
    source_record = " ".join(f"WHEN {record.present} THEN '{record.name}'" for record in CHANNEL_RECORDS)
    return "\n".join([
        "  SELECT",
        "    pu.purchase_key AS purchase_key,",
        "    pu.transaction_id AS transaction_id,",
        "    TIMESTAMP_MICROS(pu.event_timestamp) AS web_purchase_at,",
        # event_date is the day in the property's time zone, as GA4 reports it.
        "    PARSE_DATE('%Y%m%d', pu.event_date) AS web_purchase_date,",
        "    pu.purchase_revenue AS web_revenue,",
        "    pu.currency AS web_currency,",
        "    pu.user_pseudo_id AS user_pseudo_id,",
        "    pu.user_id AS web_user_id,",
        f"    {_pick('source')} AS source,",
        f"    {_pick('medium')} AS medium,",
        f"    {_pick('campaign')} AS campaign,",
        f"    {_pick('campaign_id')} AS campaign_id,",
        "    pu.default_channel_group AS default_channel_group,",
        "    pu.google_ads_customer_id AS google_ads_customer_id,",
        # The last-click records carry no click id: it is in what the session collected.
        "    COALESCE(sc.click_id, sp.google_click) AS click_id,",
        # The Google Ads click ids by kind (the upload to Google Ads needs to know which it sends).
        "    COALESCE(sc.google_click, sp.gclid) AS gclid,",
        "    sp.gbraid AS gbraid,",
        "    sp.wbraid AS wbraid,",
        f"    CASE {source_record} END AS source_record",
        "  FROM purchases AS pu",
        "  LEFT JOIN session_collected AS sc",
        "    ON sc.user_pseudo_id = pu.user_pseudo_id AND sc.ga_session_id = pu.ga_session_id",
        "  LEFT JOIN session_params AS sp",
        "    ON sp.user_pseudo_id = pu.user_pseudo_id AND sp.ga_session_id = pu.ga_session_id",
    ])
