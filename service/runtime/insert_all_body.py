"""The insertAll request body, produced piece by piece so a large payload is never copied whole.

The BigQuery client's `insert_rows_json` builds the whole request as one escaped string and then as
bytes: a 1 MiB body of control characters became two 6 MiB copies (13x the body at the peak, measured).
Here the payload is escaped in slices while the request is sent, with an exact Content-Length computed
beforehand, so a hit in flight holds its payload once plus one slice. JSON escaping works per
character, so escaping slices and joining them gives exactly the bytes of escaping the whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from service.model.schema import HitRow

# Escaped at most 6x (a control character becomes \u0001): a slice costs at most 6 x 64 KiB at a time.
SLICE_CHARACTERS = 64 * 1024
# Rows with a payload up to this many characters (nearly every hit) are encoded by one json.dumps, and an
# InsertAllBody keeps their bytes: at most 6 x 4 KiB each, against ~6 json.dumps per row and three encodings
# per hit (size, Content-Length, sending) before, ~30 us per hit (docs/benchmark.md).
SMALL_ROW_CHARACTERS = 4 * 1024
# A body up to this size is sent as one piece of bytes, i.e. in one or two socket writes instead of two per
# row: each write releases the GIL and, under load, waits to get it back (docs/benchmark.md).
JOINED_BODY_BYTES = 1024 * 1024


def _escaped_pieces(text: str) -> Iterator[bytes]:
    for start in range(0, len(text), SLICE_CHARACTERS):
        # Non-ASCII text stays UTF-8 (valid JSON, and 1/3 of the size of \u escapes).
        yield json.dumps(text[start:start + SLICE_CHARACTERS], ensure_ascii=False)[1:-1].encode()


def _is_small(row: HitRow) -> bool:
    return len(row["payload"]) <= SMALL_ROW_CHARACTERS


def _small_row(row: HitRow) -> bytes:
    # The same JSON as the pieces below: same keys, order and separators, text kept as UTF-8.
    return json.dumps({"insertId": row["hit_id"], "json": row}, ensure_ascii=False).encode()


def _row_pieces(row: HitRow) -> Iterator[bytes]:
    if _is_small(row):
        yield _small_row(row)
        return
    yield b'{"insertId": ' + json.dumps(row["hit_id"]).encode() + b', "json": {'
    for number, (column, value) in enumerate(row.items()):
        yield (b", " if number else b"") + json.dumps(column).encode() + b": "
        if isinstance(value, str):
            yield b'"'
            yield from _escaped_pieces(value)
            yield b'"'
        else:
            yield json.dumps(value).encode()
    yield b"}}"


def row_body_bytes(row: HitRow) -> int:
    """How many bytes the row adds to an insertAll request body (exact)."""
    return sum(len(piece) for piece in _row_pieces(row)) + len(b", ")


# A row ready for a body: a small row's bytes (encoded once, when it is queued), or a large row itself (escaped
# slice by slice each time the body is sent).
EncodedRow = bytes | HitRow


def encode_row(row: HitRow) -> tuple[EncodedRow, int]:
    """The row as an InsertAllBody takes it, and the bytes it adds to a body (as row_body_bytes)."""
    if _is_small(row):
        piece = _small_row(row)
        return piece, len(piece) + len(b", ")
    return row, row_body_bytes(row)


class InsertAllBody:
    """`{"rows": [{"insertId": hit_id, "json": row}, ...]}` as an iterable of bytes with a known length.

    The HTTP client sends it with a Content-Length (no chunked encoding) and may iterate it again to
    resend the request (after a credentials refresh): every iteration yields the same bytes."""

    def __init__(self, rows: Sequence[EncodedRow]) -> None:
        # Small rows are encoded once (here, or already by encode_row); large ones again on each pass, slice by
        # slice, so that their escaped form never exists whole.
        self._rows: list[EncodedRow] = [row if isinstance(row, bytes) else encode_row(row)[0] for row in rows]
        self._length = sum(len(piece) for piece in self)

    def __len__(self) -> int:
        return self._length

    def to_send(self) -> bytes | InsertAllBody:
        """What to hand the HTTP client: the body as one bytes object when it is small and every row is already
        encoded (one extra copy, at most JOINED_BODY_BYTES), else the body itself, sent piece by piece."""
        if self._length <= JOINED_BODY_BYTES and all(isinstance(row, bytes) for row in self._rows):
            return b"".join(self)
        return self

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"rows": ['
        for number, row in enumerate(self._rows):
            if number:
                yield b", "
            if isinstance(row, bytes):
                yield row
            else:
                yield from _row_pieces(row)
        yield b"]}"
