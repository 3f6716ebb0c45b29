"""Reading and appending the `<table>_ads_uploads` ledger (service/ads/ledger_schema.py says what a row is)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from service.ads.ledger_schema import FINAL_REQUEST_STATUSES, KINDS, SENT
from service.ads.plan import Sent

TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class LedgerRow:
    transaction_id: str
    kind: str
    status: str
    recorded_at: dt.datetime
    run_id: str
    value_sent: Decimal | None = None
    currency: str | None = None
    request_id: str | None = None
    diagnostics: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"transaction_id": self.transaction_id, "kind": self.kind, "status": self.status,
                "value_sent": None if self.value_sent is None else str(self.value_sent),
                "currency": self.currency, "request_id": self.request_id, "diagnostics": self.diagnostics,
                "recorded_at": self.recorded_at.isoformat(), "run_id": self.run_id}


def _query(client: Any, sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in client.query(sql, timeout=TIMEOUT_SECONDS).result(timeout=TIMEOUT_SECONDS)]


def read_sent(client: Any, ledger: str) -> dict[str, Sent]:
    """Per transaction id, the last kind and value recorded as sent (failed attempts do not count)."""
    kinds = ", ".join(f"'{kind}'" for kind in KINDS)
    rows = _query(client, (
        "SELECT u.transaction_id AS transaction_id, u.kind AS kind, u.value_sent AS value_sent\n"
        f"FROM `{ledger}` AS u\n"
        f"WHERE u.status = '{SENT}' AND u.kind IN ({kinds})\n"
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY u.transaction_id ORDER BY u.recorded_at DESC, u.kind DESC) = 1"))
    return {row["transaction_id"]: Sent(row["kind"], Decimal(row["value_sent"] or 0)) for row in rows}


def pending_requests(client: Any, ledger: str) -> dict[str, list[tuple[str, str]]]:
    """Request ids sent whose final status is not in the ledger yet, each with its (transaction id, kind)s."""
    final = ", ".join(f"'{status}'" for status in FINAL_REQUEST_STATUSES)
    rows = _query(client, (
        "SELECT s.request_id AS request_id, s.transaction_id AS transaction_id, s.kind AS kind\n"
        f"FROM `{ledger}` AS s\n"
        f"LEFT JOIN (SELECT DISTINCT d.request_id AS request_id FROM `{ledger}` AS d\n"
        f"  WHERE d.status IN ({final})) AS f\n"
        "  ON f.request_id = s.request_id\n"
        # Google Ads API retractions have no request id: their answer was final at once.
        f"WHERE s.status = '{SENT}' AND s.request_id IS NOT NULL AND f.request_id IS NULL\n"
        "ORDER BY s.request_id, s.transaction_id"))
    pending: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        pending.setdefault(row["request_id"], []).append((row["transaction_id"], row["kind"]))
    return pending


class LedgerWriteFailed(RuntimeError):
    pass


def append(client: Any, ledger: str, rows: list[LedgerRow]) -> None:
    from google.api_core.retry import Retry

    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(ledger, [row.to_json() for row in rows[start:start + 500]],
                                         retry=Retry(timeout=TIMEOUT_SECONDS), timeout=TIMEOUT_SECONDS)
        if errors:
            raise LedgerWriteFailed(f"writing {len(rows)} rows to the ledger {ledger} failed: {errors[:3]}")


def refusal_text(error: Exception, **extra: str) -> str:
    """What the ledger and the log say of a refused request: the class, the code and Google's message (no
    request headers), plus `extra` (e.g. which API), as sorted JSON."""
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(error)
    return json.dumps({"error": type(error).__name__, "code": int(code) if isinstance(code, int) else str(code),
                       "message": str(message)[:500], **extra}, sort_keys=True)
