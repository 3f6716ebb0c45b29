"""Replay: move a stream's spooled hits into its table, then out of the spool.

Runs as a Cloud Run job of the same image, with the same environment as the stream's service
(`python -m service.runtime.replay`), started by Cloud Scheduler every few minutes; `scripts/replay`
runs it by hand. Not a thread of the web service: Cloud Run throttles a service's CPU between requests.

Every hit answered 2xx must end up in the table exactly once. What that rests on:
1. One replay per stream at a time: a lease object beside the spool prefix, taken and renewed by
   compare-and-swap on its generation (create with if_generation_match=0, renew/take over an expired
   lease with if_generation_match=<generation>). A second replay finds the lease held and stops.
2. Before inserting, the batch's hit_ids are looked up in the table, and rows already there are not
   inserted again. This covers a replay that died between its insert and its deletes, and the hit
   the service spooled after a write whose answer never came although BigQuery had stored it.
3. insertId = hit_id on every insert: BigQuery's own best-effort de-duplication (about a minute) as a
   last line, for a row inserted so recently that the lookup did not see it yet.
An object is deleted only after its row was accepted or found in the table, with the generation it
was read at as a precondition. BigQuery unavailable: nothing is deleted, exit status 1, next run retries.
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
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

from service.model.schema import HitRow
from service.runtime.sink import BigQueryRowWriter, WriteFailed
from service.runtime.spool import SpoolLocation, make_storage_client, row_from_document

log = logging.getLogger("hookstream.replay")

DEFAULT_BATCH_SIZE = 500
DEFAULT_LEASE_SECONDS = 120.0
INSERT_DEADLINE_SECONDS = 30.0
IO_THREADS = 16


@dataclass
class ReplayReport:
    stream: str
    spool: str
    # drained | locked | lock_lost | bigquery_unavailable | spool_unavailable | incomplete
    status: str = "drained"
    listed: int = 0
    inserted: int = 0
    already_in_table: int = 0
    deleted: int = 0
    rejected: int = 0  # rows BigQuery refused as invalid: left in the spool for a person
    retry_later: int = 0  # transient per-row errors: left for the next run
    unreadable: int = 0  # objects that are not spooled rows: left in place
    oldest_age_seconds: float | None = None
    rejected_hits: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"replay {self.stream} ({self.spool}): {self.status}; listed={self.listed} "
                f"inserted={self.inserted} already_in_table={self.already_in_table} deleted={self.deleted} "
                f"rejected={self.rejected} retry_later={self.retry_later} unreadable={self.unreadable}")


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
                                    if_generation_match=if_generation_match, timeout=30)
        except api_errors.PreconditionFailed:
            return False
        self._generation = int(blob.generation)
        return True

    def acquire(self) -> bool:
        if self._write(self._clock() + self._lease_seconds, if_generation_match=0):
            return True
        current = self._bucket.get_blob(self._name, timeout=30)
        if current is None:  # released and removed between our two calls: try once more
            return self._write(self._clock() + self._lease_seconds, if_generation_match=0)
        try:
            expires_at = float(json.loads(current.download_as_bytes(timeout=30))["expires_at"])
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


@dataclass(frozen=True)
class Spooled:
    name: str
    generation: int
    row: HitRow


class Replay:
    def __init__(self, *, stream: str, table_id: str, location: SpoolLocation, bigquery: Any, storage: Any,
                 batch_size: int = DEFAULT_BATCH_SIZE, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self._stream, self._table_id, self._location = stream, table_id, location
        self._bigquery, self._storage = bigquery, storage
        self._bucket = storage.bucket(location.bucket)
        self._writer = BigQueryRowWriter(bigquery, table_id, INSERT_DEADLINE_SECONDS)
        self._batch_size, self._lease_seconds = batch_size, lease_seconds

    def run(self) -> ReplayReport:
        report = ReplayReport(self._stream, self._location.url)
        try:
            self._run(report)
        except Exception as error:  # Cloud Storage unreachable, denied, ...: report it, delete nothing more
            if not isinstance(error, OSError | _storage_errors()):
                raise
            log.error("replay stopped: the spool is unavailable", extra={
                "stream": self._stream, "error": type(error).__name__})
            report.status = "spool_unavailable"
        return report

    def _run(self, report: ReplayReport) -> None:
        lease = ReplayLease(self._bucket, self._location.lock_name, self._lease_seconds)
        if not lease.acquire():
            report.status = "locked"
            log.info("replay skipped: another replay holds the lease", extra={
                "stream": self._stream, "held_until": lease.held_until})
            return
        try:
            with ThreadPoolExecutor(IO_THREADS) as pool:
                for batch in self._listed_batches(report):
                    if not lease.renew():
                        report.status = "lock_lost"
                        break
                    if not self._replay_batch(batch, report, pool):
                        break
        finally:
            lease.release()
        if report.status == "drained" and (report.rejected or report.retry_later or report.unreadable):
            report.status = "incomplete"

    def _listed_batches(self, report: ReplayReport) -> Iterator[list[Any]]:
        now = time.time()
        pages = self._storage.list_blobs(self._location.bucket, prefix=self._location.prefix,
                                         page_size=self._batch_size, timeout=30).pages
        for page in pages:
            blobs = [blob for blob in page if blob.name.endswith(".json")]
            report.listed += len(blobs)
            for blob in blobs:
                age = now - blob.time_created.timestamp()
                report.oldest_age_seconds = max(age, report.oldest_age_seconds or 0.0)
            if blobs:
                yield blobs

    def _replay_batch(self, blobs: list[Any], report: ReplayReport, pool: ThreadPoolExecutor) -> bool:
        """False when the run must stop (BigQuery unavailable)."""
        spooled: list[Spooled] = []
        for blob, result in zip(blobs, pool.map(self._read, blobs), strict=True):
            if result == "gone":
                continue  # deleted since it was listed (by a person: a replay holds the lease)
            if result is None:
                report.unreadable += 1
                log.error("spool object is not a spooled row; left in place", extra={
                    "stream": self._stream, "object": blob.name})
            else:
                spooled.append(result)
        if not spooled:
            return True
        try:
            present = self._hit_ids_in_table([s.row for s in spooled])
        except Exception as error:
            log.error("replay lookup failed", extra={"stream": self._stream, "error": type(error).__name__})
            report.status = "bigquery_unavailable"
            return False
        todo = [s for s in spooled if s.row["hit_id"] not in present]
        done = [s for s in spooled if s.row["hit_id"] in present]
        report.already_in_table += len(done)
        if todo:
            try:
                reasons = self._writer.insert_rows([s.row for s in todo], timeout_seconds=INSERT_DEADLINE_SECONDS)
            except WriteFailed as failed:
                log.error("replay insert failed", extra={"stream": self._stream, "reason": failed.detail})
                report.status = "bigquery_unavailable"
                self._delete_all(done, report, pool)  # those rows are in the table already
                return False
            for item, reason in zip(todo, reasons, strict=True):
                if reason is None:
                    report.inserted += 1
                    done.append(item)
                elif reason.transient:
                    report.retry_later += 1
                else:
                    report.rejected += 1
                    report.rejected_hits.append(item.row["hit_id"])
                    log.error("spooled row rejected by BigQuery; left in the spool", extra={
                        "stream": self._stream, "hit_id": item.row["hit_id"], "reason": str(reason)})
        self._delete_all(done, report, pool)
        log.info("replay batch", extra={"stream": self._stream, "rows": len(spooled), "inserted": len(todo),
                                        "already_in_table": len(spooled) - len(todo)})
        return True

    def _read(self, blob: Any) -> Spooled | Literal["gone"] | None:
        from google.api_core import exceptions as api_errors

        try:
            data = blob.download_as_bytes(if_generation_match=blob.generation, timeout=30)
        except (api_errors.NotFound, api_errors.PreconditionFailed):
            return "gone"
        try:
            return Spooled(blob.name, int(blob.generation), row_from_document(data))
        except (ValueError, KeyError, TypeError):
            return None

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
        result = self._bigquery.query(sql, job_config=config, timeout=30).result(timeout=120)
        return {str(row["hit_id"]) for row in result}

    def _delete_all(self, items: list[Spooled], report: ReplayReport, pool: ThreadPoolExecutor) -> None:
        report.deleted += sum(pool.map(self._delete, items))

    def _delete(self, item: Spooled) -> bool:
        from google.api_core import exceptions as api_errors

        try:
            # The generation we read: an object replaced since (which create-only spooling cannot do) stays.
            self._bucket.blob(item.name).delete(if_generation_match=item.generation, timeout=30)
        except api_errors.NotFound:
            return False
        except api_errors.PreconditionFailed:
            log.warning("spool object changed since it was read; left in place", extra={
                "stream": self._stream, "object": item.name})
            return False
        return True


@dataclass(frozen=True)
class SpoolStatus:
    waiting: int
    oldest_age_seconds: float | None


def spool_status(storage: Any, location: SpoolLocation, now: float | None = None) -> SpoolStatus:
    """How many hits wait in a spool and how old the oldest is (listing only: no object is read)."""
    now = time.time() if now is None else now
    waiting, oldest = 0, None
    for blob in storage.list_blobs(location.bucket, prefix=location.prefix, timeout=30):
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
    from service.runtime.logs import configure_logging
    from service.runtime.settings import SettingsError, load_settings

    parser = argparse.ArgumentParser(prog="python -m service.runtime.replay",
                                     description="Write a stream's spooled hits to its table, then delete them "
                                                 "from the spool. Settings come from the service's environment.")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--lease-seconds", type=float, default=DEFAULT_LEASE_SECONDS,
                        help="how long a replay that died blocks the next one (renewed every batch)")
    args = parser.parse_args(argv)
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
    replay = Replay(stream=spec.stream, table_id=spec.table_path,
                    location=SpoolLocation.parse(settings.spool_url),
                    bigquery=make_client(spec.project, settings.bigquery_emulator_host),
                    storage=make_storage_client(spec.project),
                    batch_size=args.batch_size, lease_seconds=args.lease_seconds)
    report = replay.run()
    log.info("replay finished", extra={"stream": spec.stream, "report": asdict(report)})
    print(report.summary(), file=sys.stderr)
    return 1 if report.status in ("bigquery_unavailable", "lock_lost", "spool_unavailable") else 0


if __name__ == "__main__":
    sys.exit(main())
