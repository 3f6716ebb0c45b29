"""The GA4 export a stream's orders are stitched to, as the stream declares it (`stitch=GA4Export(...)`).

Only the declaration and its rules live here; the deploy code builds the `<table>_attributed`,
`<table>_revenue_by_channel` and `<table>_roi_by_channel` views' SQL from it (infra/views/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from service.model.ids import DATASET_OR_TABLE_ID, MAX_TABLE_ID_LENGTH, PROJECT_ID
from service.model.latest import LatestView
from service.model.timezones import UnknownTimeZoneError, parse_time_zone

MatchBy = Literal["transaction_id", "user_id"]
MATCH_MODES: tuple[str, ...] = ("transaction_id", "user_id")
ATTRIBUTED_SUFFIX = "_attributed"
REVENUE_BY_CHANNEL_SUFFIX = "_revenue_by_channel"
ROI_BY_CHANNEL_SUFFIX = "_roi_by_channel"
# A Google Ads customer id as the Data Transfer names its tables: ten digits, no dashes.
GOOGLE_ADS_CUSTOMER_ID = re.compile(r"^[0-9]{10}$")
# Statuses end up in SQL string literals: no quotes or backslashes, so no escaping is ever needed.
STATUS_VALUE = re.compile(r"^[A-Za-z0-9 _./:-]{1,64}$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")  # ISO 4217, as GA4's `currency` parameter carries it
# `project.dataset.table` or `dataset.table` (the deploy project).
TABLE_REF = re.compile(r"^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]\.)?[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_]{1,1024}$")
MAX_LOOKBACK_DAYS = 400
TOTAL_TYPES = ("NUMERIC", "FLOAT64", "INT64")
USER_ID_TYPES = ("STRING", "INT64")
TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP_MILLIS", "TIMESTAMP_SECONDS")

# What a CRM status means for revenue. paid: the amount counts; not_paid: it never did (cancelled
# before payment, voided, a lost deal); refunded / partially_refunded / chargeback: it counted, then
# (part of) it went back; open: not final yet (also any status the map does not name).
Outcome = Literal["paid", "not_paid", "refunded", "partially_refunded", "chargeback", "open"]
OUTCOMES: tuple[str, ...] = ("paid", "not_paid", "refunded", "partially_refunded", "chargeback", "open")
# Outcomes whose amount was booked as revenue on the purchase day (what went back is a later adjustment).
BOOKED_OUTCOMES: tuple[str, ...] = ("paid", "refunded", "partially_refunded", "chargeback")
StatusMap = tuple[tuple[str, Outcome], ...]
# For a CRM without a preset of its own (the seed's order export and the usual spellings).
GENERIC_STATUSES: StatusMap = (
    ("paid", "paid"), ("delivered", "paid"), ("completed", "paid"), ("won", "paid"),
    ("cancelled", "not_paid"), ("canceled", "not_paid"), ("voided", "not_paid"), ("void", "not_paid"),
    ("lost", "not_paid"), ("failed", "not_paid"),
    ("refunded", "refunded"), ("returned", "refunded"),
    ("partially refunded", "partially_refunded"), ("partially_refunded", "partially_refunded"),
    ("chargeback", "chargeback"), ("disputed", "chargeback"),
)


@dataclass(frozen=True)
class ExchangeRates:
    """A table the user keeps with a `date` (DATE), `currency` (STRING, ISO 4217) and `rate` (NUMERIC or
    FLOAT64) column: one unit of `currency` is worth `rate` units of the reporting currency on `date`.
    table: `project.dataset.table`, or `dataset.table` in the deploy project."""

    table: str


@dataclass(frozen=True)
class GoogleAdsCost:
    """The Google Ads BigQuery Data Transfer of one account: its `ads_CampaignBasicStats_<customer_id>`
    (daily cost per campaign) and `ads_Campaign_<customer_id>` (campaign names) tables.

    dataset / project: where the transfer writes; project None = the deploy project.
    customer_id: the account's ten digits, without dashes, as in the table names.
    currency: the account's currency (its cost is in it; `customer_currency_code` of `ads_Customer_<id>`).
    """

    dataset: str
    customer_id: str
    currency: str
    project: str | None = None


@dataclass(frozen=True)
class CostTable:
    """A cost table the user keeps (Meta, LinkedIn, a spreadsheet): `date` (DATE), `source`, `medium`,
    `campaign` (STRING, as GA4 reports them), `cost` (NUMERIC or FLOAT64) and `currency` (ISO 4217).
    table: `project.dataset.table`, or `dataset.table` in the deploy project."""

    table: str


CostSource = GoogleAdsCost | CostTable


@dataclass(frozen=True)
class GA4Export:
    """Declares the GA4 export a stream's orders are stitched to, and how a CRM order counts.

    dataset / project: the export dataset (`analytics_<property id>`); project None = the deploy project.
    lookback_days: the views read today's and this many previous days' tables, never the whole export.
    time_zone: the GA4 property's reporting time zone (its tables are named by that day); None = the
      stream's time zone.
    match: "transaction_id" (the CRM key equals the purchase's `ecommerce.transaction_id`) or "user_id"
      (the CRM `user_id_field` equals GA4 `user_id`, pairing an order with the purchase of that user
      closest to its creation time, else its first receipt, within `user_match_hours`).
    reporting_currency: the one currency the report sums in (ISO 4217). Amounts in another currency are
      converted through `exchange_rates`, or counted apart as not converted: never added as they are.
    statuses: (CRM status, outcome) pairs, compared case-insensitively; None = the sender preset's map
      (service/model/senders.py), else GENERIC_STATUSES. A status the map does not name is "open".
    status_field / total_field / currency_field / user_id_field / created_field / refunded_field /
      chargeback_field: the latest view's fields to use (refunded_field: the amount refunded so far;
      chargeback_field: the amount lost to chargebacks).
    costs: the advertising cost the `<table>_roi_by_channel` view sets against the revenue (none: the
      view shows revenue only, with no cost).
    """

    dataset: str
    project: str | None = None
    lookback_days: int = 30
    time_zone: str | None = None
    match: MatchBy = "transaction_id"
    reporting_currency: str = "USD"
    exchange_rates: ExchangeRates | None = None
    statuses: StatusMap | None = None
    status_field: str = "status"
    total_field: str = "total"
    currency_field: str | None = "currency"
    user_id_field: str | None = "userId"
    created_field: str | None = "createdAt"
    refunded_field: str | None = None
    chargeback_field: str | None = None
    user_match_hours: int = 24
    costs: tuple[CostSource, ...] = ()


def stitch_problems(stitch: object, latest: LatestView | None, table: str) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of a stitch declaration; empty when valid."""
    if not isinstance(stitch, GA4Export):
        return [("stitch", stitch, "use None or GA4Export(dataset='analytics_<property id>', ...)")]
    if latest is None:
        return [("stitch", stitch, "a stitch joins the latest view's orders: declare latest=LatestView(...) too")]
    problems: list[tuple[str, object, str]] = []
    if not isinstance(stitch.dataset, str) or not DATASET_OR_TABLE_ID.match(stitch.dataset):
        problems.append(("stitch.dataset", stitch.dataset,
                         "the GA4 export dataset id, e.g. 'analytics_123456789' (letters, digits, '_')"))
    if stitch.project is not None and not (isinstance(stitch.project, str) and PROJECT_ID.match(stitch.project)):
        problems.append(("stitch.project", stitch.project, "None (the deploy project) or a Google Cloud project id"))
    if not isinstance(stitch.lookback_days, int) or not 0 <= stitch.lookback_days <= MAX_LOOKBACK_DAYS:
        problems.append(("stitch.lookback_days", stitch.lookback_days,
                         f"a whole number of days from 0 to {MAX_LOOKBACK_DAYS} (every query reads that many "
                         "daily tables; for longer periods materialise the view)"))
    if stitch.time_zone is not None:
        try:
            parse_time_zone(stitch.time_zone)
        except UnknownTimeZoneError as error:
            problems.append(("stitch.time_zone", stitch.time_zone, str(error)))
    if stitch.match not in MATCH_MODES:
        problems.append(("stitch.match", stitch.match, f"one of {', '.join(MATCH_MODES)}"))
    problems += _status_problems(stitch)
    problems += _cost_problems(stitch.costs)
    declared = {f.name: f.type for f in latest.fields}
    fields: list[tuple[str, str | None, tuple[str, ...], bool]] = [
        ("status_field", stitch.status_field, ("STRING",), True),
        ("total_field", stitch.total_field, TOTAL_TYPES, True),
        ("currency_field", stitch.currency_field, ("STRING",), False),
        ("user_id_field", stitch.user_id_field, USER_ID_TYPES, stitch.match == "user_id"),
        ("created_field", stitch.created_field, TIME_TYPES, False),
        ("refunded_field", stitch.refunded_field, TOTAL_TYPES, False),
        ("chargeback_field", stitch.chargeback_field, TOTAL_TYPES, False),
    ]
    for name, value, types, required in fields:
        if value is None:
            if required:
                problems.append((f"stitch.{name}", value, "name a declared latest field (match='user_id' needs it)"))
        elif value not in declared:
            problems.append((f"stitch.{name}", value,
                             f"name one of the latest view's fields ({', '.join(declared)})"))
        elif declared[value] not in types:
            problems.append((f"stitch.{name}", value, f"the field's type must be one of {', '.join(types)}"))
    if not isinstance(stitch.user_match_hours, int) or not 1 <= stitch.user_match_hours <= 24 * 31:
        problems.append(("stitch.user_match_hours", stitch.user_match_hours, "a whole number of hours from 1 to 744"))
    longest = max(len(ATTRIBUTED_SUFFIX), len(REVENUE_BY_CHANNEL_SUFFIX))
    if len(table) + longest > MAX_TABLE_ID_LENGTH:
        problems.append(("table", table, f"at most {MAX_TABLE_ID_LENGTH - longest} characters with a stitch "
                                         f"(the views add {REVENUE_BY_CHANNEL_SUFFIX!r})"))
    return problems


def _status_problems(stitch: GA4Export) -> list[tuple[str, object, str]]:
    problems: list[tuple[str, object, str]] = []
    if not isinstance(stitch.reporting_currency, str) or not CURRENCY_CODE.match(stitch.reporting_currency):
        problems.append(("stitch.reporting_currency", stitch.reporting_currency,
                         "a three-letter ISO 4217 code in capitals, e.g. 'EUR'"))
    rates = stitch.exchange_rates
    if rates is not None and not (isinstance(rates, ExchangeRates) and isinstance(rates.table, str)
                                  and TABLE_REF.match(rates.table)):
        problems.append(("stitch.exchange_rates", rates,
                         "None or ExchangeRates(table='dataset.table' or 'project.dataset.table')"))
    if stitch.statuses is None:
        return problems
    pairs = stitch.statuses
    if not isinstance(pairs, tuple) or not all(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and STATUS_VALUE.match(pair[0])
            and pair[1] in OUTCOMES for pair in pairs):
        problems.append(("stitch.statuses", pairs,
                         "None or a tuple of (CRM status, outcome) pairs: statuses of 1-64 letters, digits, spaces "
                         f"or _ . / : -, outcomes one of {', '.join(OUTCOMES)}"))
        return problems
    if not any(outcome == "paid" for _, outcome in pairs):
        problems.append(("stitch.statuses", pairs, "name at least one status whose outcome is 'paid'"))
    seen: dict[str, str] = {}
    for status, outcome in pairs:
        earlier = seen.setdefault(status.strip().lower(), outcome)
        if earlier != outcome:
            problems.append(("stitch.statuses", pairs,
                             f"status {status!r} is mapped twice ({earlier} and {outcome}; case is ignored)"))
    if stitch.refunded_field is None and any(outcome == "partially_refunded" for _, outcome in pairs):
        problems.append(("stitch.refunded_field", None,
                         "a partially_refunded status needs the field with the refunded amount"))
    return problems


def _cost_problems(costs: object) -> list[tuple[str, object, str]]:
    if not isinstance(costs, tuple):
        return [("stitch.costs", costs, "a tuple of GoogleAdsCost(...) / CostTable(...), () for none")]
    problems: list[tuple[str, object, str]] = []
    for index, cost in enumerate(costs):
        name = f"stitch.costs[{index}]"
        if isinstance(cost, GoogleAdsCost):
            if not isinstance(cost.dataset, str) or not DATASET_OR_TABLE_ID.match(cost.dataset):
                problems.append((f"{name}.dataset", cost.dataset, "the transfer's dataset id (letters, digits, '_')"))
            if cost.project is not None and not (isinstance(cost.project, str) and PROJECT_ID.match(cost.project)):
                problems.append((f"{name}.project", cost.project, "None (the deploy project) or a project id"))
            if not isinstance(cost.customer_id, str) or not GOOGLE_ADS_CUSTOMER_ID.match(cost.customer_id):
                problems.append((f"{name}.customer_id", cost.customer_id,
                                 "the account's ten digits without dashes, e.g. '1234567890'"))
            if not isinstance(cost.currency, str) or not CURRENCY_CODE.match(cost.currency):
                problems.append((f"{name}.currency", cost.currency,
                                 "the account's currency, a three-letter ISO 4217 code in capitals"))
        elif isinstance(cost, CostTable):
            if not isinstance(cost.table, str) or not TABLE_REF.match(cost.table):
                problems.append((f"{name}.table", cost.table, "'dataset.table' or 'project.dataset.table'"))
        else:
            problems.append((name, cost, "GoogleAdsCost(dataset=..., customer_id=..., currency=...) or "
                                         "CostTable(table='dataset.table')"))
    return problems
