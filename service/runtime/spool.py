"""The spool: where a hit goes when BigQuery cannot take it, so that it is never lost once acknowledged.

One Cloud Storage object per hit, named after its `hit_id` and created with `if_generation_match=0`:
the object can only be created, never replaced, so a retried upload cannot make a second copy (a 412
on a retry means the first attempt landed). Every attempt is bounded by the time left, as the
BigQuery writer's are, so the request stays within the sender's patience. Replay
(service/runtime/replay.py) reads the objects back, writes their rows and deletes them.

The google-cloud-storage client is imported on the first spool, not at start-up: most instances
never spool, and cold starts stay as fast as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.model.schema import HitRow
from service.model.spool import quarantine_prefix_of
from service.runtime.retry import DEFAULT_RULE, RetryRule
from service.runtime.spool_upload import upload_new_object

log = logging.getLogger("hookstream.spool")

# How long a request may spend spooling its row, on top of the write deadline it already waited.
SPOOL_DEADLINE_SECONDS = 5.0


class SpoolFailed(Exception):
    """The row is not in the spool; `detail` is safe to show (no payload, no secret)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SpoolUrlError(ValueError):
    pass


@dataclass(frozen=True)
class SpoolLocation:
    """`gs://bucket/prefix/`: a stream's spool objects live under `prefix` in `bucket`."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> SpoolLocation:
        if not url.startswith("gs://"):
            raise SpoolUrlError(f"spool URL {url!r} must look like gs://<bucket>/<prefix>/")
        bucket, _, prefix = url[len("gs://"):].partition("/")
        if not bucket or not prefix.strip("/"):
            raise SpoolUrlError(f"spool URL {url!r} needs a bucket and a per-stream prefix: "
                                "gs://<bucket>/<prefix>/")
        return cls(bucket, prefix.rstrip("/") + "/")

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"

    def object_name(self, hit_id: str) -> str:
        return f"{self.prefix}{hit_id}.json"

    @property
    def quarantine_prefix(self) -> str:
        return quarantine_prefix_of(self.prefix)

    def quarantine_name(self, object_name: str) -> str:
        """Where a live object goes when the replay quarantines it: same file name, quarantine prefix."""
        return self.quarantine_prefix + object_name.removeprefix(self.prefix)

    def live_name(self, quarantined_name: str) -> str:
        """Where a quarantined object goes back to when a person requeues it."""
        return self.prefix + quarantined_name.removeprefix(self.quarantine_prefix)

    @property
    def lock_name(self) -> str:
        # Beside the prefix, not under it: a stream's endpoint may only create objects under its prefix,
        # so it cannot create (or hold) the replay's lock.
        return self.prefix.rstrip("/") + ".replay-lock"


def make_storage_client(project: str | None) -> Any:
    """The official client; with STORAGE_EMULATOR_HOST set it talks to that emulator, anonymously."""
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client(project=project)


def _retryable(error: BaseException) -> bool:
    from google.api_core import exceptions as api_errors

    if isinstance(error, api_errors.GoogleAPICallError):
        return isinstance(error, api_errors.TooManyRequests) or (
            error.code is not None and int(error.code) >= 500)
    return isinstance(error, OSError)  # connection refused / reset, read timeout


class GcsSpool:
    """Puts rows into one stream's spool (create-only: the endpoint's grant allows nothing else)."""

    def __init__(self, location: SpoolLocation, project: str | None,
                 deadline_seconds: float = SPOOL_DEADLINE_SECONDS,
                 client_factory: Callable[[str | None], Any] = make_storage_client,
                 retry: RetryRule = DEFAULT_RULE) -> None:
        self.location = location
        self._project = project
        self._deadline_seconds = deadline_seconds
        self._client_factory = client_factory
        self._retry = retry
        self._bucket: Any = None
        self._lock = threading.Lock()

    def _bucket_handle(self) -> Any:
        with self._lock:
            if self._bucket is None:
                self._bucket = self._client_factory(self._project).bucket(self.location.bucket)
            return self._bucket

    def put(self, row: HitRow) -> None:
        """Return only once the row's object exists; raise SpoolFailed otherwise (within the deadline)."""
        from google.api_core import exceptions as api_errors

        name = self.location.object_name(row["hit_id"])
        last_error: BaseException | None = None
        for attempt in self._retry.attempts(self._retry.deadline_in(self._deadline_seconds)):
            try:
                # Not retried inside: the rule retries, each attempt bounded by what is left of the deadline.
                upload_new_object(self._bucket_handle(), name, row, timeout=attempt.remaining_seconds)
                return
            except api_errors.PreconditionFailed:
                if attempt.number > 1:
                    return  # an earlier attempt of ours created it (the name is this hit's own uuid)
                raise SpoolFailed("a spool object for this hit_id already exists") from None
            except Exception as error:
                if not _retryable(error):
                    log.error("spool write failed", extra={"error": type(error).__name__, "attempts": attempt.number})
                    raise SpoolFailed("the spool did not accept the hit") from error
                last_error = error
        if last_error is not None:
            log.error("spool write failed", extra={"error": type(last_error).__name__, "attempts": "all"})
        raise SpoolFailed("the spool did not accept the hit in time") from last_error
