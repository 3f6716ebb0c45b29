"""Turn one received request into the row the table stores (layout: service/model/schema.py)."""

from __future__ import annotations

import uuid
from datetime import tzinfo

from service.model.schema import HitRow
from service.model.timezones import local_date


def new_hit_id() -> str:
    return str(uuid.uuid4())


def build_row(payload: str, received_at_ms: int, zone: tzinfo, hit_id: str | None = None,
              delivery_id: str | None = None, headers: str | None = None) -> HitRow:
    """The row for a hit received at `received_at_ms` (Unix ms), dated in the stream's time zone; `headers` is
    the JSON text of service/runtime/request_headers.py, None for a row not built from a request (backfill)."""
    return HitRow(
        hit_id=hit_id or new_hit_id(),
        payload=payload,
        received_at=received_at_ms,
        date=local_date(received_at_ms, zone).isoformat(),
        delivery_id=delivery_id,
        headers=headers,
    )

