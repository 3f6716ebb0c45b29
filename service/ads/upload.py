"""One upload run: fetch earlier requests' diagnostics, compare the view with the ledger, send what changed,
record it. Idempotent: a second run right after the first sends nothing.

Conversions and restatements go to Data Manager (service/ads/datamanager.py), retractions to the Google Ads
API (service/ads/retraction.py), which needs a developer token: without one they are counted as
`retraction_needs_developer_token`, recorded nowhere, and so sent by the first run that has one."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from service.ads import datamanager, ledger, retraction
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
    needs_developer_token: int = 0  # retractions left pending: no Google Ads API developer token configured
    mode: str = "upload"  # or validate-only / dry-run

    def line(self) -> str:
        return (f"ads-upload {self.stream} ({self.mode}): sent={self.sent} restated={self.restated} "
                f"retracted={self.retracted} unchanged={self.unchanged} outside_import_window={self.outside_window} "
                f"failed={self.failed} diagnostics_fetched={self.diagnostics} "
                f"retraction_needs_developer_token={self.needs_developer_token}")

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


@dataclass(frozen=True)
class GoogleAds:
    """The Google Ads API client and developer token for retractions; token None: none configured."""

    client: Any
    developer_token: str | None

    def __repr__(self) -> str:  # never the token, whatever prints this
        return f"GoogleAds(developer_token={'set' if self.developer_token else None})"


def run(bigquery: Any, datamanager_client: Any, config: AdsUploadConfig, mode: Mode = Mode(),
        now: dt.datetime | None = None, progress: Progress | None = None,
        google_ads: GoogleAds | None = None) -> Summary:
    now = now or datamanager.utc_now()
    run_id = str(uuid.uuid4())
    summary = Summary(config.stream, mode="dry-run" if mode.dry_run else
                      "validate-only" if mode.validate_only else "upload")
    if not mode.dry_run and not mode.validate_only:
        summary.diagnostics = fetch_diagnostics(bigquery, datamanager_client, config, run_id)
    plan = plan_run(read_conversions(bigquery, config.view_path), ledger.read_sent(bigquery, config.ledger_path),
                    now, config.import_window_days)
    summary.unchanged, summary.outside_window = plan.unchanged, plan.outside_window
    events = [action for action in plan.actions if action.kind != "retraction"]
    retractions = [action for action in plan.actions if action.kind == "retraction"]
    if retractions and not (google_ads and google_ads.developer_token):
        summary.needs_developer_token, retractions = len(retractions), []
    total, done = len(events) + len(retractions), 0
    for start in range(0, len(events), datamanager.MAX_EVENTS_PER_REQUEST):
        batch = events[start:start + datamanager.MAX_EVENTS_PER_REQUEST]
        if mode.dry_run:
            _count_all(summary, batch)
        else:
            _send_batch(bigquery, datamanager_client, config, batch, mode, summary, run_id)
        done += len(batch)
        if progress:
            progress(done, total)
    for start in range(0, len(retractions), retraction.MAX_ADJUSTMENTS_PER_REQUEST):
        batch = retractions[start:start + retraction.MAX_ADJUSTMENTS_PER_REQUEST]
        if mode.dry_run:
            _count_all(summary, batch)
        else:
            assert google_ads is not None and google_ads.developer_token
            _send_retractions(bigquery, google_ads.client, google_ads.developer_token, config, batch, mode,
                              summary, run_id)
        done += len(batch)
        if progress:
            progress(done, total)
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
                          [_row(action, NOT_SENT, run_id, None, ledger.refusal_text(error)) for action in batch])
        return
    _count_all(summary, batch)
    if not mode.validate_only:
        ledger.append(bigquery, config.ledger_path, [_row(action, SENT, run_id, request_id) for action in batch])


def _send_retractions(bigquery: Any, client: Any, developer_token: str, config: AdsUploadConfig,
                      batch: list[Action], mode: Mode, summary: Summary, run_id: str) -> None:
    from google.api_core import exceptions

    try:
        outcome = retraction.send(client, config, batch, developer_token, validate_only=mode.validate_only)
    except exceptions.GoogleAPIError as error:
        # Throttled (RESOURCE_EXHAUSTED), unavailable or refused as a whole: never recorded as sent.
        summary.failed += len(batch)
        if not mode.validate_only:
            text = retraction.error_text(error, developer_token)
            ledger.append(bigquery, config.ledger_path,
                          [_row(action, NOT_SENT, run_id, None, text) for action in batch])
        return
    rows = []
    for index, action in enumerate(batch):
        refused = outcome.refused.get(index)
        if refused is None:
            summary.count(action)
            # Google Ads answers at once: no request status to fetch later, so no request id (the job id, for
            # a person asking Google, is in the diagnostics).
            rows.append(_row(action, SENT, run_id, None, json.dumps({"api": "google_ads", "job_id": outcome.job_id})))
        else:
            # A partial failure (e.g. CONVERSION_NOT_FOUND): recorded with Google's error, sent again next run.
            summary.failed += 1
            rows.append(_row(action, NOT_SENT, run_id, None, refused))
    if not mode.validate_only:
        ledger.append(bigquery, config.ledger_path, rows)


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
