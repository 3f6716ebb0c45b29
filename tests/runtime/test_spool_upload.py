"""The spool's upload against a real Cloud Storage stand-in (fake-gcs-server): the object it creates holds
the row byte for byte, and it can only be created, never replaced (a second put of a hit is refused)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.model.schema import HitRow
from service.model.spool_document import CONTENT_TYPE, row_from_document
from service.runtime.spool import GcsSpool, SpoolFailed, SpoolLocation
from tools.local.gcs_emulator import ensure_bucket, start_gcs_emulator
from tools.local.processes import free_port

pytestmark = pytest.mark.integration

BUCKET = "hookstream-upload-test"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs  # type: ignore[attr-defined]

    root: Path = tmp_path_factory.mktemp("upload-gcs")
    process, url = start_gcs_emulator(root / "data", free_port(), root / "gcs.log")
    try:
        ensure_bucket(url, BUCKET)
        yield gcs.Client(project="local", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                         client_options=ClientOptions(api_endpoint=url))
    finally:
        process.stop()


def spool(storage: Any) -> GcsSpool:
    return GcsSpool(SpoolLocation(BUCKET, "spool/upload/"), "local", client_factory=lambda _: storage)


def test_a_worst_case_megabyte_body_is_stored_byte_for_byte(storage: Any) -> None:
    # Control characters, quotes, backslashes, CRLF and a boundary-like line, non-ASCII up to emoji.
    payload = ('\x01"\\\r\n--boundary--\r\né中😀' * 40_000)[:1_000_000]
    row = HitRow(hit_id=str(uuid.uuid4()), payload=payload, received_at=1603131452000, date="2020-10-19",
                 delivery_id="evt_1", headers='{"method":"POST"}')
    spool(storage).put(row)
    blob = storage.bucket(BUCKET).get_blob(f"spool/upload/{row['hit_id']}.json")
    assert blob.content_type == CONTENT_TYPE
    assert row_from_document(blob.download_as_bytes()) == row


def test_a_hit_can_be_spooled_once_only(storage: Any) -> None:
    row = HitRow(hit_id=str(uuid.uuid4()), payload="orderId=N1", received_at=1603131452000, date="2020-10-19",
                 delivery_id=None, headers=None)
    spool(storage).put(row)
    with pytest.raises(SpoolFailed, match="already exists"):
        spool(storage).put(HitRow(**{**row, "payload": "orderId=N2"}))
    blob = storage.bucket(BUCKET).get_blob(f"spool/upload/{row['hit_id']}.json")
    assert row_from_document(blob.download_as_bytes())["payload"] == "orderId=N1"
