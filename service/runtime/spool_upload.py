"""One spool object, created in a single streamed request: the document is read from the row in slices
while it is sent, never held whole (nor twice, as the client's own multipart upload would: the document,
then the multipart body built around it).

The request is the Cloud Storage JSON API's multipart upload (`uploadType=multipart`: the object's
metadata, then its bytes) with `ifGenerationMatch=0`, create-only: a 412 when the object exists. It goes
through the official client's own authorized session and endpoint (an emulator's with
STORAGE_EMULATOR_HOST), and its errors come out as the client's own exceptions
(google.api_core.exceptions), as `Blob.upload_from_string` raises them. (Multipart rather than the
simpler media upload: fake-gcs-server, the local stand-in, enforces the precondition on multipart only.)
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from service.model.schema import HitRow
from service.model.spool_document import CONTENT_TYPE, SpoolDocumentStream


class MultipartBody:
    """The request body as a file of known length: the metadata part, the document read in slices, the end.
    The boundary is random per request, so no payload can contain it by design."""

    def __init__(self, name: str, row: HitRow) -> None:
        self.boundary = secrets.token_hex(16)
        head = (f"--{self.boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{json.dumps({'name': name, 'contentType': CONTENT_TYPE})}\r\n"
                f"--{self.boundary}\r\nContent-Type: {CONTENT_TYPE}\r\n\r\n").encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._document = SpoolDocumentStream(row)
        self._parts: list[Any] = [_Bytes(head), self._document, _Bytes(tail)]
        self._length = len(head) + len(self._document) + len(tail)
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._length - self._position if size is None or size < 0 else size
        pieces: list[bytes] = []
        while wanted > 0 and self._parts:
            piece = self._parts[0].read(wanted)
            if not piece:
                self._parts.pop(0)
                continue
            pieces.append(piece)
            wanted -= len(piece)
        data = b"".join(pieces)
        self._position += len(data)
        return data


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data, self._offset = data, 0

    def read(self, size: int) -> bytes:
        piece = self._data[self._offset:self._offset + size]
        self._offset += len(piece)
        return piece


def upload_new_object(bucket: Any, name: str, row: HitRow, timeout: float) -> None:
    """Create `name` in `bucket` (a google-cloud-storage Bucket) holding `row`'s spool document; raise
    PreconditionFailed if it exists, another GoogleAPICallError or an OSError if the request failed."""
    from google.api_core import exceptions as api_errors
    from google.cloud.storage.blob import _get_host_name

    client = bucket.client
    url = f"{_get_host_name(client._connection)}/upload/storage/v1{bucket.path}/o"
    body = MultipartBody(name, row)
    # The body has a length, so the request carries a Content-Length and http.client sends it in blocks.
    response = client._http.request(
        "POST", url, params={"uploadType": "multipart", "ifGenerationMatch": "0"}, data=body,
        headers={"Content-Type": f'multipart/related; boundary="{body.boundary}"'}, timeout=timeout)
    if response.status_code != 200:
        raise api_errors.from_http_response(response)  # type: ignore[no-untyped-call]
