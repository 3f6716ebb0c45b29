"""The `<table>_revenue_by_channel` view: the attributed view per day, channel and currency.

Each order contributes up to three entries, each on its own day: what the website recorded (the purchase
day), what the CRM booked (the same day, or the creation day of an order the website never saw), and what
went back later (refunds and chargebacks, negative, on the day of the change). A refund therefore never
changes a past day's figures. Amounts are in the stream's reporting currency where they convert; an
amount that does not stays in its own currency, in rows of that currency with `converted` FALSE, and is
counted in `not_converted`: never added to the reporting currency's sums.
"""

from __future__ import annotations

from infra.views.attributed import attributed_view_id, first_day, stitch_of
from infra.views.sql_steps import Step, check_project, with_steps
from service.model.stitch import BOOKED_OUTCOMES
from service.model.stream import Stream

# What the report shows where there is no channel: a web purchase without one, a CRM order the
# website never saw (or saw before the window).
NOT_SET = "(not set)"
NOT_SEEN_ON_WEB = "(not seen on web)"
ZERO = "CAST(0 AS NUMERIC)"
# Per entry: (column, type of its zero) in the order every branch of the union lists them.
MEASURES = ("web_orders", "web_revenue", "confirmed_orders", "confirmed_revenue", "refunds", "not_counted_orders",
            "open_orders", "unconfirmed_web_orders", "not_converted")
MONEY = frozenset({"web_revenue", "confirmed_revenue", "refunds"})


def revenue_by_channel_sql(stream: Stream, project: str) -> str:
    """Standard SQL of `<table>_revenue_by_channel`: the attributed view grouped per day and channel."""
    stitch = stitch_of(stream)
    check_project(project)
    attributed = f"`{project}.{stream.dataset}.{attributed_view_id(stream)}`"
    booked = ", ".join(f"'{outcome}'" for outcome in BOOKED_OUTCOMES)
    reporting = f"'{stitch.reporting_currency}'"
    web_entry = _entry(attributed, "a.report_date", "a.web_converted", "a.web_currency", reporting,
                       "a.web_purchase_at IS NOT NULL", {
                           "web_orders": "1",
                           "web_revenue": "IF(a.web_converted, a.web_revenue_reporting, a.web_revenue)",
                           "unconfirmed_web_orders": "IF(a.match_status = 'web_only', 1, 0)",
                           "not_converted": "IF(a.web_converted, 0, 1)"})
    # Booked with its final revenue known; a partial refund of unknown amount stays open until it is.
    confirmed = f"a.crm_outcome IN ({booked}) AND a.final_revenue IS NOT NULL"
    crm_entry = _entry(attributed, "a.report_date", "a.crm_converted", "a.crm_currency", reporting,
                       "a.crm_outcome IS NOT NULL", {
                           "confirmed_orders": f"IF({confirmed}, 1, 0)",
                           "confirmed_revenue": f"IF({confirmed}, "
                                                "IF(a.crm_converted, a.crm_total_reporting, a.crm_total), NULL)",
                           "not_counted_orders": "IF(a.crm_outcome = 'not_paid', 1, 0)",
                           "open_orders": "IF(a.crm_outcome = 'open' OR a.final_revenue IS NULL, 1, 0)",
                           "not_converted": "IF(a.crm_converted, 0, 1)"})
    refund_entry = _entry(attributed, "a.adjustment_date", "a.crm_converted", "a.crm_currency", reporting,
                          "a.adjustment_date IS NOT NULL", {
                              "refunds": "-IF(a.crm_converted, a.refunds_reporting, "
                                         "a.crm_refunded + a.crm_chargebacks)"})
    entries = Step("entries", "\n  UNION ALL\n".join((web_entry, crm_entry, refund_entry)))
    sums = ",\n".join(f"  IFNULL(SUM(en.{name}), {ZERO}) AS {name}" if name in MONEY else f"  SUM(en.{name}) AS {name}"
                      for name in MEASURES)
    final = "\n".join([
        "SELECT en.day AS day, en.source AS source, en.medium AS medium, en.campaign AS campaign,",
        "  en.default_channel_group AS default_channel_group, en.currency AS currency,",
        f"  IFNULL(en.currency = {reporting}, FALSE) AS converted,",
        f"{sums},",
        f"  IFNULL(SUM(en.confirmed_revenue), {ZERO}) + IFNULL(SUM(en.refunds), {ZERO}) AS net_revenue",
        "FROM entries AS en",
        # The report covers the look-back window: before it the view has no web side to compare.
        f"WHERE en.day >= {first_day(stream)}",
        "GROUP BY en.day, en.source, en.medium, en.campaign, en.default_channel_group, en.currency",
    ])
    return with_steps([entries], final)


def _entry(attributed: str, day: str, converted: str, own_currency: str, reporting: str, where: str,
           values: dict[str, str]) -> str:
    def channel(column: str) -> str:
        return (f"CASE WHEN a.web_purchase_at IS NULL THEN '{NOT_SEEN_ON_WEB}' "
                f"ELSE IFNULL(a.{column}, '{NOT_SET}') END AS {column}")

    measures = ",\n".join(f"    {values.get(name, ZERO if name in MONEY else '0')} AS {name}" for name in MEASURES)
    return "\n".join([
        f"  SELECT {day} AS day,",
        f"    {channel('source')}, {channel('medium')}, {channel('campaign')},",
        f"    {channel('default_channel_group')},",
        f"    IF({converted}, {reporting}, {own_currency}) AS currency,",
        f"{measures}",
        f"  FROM {attributed} AS a",
        f"  WHERE {where}",
    ])
