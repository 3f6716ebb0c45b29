"""The insertAll body: what BigQuery receives is the rows as JSON, and its announced length is exact."""

from __future__ import annotations

import json

from service.model.schema import HitRow
from service.runtime.insert_all_body import SMALL_ROW_CHARACTERS, InsertAllBody, encode_row, row_body_bytes


def hit(hit_id: str, payload: str, delivery_id: str | None = None, headers: str | None = None) -> HitRow:
    return HitRow(hit_id=hit_id, payload=payload, received_at=1764400000123, date="2026-11-29",
                  delivery_id=delivery_id, headers=headers)


JSON_TEXT = '{"name": "Zoë", "note": "line\nbreak \u0001 \U0001F600"}'
ROWS = [
    hit("h-1", "orderId=N1&status=delivered"),
    hit("h-2", JSON_TEXT, delivery_id="msg_1", headers='{"method":"POST","x-shopify-topic":"orders/paid"}'),
    # Larger than a small row: escaped slice by slice.
    hit("h-3", "\u0001é" * (SMALL_ROW_CHARACTERS + 10)),
]


def test_the_body_is_the_rows_with_their_insert_ids_and_its_length_is_exact() -> None:
    body = InsertAllBody(ROWS)
    sent = b"".join(body)
    assert len(body) == len(sent)
    assert json.loads(sent) == {"rows": [
        {"insertId": "h-1", "json": {"hit_id": "h-1", "payload": "orderId=N1&status=delivered",
                                     "received_at": 1764400000123, "date": "2026-11-29", "delivery_id": None,
                                     "headers": None}},
        {"insertId": "h-2", "json": {"hit_id": "h-2", "payload": JSON_TEXT,
                                     "received_at": 1764400000123, "date": "2026-11-29", "delivery_id": "msg_1",
                                     "headers": '{"method":"POST","x-shopify-topic":"orders/paid"}'}},
        {"insertId": "h-3", "json": {"hit_id": "h-3", "payload": "\u0001é" * (SMALL_ROW_CHARACTERS + 10),
                                     "received_at": 1764400000123, "date": "2026-11-29", "delivery_id": None,
                                     "headers": None}},
    ]}


def test_a_resend_yields_the_same_bytes_and_row_sizes_add_up_to_the_body() -> None:
    body = InsertAllBody(ROWS)
    assert b"".join(body) == b"".join(body)
    # Each row's size counts one separator; the body has one fewer plus its wrapper {"rows": [...]}.
    wrapper = len(b'{"rows": [') + len(b"]}") - len(b", ")
    assert sum(row_body_bytes(row) for row in ROWS) + wrapper == len(body)


def test_a_body_of_small_rows_goes_as_one_piece_and_a_large_row_is_still_streamed() -> None:
    small = InsertAllBody(ROWS[:2])
    sent = small.to_send()
    assert isinstance(sent, bytes)  # one piece: one socket write, not two per row
    assert json.loads(sent)["rows"][1]["json"]["payload"] == JSON_TEXT
    assert len(sent) == len(small)
    # The large row's escaped text never exists whole: its body is handed over as pieces.
    assert not isinstance(InsertAllBody(ROWS).to_send(), bytes)


def test_rows_encoded_when_queued_give_the_same_body_and_sizes() -> None:
    encoded = [encode_row(row) for row in ROWS]
    assert b"".join(InsertAllBody([piece for piece, _ in encoded])) == b"".join(InsertAllBody(ROWS))
    assert [size for _, size in encoded] == [row_body_bytes(row) for row in ROWS]
