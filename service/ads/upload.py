"""One upload run: fetch earlier requests' diagnostics, compare the view with the ledger, send what changed,
record it. Idempotent: a second run right after the first sends nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from service.ads import datamanager, ledger
from service.ads.config import AdsUploadConfig
from service.ads.ledger_schema import NOT_SENT, SENT
from service.ads.plan import Action, Conversion, plan_run
from service.ads.views import read_conversions

Progress = Callable[[int, int], None]  # (events done, events to send)


@dataclass
class Summary:
    stream: str
    sent: int = 0
    restated: int = 0
    retracted: int = 0
    unchanged: int = 0
    outside_window: int = 0
    failed: int = 0
    diagnostics: int = 0
    mode: str = "upload"  # or validate-only / dry-run

    def line(self) -> str:
        return (f"ads-upload {self.stream} ({self.mode}): sent={self.sent} restated={self.restated} "
                f"retracted={self.retracted} unchanged={self.unchanged} outside_import_window={self.outside_window} "
                f"failed={self.failed} diagnostics_fetched={self.diagnostics}")

    def count(self, action: Action) -> None:
        if action.kind == "conversion":
            self.sent += 1
        elif action.kind == "restatement":
            self.restated += 1
        else:
            self.retracted += 1


@dataclass(frozen=True)
class Mode:
    validate_only: bool = False
    dry_run: bool = False


def run(bigquery: Any, datamanager_client: Any, config: AdsUploadConfig, mode: Mode = Mode(),
        now: dt.datetime | None = None, progress: Progress | None = None) -> Summary:
    now = now or datamanager.utc_now()
    run_id = str(uuid.uuid4())
    summary = Summary(config.stream, mode="dry-run" if mode.dry_run else
                      "validate-only" if mode.validate_only else "upload")
    if not mode.dry_run and not mode.validate_only:
        summary.diagnostics = fetch_diagnostics(bigquery, datamanager_client, config, run_id)
    plan = plan_run(read_conversions(bigquery, config.view_path), ledger.read_sent(bigquery, config.ledger_path),
                    now, config.import_window_days)
    summary.unchanged, summary.outside_window = plan.unchanged, plan.outside_window
    actions = plan.actions
    done = 0
    for start in range(0, len(actions), datamanager.MAX_EVENTS_PER_REQUEST):
        batch = actions[start:start + datamanager.MAX_EVENTS_PER_REQUEST]
        if mode.dry_run:
            _count_all(summary, batch)
        else:
            _send_batch(bigquery, datamanager_client, config, batch, mode, summary, run_id)
        done += len(batch)
        if progress:
            progress(done, len(actions))
    return summary


def _count_all(summary: Summary, batch: list[Action]) -> None:
    for action in batch:
        summary.count(action)


def _send_batch(bigquery: Any, client: Any, config: AdsUploadConfig, batch: list[Action], mode: Mode,
                summary: Summary, run_id: str) -> None:
    from google.api_core import exceptions

    request = datamanager.ingest_request(config, batch, validate_only=mode.validate_only)
    try:
        request_id = datamanager.send(client, request)
    except exceptions.GoogleAPIError as error:
        summary.failed += len(batch)
        if not mode.validate_only:
            # Recorded for a person to read, never as sent: the next run sends these again.
            ledger.append(bigquery, config.ledger_path,
                          [_row(action, NOT_SENT, run_id, None, datamanager.error_text(error)) for action in batch])
        return
    _count_all(summary, batch)
    if not mode.validate_only:
        ledger.append(bigquery, config.ledger_path, [_row(action, SENT, run_id, request_id) for action in batch])


def _row(action: Action, status: str, run_id: str, request_id: str | None,
         diagnostics: str | None = None) -> ledger.LedgerRow:
    conversion: Conversion = action.conversion
    return ledger.LedgerRow(transaction_id=conversion.transaction_id, kind=action.kind, status=status,
                            recorded_at=datamanager.utc_now(), run_id=run_id, value_sent=Decimal(action.value),
                            currency=conversion.currency, request_id=request_id, diagnostics=diagnostics)


def fetch_diagnostics(bigquery: Any, client: Any, config: AdsUploadConfig, run_id: str) -> int:
    """Google's status of every earlier request whose final status the ledger lacks; returns how many were
    final now (a request still PROCESSING is recorded too, and asked about again next run)."""
    from google.api_core import exceptions

    final = 0
    for request_id, transactions in ledger.pending_requests(bigquery, config.ledger_path).items():
        try:
            status, details = datamanager.retrieve(client, request_id)
        except exceptions.GoogleAPIError:
            continue  # asked again next run
        ledger.append(bigquery, config.ledger_path, [
            ledger.LedgerRow(transaction_id=transaction_id, kind=kind, status=status, recorded_at=datamanager.utc_now(),
                             run_id=run_id, request_id=request_id, diagnostics=details)
            for transaction_id, kind in transactions])
        final += status != "PROCESSING"
    return final
