"""The bytes of one spool object: what the service writes when BigQuery cannot take a hit, and what the
replay reads back.

Format 3 (written now): one JSON header line holding the row's small fields and the payload's length in
bytes, then the payload itself as raw UTF-8:

    {"format": "hookstream-spool-3", "hit_id": "...", "received_at": 1603131452000, "date": "2020-10-19",
     "delivery_id": null, "headers": "{\\"method\\":\\"POST\\"}", "payload_bytes": 51}\\n
    orderId=N1&status=delivered&total=120.13&userId=U1

The payload is not JSON-escaped: a body of control characters or quotes would escape to six bytes per
byte, and the instance would hold that (and its encoding) for every hit spooled at once during an
outage, exactly when memory matters most. Format 2 (the same without `headers`, before the column existed)
and format 1 (the whole row as one JSON object) are still read, their `headers` NULL, so objects spooled by
an older version replay as before.

Every reading error is a SpoolDocumentError whose message names the field and the rule but never quotes
the payload, so it can go into logs and object metadata.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import date
from typing import Any

from service.model.schema import HitRow

FORMAT_V1 = "hookstream-spool-1"
FORMAT_V2 = "hookstream-spool-2"
FORMAT_V3 = "hookstream-spool-3"
CONTENT_TYPE = "application/x-hookstream-spool"
ROW_FIELDS = frozenset(HitRow.__annotations__)
# The row of the releases that wrote formats 1 and 2: written out, as those documents are fixed.
OLD_ROW_FIELDS = frozenset({"hit_id", "payload", "received_at", "date", "delivery_id"})
HEADER_FIELDS = {
    FORMAT_V3: (ROW_FIELDS - {"payload"}) | {"format", "payload_bytes"},
    FORMAT_V2: (OLD_ROW_FIELDS - {"payload"}) | {"format", "payload_bytes"},
}
# The payload is encoded this many characters at a time (at most 256 KiB of UTF-8).
ENCODE_SLICE_CHARACTERS = 64 * 1024
# Unix milliseconds from 1970 to the year 9999: the range BigQuery's DATE/TIMESTAMP columns can hold.
MAX_RECEIVED_AT_MS = 253_402_300_799_999


class SpoolDocumentError(ValueError):
    """Not a spool object this version can replay; the message is safe to log (no payload)."""


def spool_document(row: HitRow) -> bytes:
    """Format 2 in one piece: the header line, then the raw payload."""
    return SpoolDocumentStream(row).read()


class SpoolDocumentStream:
    """Format 2 as a file the upload reads in blocks: the payload is encoded a slice at a time, so an upload
    holds one slice of it beside the row, not the whole document (and not a second copy of it either)."""

    def __init__(self, row: HitRow) -> None:
        self._payload = row["payload"]
        payload_bytes = _utf8_length(self._payload)
        header = {"format": FORMAT_V3, "hit_id": row["hit_id"], "received_at": row["received_at"],
                  "date": row["date"], "delivery_id": row["delivery_id"], "headers": row["headers"],
                  "payload_bytes": payload_bytes}
        self._pending = json.dumps(header, ensure_ascii=False).encode() + b"\n"  # encoded, not yet read
        self._pending_offset = 0
        self._length = len(self._pending) + payload_bytes
        self._next_character = 0
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._length - self._position if size is None or size < 0 else size
        pieces: list[bytes] = []
        taken = 0
        while taken < wanted:
            if self._pending_offset == len(self._pending):
                if self._next_character >= len(self._payload):
                    break
                end = self._next_character + ENCODE_SLICE_CHARACTERS
                self._pending, self._pending_offset = self._payload[self._next_character:end].encode(), 0
                self._next_character = end
            piece = self._pending[self._pending_offset:self._pending_offset + wanted - taken]
            self._pending_offset += len(piece)
            pieces.append(piece)
            taken += len(piece)
        self._position += taken
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _utf8_length(text: str) -> int:
    """len(text.encode()) without holding the whole encoding."""
    if text.isascii():
        return len(text)
    return sum(len(text[start:start + ENCODE_SLICE_CHARACTERS].encode())
               for start in range(0, len(text), ENCODE_SLICE_CHARACTERS))


def row_from_document(data: bytes) -> HitRow:
    """The row a spool object holds (format 1, 2 or 3); SpoolDocumentError for anything else."""
    header_line, newline, rest = data.partition(b"\n")
    header = _json_object(header_line)
    if header.get("format") in HEADER_FIELDS and newline:
        return _row_v2(header, rest)
    if header.get("format") == FORMAT_V1 and not rest.strip():
        row = header.get("row")
        if not isinstance(row, dict) or set(row) != OLD_ROW_FIELDS:
            raise SpoolDocumentError(f"a {FORMAT_V1} row must have exactly the fields {sorted(OLD_ROW_FIELDS)}")
        if not isinstance(row["payload"], str):
            raise SpoolDocumentError("payload must be a string")
        return _checked_row(row, row["payload"])
    raise SpoolDocumentError(f"not a {FORMAT_V3}, {FORMAT_V2} or {FORMAT_V1} document")


def _json_object(line: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except RecursionError:
        raise SpoolDocumentError("the document is nested too deeply to be a spooled row") from None
    except ValueError as error:  # not UTF-8, not JSON: the position only, never the text
        raise SpoolDocumentError(f"the document is not JSON ({type(error).__name__})") from None
    if not isinstance(parsed, dict):
        raise SpoolDocumentError("the document is not a JSON object")
    return parsed


def _row_v2(header: dict[str, Any], payload_bytes: bytes) -> HitRow:
    """A format 2 or 3 document: the header line, then the raw payload."""
    wanted = HEADER_FIELDS[header["format"]]
    if set(header) != wanted:
        raise SpoolDocumentError(f"a {header['format']} header must have exactly the fields {sorted(wanted)}")
    declared = header["payload_bytes"]
    if type(declared) is not int or declared != len(payload_bytes):
        raise SpoolDocumentError(f"the payload is {len(payload_bytes)} bytes, the header says {declared!r} "
                                 "(a truncated or altered object)")
    try:
        payload = payload_bytes.decode()
    except UnicodeDecodeError as error:
        raise SpoolDocumentError(f"the payload is not UTF-8 (byte {error.start})") from None
    return _checked_row(header, payload)


def _checked_row(fields: dict[str, Any], payload: str) -> HitRow:
    hit_id, received_at, day, delivery_id = (fields["hit_id"], fields["received_at"], fields["date"],
                                             fields["delivery_id"])
    if not isinstance(hit_id, str) or not _is_uuid(hit_id):
        raise SpoolDocumentError("hit_id must be a UUID string as the service generates it")
    if type(received_at) is not int or not 0 <= received_at <= MAX_RECEIVED_AT_MS:
        raise SpoolDocumentError(f"received_at must be whole Unix milliseconds in 0-{MAX_RECEIVED_AT_MS}, "
                                 f"not {_described(received_at)}")
    if not isinstance(day, str) or not _is_iso_date(day):
        raise SpoolDocumentError("date must be an ISO date YYYY-MM-DD")
    if delivery_id is not None and not isinstance(delivery_id, str):
        raise SpoolDocumentError("delivery_id must be a string or null")
    headers = fields.get("headers")  # absent in formats 1 and 2: the hit was received before the column
    if headers is not None and not isinstance(headers, str):
        raise SpoolDocumentError("headers must be a string (JSON text) or null")
    return HitRow(hit_id=hit_id, payload=payload, received_at=received_at, date=day, delivery_id=delivery_id,
                  headers=headers)


def _described(value: Any) -> str:
    """A bad number as a person can act on it (1e999 parses as infinity); other types by name only."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return f"a JSON {type(value).__name__}"


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _is_iso_date(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
