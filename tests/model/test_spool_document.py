"""The spool document: what the service writes for a hit it cannot store yet, and what the replay reads."""

from __future__ import annotations

import pytest

from service.model.schema import HitRow
from service.model.spool_document import SpoolDocumentError, row_from_document, spool_document

ROW = HitRow(hit_id="83cc2a6a-4829-4410-bab4-95b680c5b8d7", payload='a="\x01"é', received_at=1603131452000,
             date="2020-10-19", delivery_id=None, headers='{"method":"POST","x-shopify-topic":"orders/paid"}')
# The same hit as a release before the headers column spooled it.
OLD_ROW = HitRow(**{**ROW, "headers": None})


def test_the_document_is_a_header_line_then_the_payload_unescaped() -> None:
    assert spool_document(ROW) == (
        b'{"format": "hookstream-spool-3", "hit_id": "83cc2a6a-4829-4410-bab4-95b680c5b8d7", '
        b'"received_at": 1603131452000, "date": "2020-10-19", "delivery_id": null, '
        b'"headers": "{\\"method\\":\\"POST\\",\\"x-shopify-topic\\":\\"orders/paid\\"}", "payload_bytes": 7}\n'
        b'a="\x01"\xc3\xa9')


def test_a_worst_case_body_costs_its_own_size_plus_the_header() -> None:
    body = '"\x01\\' * 100_000  # each of these characters escapes to 2-6 bytes in JSON
    document = spool_document(HitRow(**{**OLD_ROW, "payload": body}))
    assert len(body.encode()) < len(document) < len(body.encode()) + 200


def test_every_format_reads_back_to_the_row_older_ones_without_headers() -> None:
    assert row_from_document(spool_document(ROW)) == ROW
    format_2 = (b'{"format": "hookstream-spool-2", "hit_id": "83cc2a6a-4829-4410-bab4-95b680c5b8d7", '
                b'"received_at": 1603131452000, "date": "2020-10-19", "delivery_id": null, "payload_bytes": 7}\n'
                b'a="\x01"\xc3\xa9')
    assert row_from_document(format_2) == OLD_ROW
    format_1 = ('{"format": "hookstream-spool-1", "row": {"hit_id": "83cc2a6a-4829-4410-bab4-95b680c5b8d7", '
                '"payload": "a=\\"\\u0001\\"\u00e9", "received_at": 1603131452000, "date": "2020-10-19", '
                '"delivery_id": null}}').encode()
    assert row_from_document(format_1) == OLD_ROW


def test_a_payload_with_newlines_stays_whole() -> None:
    row = HitRow(**{**ROW, "payload": "line 1\nline 2\n"})
    assert row_from_document(spool_document(row)) == row


@pytest.mark.parametrize(("document", "message"), [
    (b"", "not JSON"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"format": "hookstream-spool-2"}\n', "must have exactly the fields"),
    (b'{"format": "hookstream-spool-3"}\n', "must have exactly the fields"),
    (spool_document(ROW).replace(b'"headers": "{', b'"headers": {"a": "{').replace(b'}", "payload', b'}"}, "payload'),
     "headers must be a string"),
    (spool_document(ROW)[:-1], "the payload is 6 bytes, the header says 7"),
    (spool_document(ROW).replace(b'"2020-10-19"', b'"2020-10-32"'), "date must be an ISO date"),
    (spool_document(ROW).replace(b"1603131452000", b"1e999"), "not a non-finite number"),
    (spool_document(ROW).replace(b"1603131452000", b"-1"), "not -1"),
])
def test_a_bad_document_is_refused_with_a_message_that_quotes_no_payload(document: bytes, message: str) -> None:
    with pytest.raises(SpoolDocumentError) as refused:
        row_from_document(document)
    assert message in str(refused.value)
    assert "\x01" not in str(refused.value)
