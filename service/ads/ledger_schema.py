"""The `<table>_ads_uploads` ledger's columns, defined once for the cdktf table, the local table and the job.

Append-only: every attempt is a row. `status` is `sent` (Data Manager accepted the request: what the next
run compares against), `not_sent` (the request failed or was throttled: the next run sends it again), or
the request status Google reported later (SUCCESS, PROCESSING, PARTIAL_SUCCESS, FAILED) with its
diagnostics.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["conversion", "restatement", "retraction"]
KINDS: tuple[str, ...] = ("conversion", "restatement", "retraction")
SENT, NOT_SENT = "sent", "not_sent"
# Google's request statuses after which a request's diagnostics do not change any more.
FINAL_REQUEST_STATUSES: tuple[str, ...] = ("SUCCESS", "PARTIAL_SUCCESS", "FAILED")

# (name, BigQuery type, mode, description)
LEDGER_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("transaction_id", "STRING", "REQUIRED", "the order id, sent as the conversion's transaction id"),
    ("kind", "STRING", "REQUIRED", "conversion, restatement or retraction"),
    ("value_sent", "NUMERIC", "NULLABLE", "the conversion value sent, in the reporting currency"),
    ("currency", "STRING", "NULLABLE", "ISO 4217 code of value_sent"),
    ("request_id", "STRING", "NULLABLE", "Data Manager's request id (none when the request failed)"),
    ("status", "STRING", "REQUIRED", "sent, not_sent, or Google's later request status"),
    ("diagnostics", "STRING", "NULLABLE", "the error, or the request status' error and warning details (JSON)"),
    ("recorded_at", "TIMESTAMP", "REQUIRED", "when the row was written"),
    ("run_id", "STRING", "REQUIRED", "the upload run that wrote it"),
)


def ledger_schema() -> list[dict[str, str]]:
    """The columns as BigQuery's API (and Terraform's `schema` JSON) spell them."""
    return [{"name": name, "type": kind, "mode": mode, "description": description}
            for name, kind, mode, description in LEDGER_COLUMNS]
