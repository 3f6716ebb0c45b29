"""The GA4 export a stream's orders are stitched to, as the stream declares it (`stitch=GA4Export(...)`).

Only the declaration and its rules live here; the deploy code builds the `<table>_attributed` and
`<table>_revenue_by_channel` views' SQL from it (infra/views/attributed.py).
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
# Statuses end up in SQL string literals: no quotes or backslashes, so no escaping is ever needed.
STATUS_VALUE = re.compile(r"^[A-Za-z0-9 _./:-]{1,64}$")
MAX_LOOKBACK_DAYS = 400
TOTAL_TYPES = ("NUMERIC", "FLOAT64", "INT64")
USER_ID_TYPES = ("STRING", "INT64")
TIME_TYPES = ("TIMESTAMP", "DATE")

@dataclass(frozen=True)
class GA4Export:
    """Declares the GA4 export a stream's orders are stitched to, and how a CRM order counts.

    dataset / project: the export dataset (`analytics_<property id>`); project None = the deploy project.
    lookback_days: the views read today's and this many previous days' tables, never the whole export.
    time_zone: the GA4 property's reporting time zone (its tables are named by that day); None = the
      stream's time zone.
    match: "transaction_id" (the CRM key equals the purchase's `ecommerce.transaction_id`) or "user_id"
      (the CRM `user_id_field` equals GA4 `user_id`, pairing an order with the purchase of that user
      closest to its creation time, within `user_match_hours`).
    counts / does_not_count: CRM statuses (case-insensitive) whose total is revenue, and those worth 0
      (refunded, cancelled). Any other status is "open": no final revenue yet.
    status_field / total_field / user_id_field / created_field: the latest view's fields to use.
    """

    dataset: str
    project: str | None = None
    lookback_days: int = 30
    time_zone: str | None = None
    match: MatchBy = "transaction_id"
    counts: tuple[str, ...] = ("delivered", "completed", "paid")
    does_not_count: tuple[str, ...] = ("refunded", "cancelled")
    status_field: str = "status"
    total_field: str = "total"
    user_id_field: str | None = "userId"
    created_field: str | None = "createdAt"
    user_match_hours: int = 24


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
    declared = {f.name: f.type for f in latest.fields}
    fields: list[tuple[str, str | None, tuple[str, ...], bool]] = [
        ("status_field", stitch.status_field, ("STRING",), True),
        ("total_field", stitch.total_field, TOTAL_TYPES, True),
        ("user_id_field", stitch.user_id_field, USER_ID_TYPES, stitch.match == "user_id"),
        ("created_field", stitch.created_field, TIME_TYPES, stitch.match == "user_id"),
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
    for name in ("counts", "does_not_count"):
        values = getattr(stitch, name)
        if not isinstance(values, tuple) or not all(isinstance(v, str) and STATUS_VALUE.match(v) for v in values):
            problems.append((f"stitch.{name}", values,
                             "a tuple of CRM statuses (1-64 letters, digits, spaces or _ . / : -)"))
    if problems:
        return problems
    if not stitch.counts:
        problems.append(("stitch.counts", stitch.counts, "name at least one status whose total counts as revenue"))
    both = {v.lower() for v in stitch.counts} & {v.lower() for v in stitch.does_not_count}
    if both:
        problems.append(("stitch.does_not_count", stitch.does_not_count,
                         f"a status cannot both count and not count: {', '.join(sorted(both))}"))
    return problems
