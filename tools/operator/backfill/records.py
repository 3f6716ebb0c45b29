"""CRM export records -> hit rows: parsing CSV / NDJSON, encoding payloads, hit ids and receipt times.

A record is turned into exactly what the webhook would have stored: `payload` encoded as the CRM
sends it (form-urlencoded or JSON), a `received_at` and a `date` in the stream's time zone. The
hit id is derived from the stream and the record's content, so loading the same export twice
yields the same ids and the loader can skip what is already in the table.
"""

from __future__ import annotations

import csv
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, BinaryIO, Literal

from service.model.stream import Stream

SourceFormat = Literal["csv", "ndjson"]
PayloadFormat = Literal["form", "json"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Fixed forever: changing it would give every record a new hit id and defeat re-run detection.
HIT_ID_NAMESPACE = uuid.UUID("5d1c2a8e-3f0b-5a3c-9a53-6b2d0c7e4f11")


class MalformedRecord(Exception):
    """A record that cannot become a hit; `line` is where it starts in the source (1-based)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Record:
    line: int
    fields: dict[str, Any]


def read_records(stream: BinaryIO, source_format: SourceFormat) -> Iterator[Record]:
    """The records of a UTF-8 export (a byte-order mark is ignored), in file order."""
    lines = _decoded_lines(stream)
    yield from (_csv_records(lines) if source_format == "csv" else _ndjson_records(lines))


def _decoded_lines(stream: BinaryIO) -> Iterator[str]:
    # Decoding line by line (not through a TextIOWrapper's chunks) pins a bad byte to its line.
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the byte-order mark Excel writes
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedRecord(number, f"not UTF-8 text (byte {error.start + 1} of the line)") from None


def _csv_records(lines: Iterator[str]) -> Iterator[Record]:
    # csv.reader takes the lines with their line breaks, so quoted fields may span lines.
    reader = csv.reader(lines, strict=True)
    line = 1
    try:
        header = next(reader, None)
        if not header:
            raise MalformedRecord(1, "the CSV has no header row (expected e.g. orderId,status,...)")
        names = [name.strip() for name in header]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise MalformedRecord(1, f"the header needs distinct, non-empty column names, got {header}")
        line = reader.line_num + 1
        for row in reader:
            start, line = line, reader.line_num + 1
            if not row:
                continue  # a blank line
            if len(row) != len(names):
                raise MalformedRecord(start, f"expected {len(names)} fields ({','.join(names)}), "
                                             f"found {len(row)}")
            yield Record(start, dict(zip(names, row, strict=True)))
    except csv.Error as error:
        raise MalformedRecord(line, f"not valid CSV ({error})") from None


def _ndjson_records(lines: Iterator[str]) -> Iterator[Record]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as error:
            raise MalformedRecord(line, f"not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise MalformedRecord(line, f"expected a JSON object per line, found {type(value).__name__}")
        yield Record(line, value)


def encode_payload(fields: dict[str, Any], payload_format: PayloadFormat) -> str:
    """The body the CRM's webhook would send for this record."""
    if payload_format == "json":
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    pairs = [(name, _form_value(value)) for name, value in fields.items() if value is not None]
    # quote_plus: spaces as '+', other bytes as %XX of their UTF-8, as browsers and CRMs send forms.
    return urllib.parse.urlencode(pairs)


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    # Numbers, booleans and nested values as their JSON text: 120.13, true, {"a":1}.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def hit_id_for(stream: Stream, fields: dict[str, Any]) -> str:
    """A UUID (version 5) from the stream and the record's content, independent of file and line."""
    content = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(uuid.uuid5(HIT_ID_NAMESPACE, f"{stream.name}\n{content}"))


def received_at_ms(value: Any, zone: tzinfo) -> int:
    """Unix ms of an ISO 8601 date or date-time; dates and times without offset are in `zone`.

    A bare date is midnight in the stream's time zone, so the row's `date` is that same day."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an ISO 8601 date or date-time, found {value!r}")
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date or date-time such as 2020-01-15 or "
                         f"2020-01-15T10:00:00Z, found {value!r}") from None
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact integer ms, no float rounding
