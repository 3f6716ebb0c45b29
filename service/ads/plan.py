"""What a run sends: the view's final orders compared with what the ledger says was sent. Pure: no I/O.

- a final order never sent, with a value: a conversion (skipped and counted when it converted longer ago
  than the import window);
- sent, now with another value above zero (a partial refund): a restatement with the new value;
- sent, now worth nothing (refunded, cancelled, charged back): a retraction; nothing after it;
- the same value as sent, or never sent and worth nothing: unchanged, nothing sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from service.ads.ledger_schema import Kind

ZERO = Decimal(0)


@dataclass(frozen=True)
class Conversion:
    """One row of `<table>_ads_conversions`."""

    transaction_id: str
    conversion_at: dt.datetime
    updated_at: dt.datetime | None
    outcome: str
    value: Decimal
    currency: str
    gclid: str | None = None
    gbraid: str | None = None
    wbraid: str | None = None
    email_sha256: str | None = None
    phone_sha256: str | None = None
    ad_user_data_consent: str = "UNSPECIFIED"
    ad_personalization_consent: str = "UNSPECIFIED"


@dataclass(frozen=True)
class Sent:
    """The last kind and value the ledger records as sent for one transaction id."""

    kind: Kind
    value: Decimal


@dataclass(frozen=True)
class Action:
    kind: Kind
    conversion: Conversion

    @property
    def value(self) -> Decimal:
        return ZERO if self.kind == "retraction" else self.conversion.value


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    unchanged: int = 0
    outside_window: int = 0


def plan_run(conversions: list[Conversion], sent: dict[str, Sent], now: dt.datetime, window_days: int) -> Plan:
    oldest = now - dt.timedelta(days=window_days)
    plan = Plan()
    for conversion in sorted(conversions, key=lambda c: c.transaction_id):
        last = sent.get(conversion.transaction_id)
        kind = _next_kind(conversion, last)
        if kind is None:
            plan.unchanged += 1
        elif kind == "conversion" and conversion.conversion_at < oldest:
            plan.outside_window += 1
        else:
            plan.actions.append(Action(kind, conversion))
    return plan


def _next_kind(conversion: Conversion, last: Sent | None) -> Kind | None:
    if last is None:
        return "conversion" if conversion.value > ZERO else None
    if last.kind == "retraction":
        return None
    if conversion.value <= ZERO:
        return "retraction"
    return None if conversion.value == last.value else "restatement"
