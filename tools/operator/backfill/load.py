"""Write an export's records into the stream's table in batches, skipping what is already there.

Order of events, so nothing is half-loaded silently: records are checked one by one; valid ones are
written in batches of `batch_size` with insertAll (row ids = hit ids); the first malformed record
stops the load after the records before it are written, and the error says which line and how much
this run wrote. Running the same command again skips records already in the table (their hit ids
are deterministic), so a stopped load is finished by fixing the record and re-running.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from service.model.schema import HitRow
from service.model.stream import Stream
from service.model.timezones import parse_time_zone
from service.runtime.rows import build_row
from service.runtime.sink import BigQueryRowWriter, WriteFailed
from tools.operator.backfill.progress import Progress
from tools.operator.backfill.records import (
    MalformedRecord,
    PayloadFormat,
    Record,
    SourceFormat,
    encode_payload,
    hit_id_for,
    read_records,
    received_at_ms,
)
from tools.operator.backfill.sources import Source

WRITE_DEADLINE_SECONDS = 60.0
QUERY_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class LoadOptions:
    source_format: SourceFormat
    payload_format: PayloadFormat
    received_at_column: str | None = None  # None: every row gets the time the load started
    batch_size: int = 500
    dry_run: bool = False


@dataclass
class LoadCounts:
    records: int = 0          # valid records read
    written: int = 0          # rows this run inserted
    already_loaded: int = 0   # records whose hit id was in the table before this run
    repeated: int = 0         # records identical to an earlier record of this source

    def summary(self, dry_run: bool = False) -> str:
        written = f"would write {self.written:,} rows" if dry_run else f"{self.written:,} rows written"
        return (f"{'dry run, nothing written: ' if dry_run else ''}{self.records:,} records read: {written}, "
                f"{self.already_loaded:,} already loaded, {self.repeated:,} repeated in the source")


class LoadStopped(Exception):
    """The load stopped part-way; the message says where, why and what was written."""

    def __init__(self, message: str, counts: LoadCounts) -> None:
        super().__init__(message)
        self.counts = counts


class TableMissing(Exception):
    pass


class ColumnMissing(Exception):
    """--received-at-column names a column the export does not have."""


class Backfill:
    def __init__(self, client: Any, stream: Stream, table_id: str, options: LoadOptions,
                 progress: Progress | None = None, clock_ms: Callable[[], int] | None = None) -> None:
        if options.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._client = client
        self._stream = stream
        self._table_id = table_id
        self._options = options
        self._zone = parse_time_zone(stream.time_zone)
        self._progress = progress or Progress(None, enabled=False)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._sink = BigQueryRowWriter(client, table_id, WRITE_DEADLINE_SECONDS)
        from google.api_core.retry import Retry

        from service.runtime.bigquery_client import RETRYABLE

        # The client's default retries run for 600 s; a sick emulator or API should stop the load sooner.
        self._retry = Retry(predicate=RETRYABLE, initial=0.2, maximum=2.0, timeout=WRITE_DEADLINE_SECONDS)

    def run(self, source: Source) -> LoadCounts:
        from google.api_core import exceptions as api_errors

        try:
            table = self._client.get_table(self._table_id, retry=self._retry, timeout=30)
        except api_errors.NotFound:
            raise TableMissing(f"table {self._table_id} does not exist: start the local stack "
                               "(scripts/dev) or deploy the stream (cdktf deploy) first") from None
        columns = {column.name for column in table.schema}
        loaded = self._loaded_hit_ids()
        load_started_ms = self._clock_ms()
        counts = LoadCounts()
        seen: set[str] = set()
        pending: list[tuple[int, HitRow]] = []
        counting = _CountingReader(source.stream)
        try:
            for record in read_records(cast(BinaryIO, io.BufferedReader(counting)),
                                       self._options.source_format):
                if counts.records == 0:
                    self._check_received_at_column(source.uri, record)
                row = self._row(record, columns, load_started_ms)
                counts.records += 1
                if row["hit_id"] in loaded:
                    counts.already_loaded += 1
                elif row["hit_id"] in seen:
                    counts.repeated += 1
                else:
                    seen.add(row["hit_id"])
                    pending.append((record.line, row))
                    if len(pending) >= self._options.batch_size:
                        self._flush(pending, counts)
                self._progress.update(counting.bytes_read, counts.records, counts.written)
        except MalformedRecord as malformed:
            # Write what came before the bad record, so the table holds an exact prefix of the file.
            self._flush(pending, counts)
            self._progress.finish()
            raise LoadStopped(
                f"{source.uri} line {malformed.line}: {malformed.reason}\n"
                f"The load stopped there. {self._written_so_far(counts)} Nothing from line "
                f"{malformed.line} on was written. Fix that record and run the same command again: "
                "records already loaded are skipped.", counts) from None
        self._flush(pending, counts)
        self._progress.update(counting.bytes_read, counts.records, counts.written, force=True)
        self._progress.finish()
        return counts

    def _check_received_at_column(self, uri: str, first: Record) -> None:
        # A CSV's columns are its header: a misspelt flag is a usage error, not a bad line 2. NDJSON
        # records may differ, so the first record stands for the file; a later record without it is malformed.
        column = self._options.received_at_column
        if column is not None and column not in first.fields:
            raise ColumnMissing(f"--received-at-column {column}: {uri} has no column {column!r}; its columns "
                                f"are: {', '.join(first.fields)}")

    def _row(self, record: Record, columns: set[str], load_started_ms: int) -> HitRow:
        fields = record.fields
        latest = self._stream.latest
        if latest is not None and fields.get(latest.key) in (None, ""):
            raise MalformedRecord(record.line, f"no value for {latest.key!r}, the key of the latest view")
        payload = encode_payload(fields, self._options.payload_format)
        if len(payload.encode()) > self._stream.max_body_bytes:
            raise MalformedRecord(record.line, f"the payload is larger than the stream's limit of "
                                               f"{self._stream.max_body_bytes} bytes")
        column = self._options.received_at_column
        if column is None:
            received = load_started_ms
        elif column not in fields:
            raise MalformedRecord(record.line, f"no {column!r} field to take the receipt time from")
        else:
            try:
                received = received_at_ms(fields[column], self._zone)
            except ValueError as error:
                raise MalformedRecord(record.line, f"{column}: {error}") from None
        row = build_row(payload, received, self._zone, hit_id=hit_id_for(self._stream, fields))
        # A table created before a column was added to the row layout does not take that column.
        return cast(HitRow, {name: value for name, value in row.items() if name in columns})

    def _loaded_hit_ids(self) -> set[str]:
        """Hit ids of rows an earlier backfill wrote (their UUIDs are version 5; live hits use 4)."""
        # The date condition satisfies tables that require a partition filter; no row has a NULL date.
        sql = (f"SELECT hit_id FROM `{self._table_id}` "
               "WHERE `date` >= DATE '0001-01-01' AND SUBSTR(hit_id, 15, 1) = '5'")
        job = self._client.query(sql, retry=self._retry, job_retry=None, timeout=30)
        return {row["hit_id"] for row in job.result(timeout=QUERY_TIMEOUT_SECONDS)}

    def _flush(self, pending: list[tuple[int, HitRow]], counts: LoadCounts) -> None:
        if not pending:
            return
        lines = [line for line, _ in pending]
        where = f"the batch of {len(pending)} records from line {lines[0]} to line {lines[-1]}"
        if self._options.dry_run:
            counts.written += len(pending)
            pending.clear()
            return
        try:
            reasons = self._sink.insert_rows([row for _, row in pending])
        except WriteFailed as failed:
            raise LoadStopped(f"writing {where} failed: {failed.detail}. {self._written_so_far(counts)} "
                              "That batch may or may not be stored; run the same command again to "
                              "finish: records already loaded are skipped.", counts) from None
        rejected = [(line, reason) for (line, _), reason in zip(pending, reasons, strict=True) if reason]
        if rejected:
            # BigQuery marks the rows it dropped because of another row as 'stopped': name the culprit.
            line, reason = next(((n, r) for n, r in rejected if not r.caused_by_another_row()), rejected[0])
            raise LoadStopped(f"BigQuery rejected the record at line {line}: {reason}. {where} was not "
                              f"written (insertAll stores all rows of a request or none). "
                              f"{self._written_so_far(counts)}", counts)
        counts.written += len(pending)
        pending.clear()

    def _written_so_far(self, counts: LoadCounts) -> str:
        verb = "would have written" if self._options.dry_run else "wrote"
        return (f"This run {verb} {counts.written:,} rows ({counts.already_loaded:,} records were "
                "already loaded before).")


class _CountingReader(io.RawIOBase):
    """Passes bytes through and counts them, for the progress bar."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)
