"""Replay: move a stream's spooled hits into its table, then out of the spool.

Runs as a Cloud Run job of the same image, with the same environment as the stream's service
(`python -m service.runtime.replay`), started by Cloud Scheduler every few minutes; `scripts/replay`
runs it by hand. Not a thread of the web service: Cloud Run throttles a service's CPU between requests.

Every hit answered 2xx must end up in the table exactly once. What that rests on:
1. One replay per stream at a time: a lease object beside the spool prefix, taken and renewed by
   compare-and-swap on its generation (create with if_generation_match=0, renew/take over an expired
   lease with if_generation_match=<generation>), renewed before every step; its length is derived from
   the steps' deadlines so that it outlasts the longest of them. A second replay finds it held and stops.
2. Objects younger than the write deadline + a slack are left for a later run: a write of the service
   for their hit may still be stored, and a lookup made before it lands would not see it.
3. Before inserting, the batch's hit_ids are looked up in the table, and rows already there are not
   inserted again. This covers a replay that died between its insert and its deletes, and the hit
   the service spooled after a write whose answer never came although BigQuery had stored it.
4. insertId = hit_id on every insert: BigQuery's own best-effort de-duplication (about a minute) as a
   last line, for a row inserted so recently that the lookup did not see it yet.
An object is deleted only after its row was accepted or found in the table, with the generation it
was read at as a precondition. An object that cannot be replayed (not a spooled row, or a row BigQuery
refuses as invalid) is quarantined (service/runtime/quarantine.py) and the run goes on. BigQuery
unavailable: nothing more is deleted, exit status 1, the next run retries.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from service.model.schema import HitRow
from service.model.service_env import DEFAULT_WRITE_DEADLINE_SECONDS
from service.model.spool_document import SpoolDocumentError, row_from_document, spool_document
from service.runtime.quarantine import delete_at_generation, move_to_quarantine
from service.runtime.sink import BigQueryRowWriter, WriteFailed
from service.runtime.spool import SpoolLocation, make_storage_client
from service.runtime.storage_calls import OBJECT_CALL_WORST_SECONDS, object_call

log = logging.getLogger("hookstream.replay")
_T = TypeVar("_T")

DEFAULT_BATCH_SIZE = 500
IO_THREADS = 16
# Every call the replay makes is bounded, so each step between two lease renewals has a worst case.
LOOKUP_SUBMIT_SECONDS = 30.0  # starting the lookup query
LOOKUP_RESULT_SECONDS = 120.0  # waiting for its rows
INSERT_DEADLINE_SECONDS = 30.0
CLOCK_MARGIN_SECONDS = 30.0  # our clock against the clock of a replay that may take over
# How long after a hit was spooled a write of the service for it may still land: the write that failed
# or was overtaken by the answer budget runs at most the write deadline; the slack covers the spool's
# and the replay's clocks and the time the row takes to show in a query.
WRITE_IN_FLIGHT_SLACK_SECONDS = 30.0


def write_in_flight_window_seconds(write_deadline_seconds: float = DEFAULT_WRITE_DEADLINE_SECONDS) -> float:
    """Objects younger than this are left for the next run: a write of the service may still store their
    row, and a lookup made before it lands would not see it (a duplicate row)."""
    return write_deadline_seconds + WRITE_IN_FLIGHT_SLACK_SECONDS


def step_worst_cases_seconds() -> dict[str, float]:
    """The longest each stretch between two renewals can take. Per-object steps run one chunk of IO_THREADS
    objects per renewal, each object in its own thread (a quarantine is two calls: copy, delete); the
    listing of the next page runs after a batch's last delete chunk, before the next renewal."""
    return {"load": OBJECT_CALL_WORST_SECONDS, "quarantine": 2 * OBJECT_CALL_WORST_SECONDS,
            "lookup": LOOKUP_SUBMIT_SECONDS + LOOKUP_RESULT_SECONDS, "each insert": INSERT_DEADLINE_SECONDS,
            "delete, then list the next page": 2 * OBJECT_CALL_WORST_SECONDS}


def minimum_lease_seconds() -> float:
    """A renewal's own call (its expiry is computed before it is sent), the longest stretch after it and
    the clock margin: no other replay can take over while a step that relies on the lease still runs."""
    return OBJECT_CALL_WORST_SECONDS + max(step_worst_cases_seconds().values()) + CLOCK_MARGIN_SECONDS


DEFAULT_LEASE_SECONDS = minimum_lease_seconds()


class ReplayStatus(StrEnum):
    DRAINED = "drained"  # every object old enough was stored, found in the table or quarantined
    LOCKED = "locked"  # another replay holds the lease: nothing done
    LOCK_LOST = "lock_lost"  # the lease was taken over (this run was too slow): stopped
    BIGQUERY_UNAVAILABLE = "bigquery_unavailable"  # lookup or insert failed: the rest waits for the next run
    SPOOL_UNAVAILABLE = "spool_unavailable"  # Cloud Storage failed: the rest waits for the next run
    INCOMPLETE = "incomplete"  # rows BigQuery asked to send again (transient per-row errors): next run

    @property
    def is_outage(self) -> bool:
        """The job exits non-zero for these: something a person or the next run must see fail."""
        return self in (ReplayStatus.LOCK_LOST, ReplayStatus.BIGQUERY_UNAVAILABLE, ReplayStatus.SPOOL_UNAVAILABLE)


@dataclass
class ReplayReport:
    """What one run did. Its fields are the flat fields of the "replay finished" log line, which the
    log-based metrics and alerts read: keep their names and meanings."""

    stream: str
    spool: str
    status: ReplayStatus = ReplayStatus.DRAINED
    listed: int = 0  # objects seen in the live prefix
    too_young: int = 0  # left for the next run: a write of the service may still store their row
    inserted: int = 0  # rows BigQuery accepted
    already_in_table: int = 0  # rows the lookup found stored (by a late write or an earlier replay)
    deleted: int = 0  # objects removed from the live prefix after their row was stored
    quarantined: int = 0  # objects moved to the quarantine prefix (unreadable, or refused as invalid)
    retry_later: int = 0  # rows BigQuery refused for a transient reason: left for the next run
    waiting: int | None = None  # objects in the live prefix after the run (None: it could not be listed)
    oldest_waiting_age_seconds: float | None = None

    def log_fields(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}

    def summary(self) -> str:
        return (f"replay {self.stream} ({self.spool}): {self.status}; listed={self.listed} "
                f"too_young={self.too_young} inserted={self.inserted} already_in_table={self.already_in_table} "
                f"deleted={self.deleted} quarantined={self.quarantined} retry_later={self.retry_later} "
                f"waiting={self.waiting}")


class ReplayLease:
    """A lease on one stream's replay, held in one object and changed only by compare-and-swap."""

    def __init__(self, bucket: Any, name: str, lease_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._bucket, self._name, self._lease_seconds, self._clock = bucket, name, lease_seconds, clock
        self.owner = str(uuid.uuid4())
        self._generation: int | None = None
        self.held_until: float | None = None  # when another replay's lease ends (after a refused acquire)

    def _write(self, expires_at: float, if_generation_match: int) -> bool:
        from google.api_core import exceptions as api_errors

        blob = self._bucket.blob(self._name)
        try:
            blob.upload_from_string(json.dumps({"owner": self.owner, "expires_at": expires_at}),
                                    content_type="application/json",
                                    if_generation_match=if_generation_match, **object_call())
        except api_errors.PreconditionFailed:
            return False
        self._generation = int(blob.generation)
        return True

    def acquire(self) -> bool:
        if self._write(self._clock() + self._lease_seconds, if_generation_match=0):
            return True
        current = self._bucket.get_blob(self._name, **object_call())
        if current is None:  # released and removed between our two calls: try once more
            return self._write(self._clock() + self._lease_seconds, if_generation_match=0)
        try:
            expires_at = float(json.loads(current.download_as_bytes(**object_call()))["expires_at"])
        except (ValueError, KeyError, TypeError):
            expires_at = 0.0  # unreadable: treat as expired rather than block replay forever
        if expires_at > self._clock():
            self.held_until = expires_at
            return False
        # Expired (its replay died): take it over, unless someone else just did.
        return self._write(self._clock() + self._lease_seconds, if_generation_match=int(current.generation))

    def renew(self) -> bool:
        assert self._generation is not None
        return self._write(self._clock() + self._lease_seconds, if_generation_match=self._generation)

    def release(self) -> None:
        if self._generation is not None:
            self._write(0.0, if_generation_match=self._generation)  # expired: the next run takes it at once


class LeaseLost(Exception):
    """Another replay took the lease over: stop before the next step."""


@dataclass(frozen=True)
class Spooled:
    """An object whose row was read and checked."""

    name: str
    generation: int
    row: HitRow


@dataclass(frozen=True)
class Unreadable:
    """An object to quarantine: its bytes as they are to be kept, and why (never quoting the payload)."""

    name: str
    generation: int
    data: bytes
    error: str


@dataclass(frozen=True)
class Gone:
    """Deleted since it was listed (by a person: another replay would need the lease)."""

    name: str


# What reading one object comes to: exactly one of these, whatever the object holds.
ReadResult = Spooled | Unreadable | Gone


@dataclass(frozen=True)
class Classified:
    """One batch's readable rows, split by the lookup: already stored, or still to insert."""

    stored: list[Spooled]
    to_insert: list[Spooled]


@dataclass(frozen=True)
class Inserted:
    """What BigQuery made of the rows sent: stored, refused as invalid (to quarantine), refused for now."""

    accepted: list[Spooled]
    invalid: list[Unreadable]
    retry_later: list[Spooled]


class Replay:
    def __init__(self, *, stream: str, table_id: str, location: SpoolLocation, bigquery: Any, storage: Any,
                 batch_size: int = DEFAULT_BATCH_SIZE, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 min_age_seconds: float = write_in_flight_window_seconds(),
                 clock: Callable[[], float] = time.time) -> None:
        self._stream, self._table_id, self._location = stream, table_id, location
        self._bigquery, self._storage = bigquery, storage
        self._bucket = storage.bucket(location.bucket)
        self._writer = BigQueryRowWriter(bigquery, table_id, INSERT_DEADLINE_SECONDS)
        self._batch_size, self._lease_seconds, self._min_age_seconds = batch_size, lease_seconds, min_age_seconds
        self._clock = clock
        self._lease: ReplayLease | None = None
        self._pool: ThreadPoolExecutor | None = None

    def run(self) -> ReplayReport:
        report = ReplayReport(self._stream, self._location.url)
        try:
            self._run(report)
        except LeaseLost:
            report.status = ReplayStatus.LOCK_LOST
        except Exception as error:  # Cloud Storage unreachable, denied, ...: report it, delete nothing more
            if not isinstance(error, OSError | _storage_errors()):
                raise
            log.error("replay stopped: the spool is unavailable", extra={
                "stream": self._stream, "error": type(error).__name__})
            report.status = ReplayStatus.SPOOL_UNAVAILABLE
        self._count_waiting(report)
        return report

    def _run(self, report: ReplayReport) -> None:
        self._lease = ReplayLease(self._bucket, self._location.lock_name, self._lease_seconds, self._clock)
        if not self._lease.acquire():
            report.status = ReplayStatus.LOCKED
            log.info("replay skipped: another replay holds the lease", extra={
                "stream": self._stream, "held_until": self._lease.held_until})
            return
        try:
            with ThreadPoolExecutor(IO_THREADS) as self._pool:
                for listed in self._listed_batches(report):
                    if not self._replay_batch(listed, report):
                        break
        finally:
            self._lease.release()
        if report.status == ReplayStatus.DRAINED and report.retry_later:
            report.status = ReplayStatus.INCOMPLETE

    def _replay_batch(self, listed: list[Any], report: ReplayReport) -> bool:
        """Load, classify, insert, delete; False when the run must stop (BigQuery unavailable)."""
        results = self._load(listed)
        spooled = [result for result in results if isinstance(result, Spooled)]
        unreadable = [result for result in results if isinstance(result, Unreadable)]
        self._quarantine(unreadable, report)
        if not spooled:
            return True
        try:
            classified = self._classify(spooled)
        except Exception as error:
            if isinstance(error, LeaseLost):
                raise
            log.error("replay lookup failed", extra={"stream": self._stream, "error": type(error).__name__})
            report.status = ReplayStatus.BIGQUERY_UNAVAILABLE
            return False
        report.already_in_table += len(classified.stored)
        try:
            inserted = self._insert(classified.to_insert)
        except WriteFailed as failed:
            log.error("replay insert failed", extra={"stream": self._stream, "reason": failed.detail})
            report.status = ReplayStatus.BIGQUERY_UNAVAILABLE
            self._delete(classified.stored, report)  # those rows are in the table already
            return False
        report.inserted += len(inserted.accepted)
        report.retry_later += len(inserted.retry_later)
        self._quarantine(inserted.invalid, report)
        deleted = self._delete(classified.stored + inserted.accepted, report)
        log.info("replay batch", extra={
            "stream": self._stream, "objects": len(listed), "inserted": len(inserted.accepted),
            "already_in_table": len(classified.stored), "quarantined": len(unreadable) + len(inserted.invalid),
            "retry_later": len(inserted.retry_later), "deleted": deleted})
        return True

    # -- the steps ----------------------------------------------------------------------------------

    def _listed_batches(self, report: ReplayReport) -> Iterator[list[Any]]:
        """Pages of the live prefix, without the objects a write of the service may still be storing."""
        pages = self._storage.list_blobs(self._location.bucket, prefix=self._location.prefix,
                                         page_size=self._batch_size, **object_call()).pages
        for page in pages:
            blobs = [blob for blob in page if blob.name.endswith(".json")]
            old_enough = [blob for blob in blobs
                          if self._clock() - blob.time_created.timestamp() >= self._min_age_seconds]
            report.listed += len(blobs)
            report.too_young += len(blobs) - len(old_enough)
            if old_enough:
                yield old_enough

    def _load(self, listed: list[Any]) -> list[ReadResult]:
        return self._each_renewed(self._read, listed)

    def _read(self, blob: Any) -> ReadResult:
        from google.api_core import exceptions as api_errors

        try:
            data = blob.download_as_bytes(if_generation_match=blob.generation, **object_call())
        except (api_errors.NotFound, api_errors.PreconditionFailed):
            return Gone(blob.name)
        generation = int(blob.generation)
        try:
            row = row_from_document(data)
        except SpoolDocumentError as error:
            return Unreadable(blob.name, generation, data, str(error))
        except Exception as error:  # whatever a hostile object may raise: its class only (never the payload)
            return Unreadable(blob.name, generation, data, f"the document could not be read ({type(error).__name__})")
        if blob.name != self._location.object_name(row["hit_id"]):
            return Unreadable(blob.name, generation, data, "the object's name does not match its row's hit_id")
        return Spooled(blob.name, generation, row)

    def _classify(self, spooled: list[Spooled]) -> Classified:
        self._renew()
        present = self._hit_ids_in_table([s.row for s in spooled])
        return Classified(stored=[s for s in spooled if s.row["hit_id"] in present],
                          to_insert=[s for s in spooled if s.row["hit_id"] not in present])

    def _insert(self, items: list[Spooled]) -> Inserted:
        """WriteFailed if BigQuery failed as a whole (down, denied, too slow)."""
        inserted = Inserted([], [], [])
        for attempt in (1, 2):  # BigQuery stores none of a request with an invalid row: the rest goes once more
            if not items:
                break
            self._renew()
            reasons = self._writer.insert_rows([s.row for s in items], timeout_seconds=INSERT_DEADLINE_SECONDS)
            stopped: list[Spooled] = []
            for item, reason in zip(items, reasons, strict=True):
                if reason is None:
                    inserted.accepted.append(item)
                elif reason.caused_by_another_row():
                    stopped.append(item)
                elif reason.transient:
                    inserted.retry_later.append(item)
                else:
                    # BigQuery's messages name the field and the rule, not the value.
                    inserted.invalid.append(Unreadable(item.name, item.generation, spool_document(item.row),
                                                       f"BigQuery refused the row as invalid: {reason}"))
            if attempt == 2 or len(stopped) == len(items):  # nothing else in the request stopped them
                inserted.retry_later.extend(stopped)
                break
            items = stopped
        return inserted

    def _delete(self, items: list[Spooled], report: ReplayReport) -> int:
        deleted = sum(self._each_renewed(lambda item: delete_at_generation(self._bucket, item.name,
                                                                           item.generation), items))
        report.deleted += deleted
        return deleted

    def _quarantine(self, items: list[Unreadable], report: ReplayReport) -> None:
        for item, moved in zip(items, self._each_renewed(self._move_to_quarantine, items), strict=True):
            if moved:
                report.quarantined += 1
                log.error("spool object quarantined", extra={
                    "stream": self._stream, "object": item.name, "error": item.error})

    def _move_to_quarantine(self, item: Unreadable) -> bool:
        return move_to_quarantine(self._bucket, self._location, item.name, item.generation, item.data, item.error)

    # -- helpers ------------------------------------------------------------------------------------

    def _each_renewed(self, call: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
        """`call` on every item, IO_THREADS at a time, the lease renewed before each chunk."""
        assert self._pool is not None
        results: list[_T] = []
        for start in range(0, len(items), IO_THREADS):
            self._renew()
            results.extend(self._pool.map(call, items[start:start + IO_THREADS]))
        return results

    def _renew(self) -> None:
        assert self._lease is not None
        if not self._lease.renew():
            raise LeaseLost()

    def _hit_ids_in_table(self, rows: Sequence[HitRow]) -> set[str]:
        from google.cloud import bigquery

        # The date filter keeps the scan to the partitions the rows belong to (and satisfies tables that
        # require a partition filter).
        sql = (f"SELECT DISTINCT hit_id FROM `{self._table_id}` "
               "WHERE `date` IN UNNEST(@dates) AND hit_id IN UNNEST(@hit_ids)")
        config = bigquery.QueryJobConfig(query_parameters=[
            bigquery.ArrayQueryParameter("dates", "DATE", sorted({date.fromisoformat(r["date"]) for r in rows})),
            bigquery.ArrayQueryParameter("hit_ids", "STRING", [r["hit_id"] for r in rows]),
        ])
        # retry=None, job_retry=None: the client's own retries run for up to 10 minutes against an unreachable
        # BigQuery, far past the lease; a failed lookup ends this run instead, and the next run tries again.
        job = self._bigquery.query(sql, job_config=config, timeout=LOOKUP_SUBMIT_SECONDS, retry=None, job_retry=None)
        rows = job.result(timeout=LOOKUP_RESULT_SECONDS, retry=None, job_retry=None)
        return {str(row["hit_id"]) for row in rows}

    def _count_waiting(self, report: ReplayReport) -> None:
        try:
            status = spool_status(self._storage, self._location, self._clock())
        except Exception as error:
            if not isinstance(error, OSError | _storage_errors()):
                raise
            return  # the run's status already says the spool failed, or this listing is the first failure
        report.waiting, report.oldest_waiting_age_seconds = status.waiting, status.oldest_age_seconds


@dataclass(frozen=True)
class SpoolStatus:
    waiting: int
    oldest_age_seconds: float | None


def spool_status(storage: Any, location: SpoolLocation, now: float | None = None) -> SpoolStatus:
    """How many hits wait in a spool and how old the oldest is (listing only: no object is read)."""
    now = time.time() if now is None else now
    waiting, oldest = 0, None
    for blob in storage.list_blobs(location.bucket, prefix=location.prefix, **object_call()):
        if blob.name.endswith(".json"):
            waiting += 1
            age = now - blob.time_created.timestamp()
            oldest = age if oldest is None else max(oldest, age)
    return SpoolStatus(waiting, oldest)


def _storage_errors() -> type[Exception]:
    from google.api_core import exceptions as api_errors

    return api_errors.GoogleAPIError


def main(argv: Sequence[str] | None = None) -> int:
    from service.runtime.bigquery_client import make_client
    from service.runtime.logs import configure_logging, log_fields
    from service.runtime.settings import SettingsError, load_settings

    args = _arguments(argv)
    configure_logging()
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if settings.spool_url is None:
        print(f"replay: stream {settings.spec.stream!r} has no spool (HOOKSTREAM_SPOOL_URL is not set)",
              file=sys.stderr)
        return 2
    spec = settings.spec
    location = SpoolLocation.parse(settings.spool_url)
    storage = make_storage_client(spec.project)
    if args.list_quarantined or args.requeue:
        return _quarantine_command(storage, location, requeue_all=args.requeue)
    min_age = (write_in_flight_window_seconds(spec.write_deadline_seconds) if args.min_age_seconds is None
               else args.min_age_seconds)
    replay = Replay(stream=spec.stream, table_id=spec.table_path, location=location,
                    bigquery=make_client(spec.project, settings.bigquery_emulator_host), storage=storage,
                    batch_size=args.batch_size, lease_seconds=args.lease_seconds, min_age_seconds=min_age)
    report = replay.run()
    log_fields(log, logging.INFO, "replay finished", report.log_fields())
    print(report.summary(), file=sys.stderr)
    return 1 if report.status.is_outage else 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.runtime.replay",
                                     description="Write a stream's spooled hits to its table, then delete them "
                                                 "from the spool. Settings come from the service's environment.")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--lease-seconds", type=float, default=DEFAULT_LEASE_SECONDS,
                        help="how long a replay that died blocks the next one (renewed before every step)")
    parser.add_argument("--min-age-seconds", type=float, default=None,
                        help="leave objects younger than this for the next run (default: the stream's write "
                             f"deadline + {WRITE_IN_FLIGHT_SLACK_SECONDS:.0f} s, so no write of the service "
                             "for them can still be in flight)")
    commands = parser.add_mutually_exclusive_group()
    commands.add_argument("--list-quarantined", action="store_true",
                          help="list the stream's quarantined objects and why each is there; change nothing")
    commands.add_argument("--requeue", action="store_true",
                          help="move every quarantined object back to the spool, for the next replay to try")
    return parser.parse_args(argv)


def _quarantine_command(storage: Any, location: SpoolLocation, *, requeue_all: bool) -> int:
    from service.runtime.quarantine import quarantined, requeue

    if requeue_all:
        moved = requeue(storage, location)
        print(f"requeued {moved} object(s) from {location.bucket}/{location.quarantine_prefix} "
              f"to {location.url}", file=sys.stderr)
        return 0
    entries = list(quarantined(storage, location))
    for entry in entries:
        print(json.dumps(asdict(entry)))
    print(f"{len(entries)} object(s) in gs://{location.bucket}/{location.quarantine_prefix}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
