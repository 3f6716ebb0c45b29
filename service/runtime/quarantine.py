"""The spool's quarantine: where the replay moves an object it cannot store, and how a person gets it back.

An object lands here when it is not a row this version can replay (not JSON, wrong format, a bad
`date`, `received_at` or `hit_id`, nested too deeply, ...) or when BigQuery refused its row as invalid.
Either way, replaying it again would fail the same way, and leaving it in the live prefix would retry it
on every run. The quarantined object holds the bytes (the row, for a refused one) and, in its metadata,
why, from where and when; the payload itself never goes into a log line or into the metadata.

The quarantine prefix lies beside the live prefix (service/model/spool.py), so the replay and
scripts/status, which list the live prefix, no longer see it. A move is a create-only upload of the
copy, then a delete of the live object at the generation read: an object that changed since it was read
stays where it is, and a copy left by a run that died before its delete is kept as it was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.model.spool_document import CONTENT_TYPE
from service.runtime.spool import SpoolLocation
from service.runtime.storage_calls import object_call

log = logging.getLogger("hookstream.replay")

# Object metadata of a quarantined object.
ERROR_KEY = "hookstream-error"  # why (a message that never quotes the payload)
SOURCE_KEY = "hookstream-source"  # the live object it was
QUARANTINED_AT_KEY = "hookstream-quarantined-at"  # UTC, ISO 8601
# Cloud Storage allows 8 KiB of custom metadata per object; an error message is a sentence or two.
ERROR_MAX_CHARS = 1000


@dataclass(frozen=True)
class Quarantined:
    """One object in a stream's quarantine, as `--list-quarantined` shows it."""

    name: str
    source: str
    error: str
    quarantined_at: str
    size_bytes: int


def move_to_quarantine(bucket: Any, location: SpoolLocation, name: str, generation: int, data: bytes,
                       error: str) -> bool:
    """Copy `data` to the quarantine with `error`, then delete the live object `name` at `generation`.
    True once the live object is gone (moved by this call)."""
    from google.api_core import exceptions as api_errors

    target = bucket.blob(location.quarantine_name(name))
    target.metadata = {ERROR_KEY: error[:ERROR_MAX_CHARS], SOURCE_KEY: name,
                       QUARANTINED_AT_KEY: datetime.now(UTC).isoformat(timespec="seconds")}
    # A 412: the copy exists, made by a run that stopped between its copy and its delete.
    with contextlib.suppress(api_errors.PreconditionFailed):
        target.upload_from_string(data, content_type=CONTENT_TYPE, if_generation_match=0,
                                  **object_call())
    return delete_at_generation(bucket, name, generation)


def delete_at_generation(bucket: Any, name: str, generation: int) -> bool:
    """Delete `name` only as it was read; False if it is gone or changed since."""
    from google.api_core import exceptions as api_errors

    try:
        bucket.blob(name).delete(if_generation_match=generation, **object_call())
    except api_errors.NotFound:
        return False
    except api_errors.PreconditionFailed:
        log.warning("spool object changed since it was read; left in place", extra={"object": name})
        return False
    return True


def quarantined(storage: Any, location: SpoolLocation) -> Iterator[Quarantined]:
    """Every object in the stream's quarantine, with why it is there (listing only: nothing is read)."""
    for blob in storage.list_blobs(location.bucket, prefix=location.quarantine_prefix, **object_call()):
        metadata = blob.metadata or {}
        yield Quarantined(name=blob.name, source=metadata.get(SOURCE_KEY, ""), error=metadata.get(ERROR_KEY, ""),
                          quarantined_at=metadata.get(QUARANTINED_AT_KEY, ""), size_bytes=int(blob.size or 0))


def requeue(storage: Any, location: SpoolLocation) -> int:
    """Move every quarantined object back to the live prefix (after its cause was fixed, e.g. the table's
    schema); the next replay tries it again. A live object of the same name is left alone (create-only),
    and so is the quarantined copy then. Returns how many objects were moved back."""
    from google.api_core import exceptions as api_errors

    bucket = storage.bucket(location.bucket)
    moved = 0
    for blob in storage.list_blobs(location.bucket, prefix=location.quarantine_prefix, **object_call()):
        live = bucket.blob(location.live_name(blob.name))
        try:
            live.upload_from_string(blob.download_as_bytes(if_generation_match=blob.generation,
                                                           **object_call()),
                                    content_type=CONTENT_TYPE, if_generation_match=0, **object_call())
        except api_errors.PreconditionFailed:
            log.warning("a live spool object of that name exists; the quarantined one stays",
                        extra={"object": blob.name})
            continue
        moved += delete_at_generation(bucket, blob.name, int(blob.generation))
        log.info("spool object requeued", extra={"object": live.name})
    return moved
