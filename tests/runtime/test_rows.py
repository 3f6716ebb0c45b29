"""The row a hit becomes: the receipt day in the stream's time zone, the payload untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from service.model.schema import ROW_COLUMNS
from service.model.timezones import UnknownTimeZoneError, parse_time_zone
from service.runtime.rows import build_row


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).astimezone(UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("time_zone", "received_utc", "expected_date"),
    [
        # The product's example: 2020-10-19 in UTC.
        ("UTC", "2020-10-19T18:17:32+00:00", "2020-10-19"),
        # Berlin is UTC+2 in summer: 22:30 UTC is already the next day there...
        ("Europe/Berlin", "2020-10-24T22:30:00+00:00", "2020-10-25"),
        # ...and one second earlier than local midnight it is still the day before.
        ("Europe/Berlin", "2020-10-24T21:59:59.999+00:00", "2020-10-24"),
        # DST ended at 01:00 UTC on 2020-10-25 (UTC+1 from then): 23:00 UTC is local midnight.
        ("Europe/Berlin", "2020-10-25T22:59:59.999+00:00", "2020-10-25"),
        ("Europe/Berlin", "2020-10-25T23:00:00+00:00", "2020-10-26"),
        # New York, spring forward on 2021-03-14: 04:59 UTC is 23:59 EST on the 13th.
        ("America/New_York", "2021-03-14T04:59:59+00:00", "2021-03-13"),
        ("America/New_York", "2021-03-14T05:00:00+00:00", "2021-03-14"),
        # Fixed offsets, either side of midnight.
        ("+03:00", "2020-10-19T20:59:59.999+00:00", "2020-10-19"),
        ("+03:00", "2020-10-19T21:00:00+00:00", "2020-10-20"),
        ("-05:30", "2020-10-20T05:29:59+00:00", "2020-10-19"),
        ("-05:30", "2020-10-20T05:30:00+00:00", "2020-10-20"),
    ],
)
def test_date_is_the_receipt_day_in_the_stream_time_zone(time_zone: str, received_utc: str,
                                                         expected_date: str) -> None:
    row = build_row("x=1", ms(received_utc), parse_time_zone(time_zone))
    assert row["date"] == expected_date
    assert row["received_at"] == ms(received_utc)


@pytest.mark.parametrize("payload", [
    "orderId=N1&status=delivered&total=120.13&userId=U1",
    '{"orderId": "N1", "status": "delivered"}',
    "<order id='N1'>  \r\n\tü €</order>",
    "a=%20b+c&&=",
])
def test_payload_is_kept_exactly_as_sent(payload: str) -> None:
    row = build_row(payload, 1603131452000, parse_time_zone("UTC"))
    assert row["payload"] == payload


def test_each_row_has_a_fresh_uuid_and_exactly_the_schema_columns() -> None:
    rows = [build_row("a=1", 1603131452000, parse_time_zone("UTC")) for _ in range(3)]
    assert len({row["hit_id"] for row in rows}) == 3
    assert all(uuid.UUID(row["hit_id"]).version == 4 for row in rows)
    assert all(list(row) == [column.name for column in ROW_COLUMNS] for row in rows)


@pytest.mark.parametrize("bad", ["Europe/Berln", "+25:00", "+3", "UTC+3", ""])
def test_unknown_time_zones_are_refused(bad: str) -> None:
    with pytest.raises(UnknownTimeZoneError):
        parse_time_zone(bad)
