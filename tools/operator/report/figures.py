"""The report's figures, from the `<table>_roi_by_channel` rows: plain sums and ratios, no I/O.

Only rows in the reporting currency (`converted`) are summed; rows left in another currency are
counted and named apart, never added.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass(frozen=True)
class Totals:
    cost: Decimal
    ga4_revenue: Decimal
    crm_final_revenue: Decimal
    refunded_revenue: Decimal
    cancelled_revenue: Decimal
    final_orders: int

    @property
    def gap(self) -> Decimal:
        """What GA4 reported beyond what the CRM finally kept (negative: the CRM kept more)."""
        return self.ga4_revenue - self.crm_final_revenue

    @property
    def gap_percent(self) -> Decimal | None:
        return None if self.ga4_revenue == 0 else (self.gap / self.ga4_revenue * 100)

    @property
    def roas_ga4(self) -> Decimal | None:
        return None if self.cost == 0 else self.ga4_revenue / self.cost

    @property
    def roas_crm(self) -> Decimal | None:
        return None if self.cost == 0 else self.crm_final_revenue / self.cost


@dataclass(frozen=True)
class Report:
    currency: str | None  # the reporting currency; None when no row converted
    headline: Totals
    by_channel: dict[str, Totals]  # "source / medium"
    by_day: dict[dt.date, Totals]
    campaigns: list[tuple[str, Totals]]  # "source / medium / campaign", largest ROAS change first
    not_converted: dict[str, int]  # currency -> rows left in it


def _totals(rows: list[dict[str, Any]]) -> Totals:
    def total(name: str) -> Decimal:
        return sum((Decimal(row[name]) for row in rows), ZERO)

    return Totals(cost=total("cost"), ga4_revenue=total("ga4_revenue"), crm_final_revenue=total("crm_final_revenue"),
                  refunded_revenue=total("refunded_revenue"), cancelled_revenue=total("cancelled_revenue"),
                  final_orders=sum(int(row["final_orders"]) for row in rows))


def _grouped(rows: list[dict[str, Any]], key: Any) -> dict[Any, Totals]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return {name: _totals(group) for name, group in groups.items()}


def build_report(rows: list[dict[str, Any]], top_campaigns: int = 10) -> Report:
    converted = [row for row in rows if row["converted"]]
    not_converted: dict[str, int] = defaultdict(int)
    for row in rows:
        if not row["converted"]:
            not_converted[str(row["currency"])] += 1
    by_campaign = _grouped(converted, lambda r: f"{r['source']} / {r['medium']} / {r['campaign']}")
    with_cost = [(name, totals) for name, totals in by_campaign.items() if totals.cost > 0]

    def change(item: tuple[str, Totals]) -> Decimal:
        totals = item[1]
        assert totals.roas_ga4 is not None and totals.roas_crm is not None
        return abs(totals.roas_ga4 - totals.roas_crm)

    return Report(
        currency=str(converted[0]["currency"]) if converted else None,
        headline=_totals(converted),
        by_channel=dict(sorted(_grouped(converted, lambda r: f"{r['source']} / {r['medium']}").items())),
        by_day=dict(sorted(_grouped(converted, lambda r: r["day"]).items())),
        campaigns=sorted(with_cost, key=lambda item: (-change(item), item[0]))[:top_campaigns],
        not_converted=dict(sorted(not_converted.items())),
    )
