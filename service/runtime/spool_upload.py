"""One spool object, created in a single streamed request: the document is read from the row in slices
while it is sent, never held whole (nor twice, as the client's multipart upload would: document plus the
multipart body built around it).

The request is the Cloud Storage JSON API's single-request media upload (`uploadType=media`) through the
official client's own authorized session and endpoint (an emulator's with STORAGE_EMULATOR_HOST), with
`ifGenerationMatch=0`: create-only, a 412 when the object exists. Errors come out as the client's own
exceptions (google.api_core.exceptions), as `Blob.upload_from_string` raises them.
"""

from __future__ import annotations

from typing import Any

from service.model.schema import HitRow
from service.model.spool_document import CONTENT_TYPE, SpoolDocumentStream


def upload_new_object(bucket: Any, name: str, row: HitRow, timeout: float) -> None:
    """Create `name` in `bucket` (a google-cloud-storage Bucket) holding `row`'s spool document; raise
    PreconditionFailed if it exists, another GoogleAPICallError or an OSError if the request failed."""
    from google.api_core import exceptions as api_errors
    from google.cloud.storage.blob import _get_host_name

    client = bucket.client
    url = f"{_get_host_name(client._connection)}/upload/storage/v1{bucket.path}/o"
    # The stream has a length, so the request carries a Content-Length and http.client sends it in blocks.
    response = client._http.request(
        "POST", url, params={"uploadType": "media", "name": name, "ifGenerationMatch": "0"},
        data=SpoolDocumentStream(row), headers={"Content-Type": CONTENT_TYPE}, timeout=timeout)
    if response.status_code != 200:
        raise api_errors.from_http_response(response)  # type: ignore[no-untyped-call]
