"""The `<table>_roi_by_channel` view: advertising cost beside GA4-reported and CRM-final revenue, per day
and channel / campaign.

Cost comes from the stream's cost sources (service/model/stitch.py `GA4Export.costs`): the Google Ads
BigQuery Data Transfer (`ads_CampaignBasicStats_<customer id>` for `segments_date`, `campaign_id` and
`metrics_cost_micros`, `ads_Campaign_<customer id>` for `campaign_name`; Google: "Google Ads report
transformation", https://cloud.google.com/bigquery/docs/google-ads-transformation) and generic tables of
`date`, `source`, `medium`, `campaign`, `cost`, `currency`.

Cost lines and order entries are stacked (UNION ALL) and then summed per key, so cost without an order
and orders without cost both stay in the view. The key: day, source, medium, and the Google Ads campaign
id for google / cpc rows that have one (GA4 carries the Ads campaign id), else the campaign name.

Unlike `<table>_revenue_by_channel`, an order's refund counts against the day the order was bought on:
ROAS asks what a day's spend finally brought in, so that day's figures fall as refunds arrive.
Amounts in a currency without a rate stay in their own currency, in rows with `converted` FALSE: never
summed with the reporting currency.
"""

from __future__ import annotations

from infra.views.attributed import attributed_view_id, first_day, rate_periods_sql, stitch_of
from infra.views.revenue_by_channel import NOT_SEEN_ON_WEB, NOT_SET
from infra.views.sql_steps import Step, check_project, with_steps
from service.model.stitch import BOOKED_OUTCOMES, ROI_BY_CHANNEL_SUFFIX, CostSource, CostTable, GoogleAdsCost
from service.model.stream import Stream

ZERO = "CAST(0 AS NUMERIC)"
# Per entry, in the order every branch of the union lists them.
MEASURES = ("cost", "ga4_revenue", "crm_final_revenue", "refunded_revenue", "cancelled_revenue", "orders",
            "final_orders", "web_orders", "not_converted")
MONEY = frozenset({"cost", "ga4_revenue", "crm_final_revenue", "refunded_revenue", "cancelled_revenue"})
KEY = ("day", "source", "medium", "match_id", "campaign_name_key", "currency")


def roi_by_channel_view_id(stream: Stream) -> str:
    return f"{stream.table}{ROI_BY_CHANNEL_SUFFIX}"


def roi_by_channel_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_roi_by_channel` for `stream` deployed in `project`."""
    stitch = stitch_of(stream)
    check_project(project)
    reporting = f"'{stitch.reporting_currency}'"
    steps: list[Step] = []
    entries = [*_order_entries(stream, project, reporting)]
    if stitch.costs:
        steps.append(Step("cost_lines", "\n  UNION ALL\n".join(
            _cost_lines(cost, project, first_day(stream)) for cost in stitch.costs)))
        if stitch.exchange_rates is not None:
            steps.append(Step("rate_periods", rate_periods_sql(stitch.exchange_rates, project)))
        steps.append(Step("rated_cost", _rated_cost(reporting, stitch.exchange_rates is not None)))
        entries.append(_entry("rated_cost", "co", {
            "day": "co.day", "source": "co.source", "medium": "co.medium", "campaign": "co.campaign",
            "match_id": "co.match_id", "currency": f"IF(co.rate IS NOT NULL, {reporting}, co.currency)"}, {
            "cost": "IFNULL(co.cost * co.rate, co.cost)", "not_converted": "IF(co.rate IS NULL, 1, 0)"}, None))
    steps.append(Step("entries", "\n  UNION ALL\n".join(entries)))
    return with_steps(steps, _final(reporting))


def _cost_lines(cost: CostSource, project: str, first: str) -> str:
    """One row per cost line: day, source, medium, campaign, match id, currency, cost."""
    if isinstance(cost, GoogleAdsCost):
        dataset = f"{cost.project or project}.{cost.dataset}"
        return "\n".join([
            "  SELECT s.segments_date AS day, 'google' AS source, 'cpc' AS medium, n.campaign_name AS campaign,",
            "    CAST(s.campaign_id AS STRING) AS match_id,",
            f"    '{cost.currency}' AS currency,",
            # Micros: a millionth of the account's currency.
            "    CAST(s.metrics_cost_micros AS NUMERIC) / 1000000 AS cost",
            f"  FROM `{dataset}.ads_CampaignBasicStats_{cost.customer_id}` AS s",
            # ads_Campaign holds one snapshot per transfer day: the latest one names the campaign.
            "  LEFT JOIN (SELECT c.campaign_id AS campaign_id, c.campaign_name AS campaign_name",
            f"    FROM `{dataset}.ads_Campaign_{cost.customer_id}` AS c",
            "    WHERE c._DATA_DATE = c._LATEST_DATE) AS n ON n.campaign_id = s.campaign_id",
            f"  WHERE s.segments_date >= {first}",
        ])
    assert isinstance(cost, CostTable)
    table = cost.table if cost.table.count(".") == 2 else f"{project}.{cost.table}"
    return "\n".join([
        "  SELECT ct.date AS day, ct.source AS source, ct.medium AS medium, ct.campaign AS campaign,",
        "    CAST(NULL AS STRING) AS match_id, UPPER(TRIM(ct.currency)) AS currency,",
        "    CAST(ct.cost AS NUMERIC) AS cost",
        f"  FROM `{table}` AS ct",
        f"  WHERE ct.date >= {first}",
    ])


def _rated_cost(reporting: str, with_rates: bool) -> str:
    """Each cost line with its rate to the reporting currency on its day (NULL: not converted)."""
    columns = ("  SELECT cl.day AS day, cl.source AS source, cl.medium AS medium, cl.campaign AS campaign,\n"
               "    cl.match_id AS match_id, cl.currency AS currency, cl.cost AS cost,\n")
    if not with_rates:
        return columns + f"    IF(cl.currency = {reporting}, CAST(1 AS NUMERIC), NULL) AS rate\n  FROM cost_lines AS cl"
    return (columns + f"    IF(cl.currency = {reporting}, CAST(1 AS NUMERIC), rp.rate) AS rate\n"
            "  FROM cost_lines AS cl\n"
            "  LEFT JOIN rate_periods AS rp ON rp.currency = cl.currency AND cl.day >= rp.valid_from\n"
            "    AND (rp.valid_until IS NULL OR cl.day < rp.valid_until)")


def _order_entries(stream: Stream, project: str, reporting: str) -> list[str]:
    """Per order of the attributed view: its web side and its CRM side (each in its own currency if that
    does not convert), on the order's report day, in the look-back window."""
    attributed = f"`{project}.{stream.dataset}.{attributed_view_id(stream)}`"
    booked = ", ".join(f"'{outcome}'" for outcome in BOOKED_OUTCOMES)

    def channel(column: str) -> str:
        return f"CASE WHEN a.web_purchase_at IS NULL THEN '{NOT_SEEN_ON_WEB}' ELSE IFNULL(a.{column}, '{NOT_SET}') END"

    key = {"day": "a.report_date", "source": channel("source"), "medium": channel("medium"),
           "campaign": channel("campaign"),
           # The Ads campaign id joins Google Ads cost; other channels join on the campaign's name.
           "match_id": "IF(a.source = 'google' AND a.medium = 'cpc', a.campaign_id, NULL)"}
    where = f"a.report_date >= {first_day(stream)}"
    web = _entry(attributed, "a", {**key, "currency": f"IF(a.web_converted, {reporting}, a.web_currency)"}, {
        "ga4_revenue": "IF(a.web_converted, a.web_revenue_reporting, a.web_revenue)", "web_orders": "1",
        "not_converted": "IF(a.web_converted, 0, 1)"}, f"a.web_purchase_at IS NOT NULL AND {where}")
    is_booked = f"a.crm_outcome IN ({booked})"

    def own_or_reporting(reporting_column: str, own: str) -> str:
        return f"IF(a.crm_converted, a.{reporting_column}, {own})"

    crm = _entry(attributed, "a", {**key, "currency": f"IF(a.crm_converted, {reporting}, a.crm_currency)"}, {
        "crm_final_revenue": f"IF({is_booked}, {own_or_reporting('final_revenue_reporting', 'a.final_revenue')}, "
                             "NULL)",
        "refunded_revenue": f"IF({is_booked}, "
                            f"{own_or_reporting('refunds_reporting', 'a.crm_refunded + a.crm_chargebacks')}, NULL)",
        "cancelled_revenue": f"IF(a.crm_outcome = 'not_paid', {own_or_reporting('crm_total_reporting', 'a.crm_total')}"
                             ", NULL)",
        "orders": f"IF({is_booked}, 1, 0)",
        # An order that still brings money in: booked, its final revenue known and above zero.
        "final_orders": f"IF({is_booked} AND a.final_revenue > 0, 1, 0)",
        "not_converted": "IF(a.crm_converted, 0, 1)"}, f"a.crm_outcome IS NOT NULL AND {where}")
    return [web, crm]


def _entry(source: str, alias: str, key: dict[str, str], values: dict[str, str], where: str | None) -> str:
    measures = ",\n".join(f"    {values.get(name, ZERO if name in MONEY else '0')} AS {name}" for name in MEASURES)
    lines = [
        f"  SELECT {key['day']} AS day, {key['source']} AS source, {key['medium']} AS medium,",
        f"    {key['campaign']} AS campaign, {key['match_id']} AS match_id,",
        f"    IF({key['match_id']} IS NULL, {key['campaign']}, NULL) AS campaign_name_key,",
        f"    {key['currency']} AS currency,",
        measures,
        f"  FROM {source} AS {alias}",
    ]
    if where is not None:
        lines.append(f"  WHERE {where}")
    return "\n".join(lines)


def _final(reporting: str) -> str:
    def total(name: str) -> str:
        return f"IFNULL(SUM(en.{name}), {ZERO})" if name in MONEY else f"SUM(en.{name})"

    sums = ",\n".join(f"  {total(name)} AS {name}" for name in MEASURES)
    return "\n".join([
        "SELECT en.day AS day, en.source AS source, en.medium AS medium, MAX(en.campaign) AS campaign,",
        "  en.match_id AS campaign_id, en.currency AS currency,",
        f"  IFNULL(en.currency = {reporting}, FALSE) AS converted,",
        f"{sums},",
        # NULL where there is no cost to divide by (or no final order).
        f"  SAFE_DIVIDE({total('ga4_revenue')}, NULLIF({total('cost')}, 0)) AS roas_ga4,",
        f"  SAFE_DIVIDE({total('crm_final_revenue')}, NULLIF({total('cost')}, 0)) AS roas_crm,",
        f"  SAFE_DIVIDE(NULLIF({total('cost')}, 0), NULLIF(SUM(en.final_orders), 0)) AS cost_per_final_order",
        "FROM entries AS en",
        f"GROUP BY {', '.join(f'en.{name}' for name in KEY)}",
    ])


def cost_datasets(stream: Stream, project: str) -> list[tuple[str, str]]:
    """(project, dataset) of each cost source outside the stream's own dataset, in declaration order: the
    datasets the ROI view must be authorized on so that an analyst needs no access to them."""
    found: list[tuple[str, str]] = []
    for cost in stitch_of(stream).costs:
        if isinstance(cost, GoogleAdsCost):
            place = (cost.project or project, cost.dataset)
        else:
            parts = cost.table.split(".")
            place = (parts[0], parts[1]) if len(parts) == 3 else (project, parts[0])
        if place != (project, stream.dataset) and place not in found:
            found.append(place)
    return found
