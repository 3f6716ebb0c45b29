"""Handing an accepted hit's row to the sink, and its outcome to the responder: parked, or on this thread.

Under our gunicorn worker a request can be parked (service/runtime/parking.py): the row is submitted, the
thread goes back to the pool, and the thread that gets the verdict answers. Elsewhere (the Flask test
client) the thread waits for the verdict. Either way the answer comes from the same outcome.
"""

from __future__ import annotations

from flask import Response

from service.runtime.batching import BatchingSink
from service.runtime.bigquery_client import make_client
from service.runtime.intake import AcceptedHit
from service.runtime.outcome import Responder
from service.runtime.parking import current_parking
from service.runtime.settings import ServiceSettings
from service.runtime.sink import BigQueryRowWriter, Sink, SubmittingSink, Verdict, WriteFailed
from service.runtime.spool import GcsSpool, SpoolLocation
from service.runtime.spooling_sink import SpoolingSink
from service.runtime.warehouse_health import WarehouseHealth


class Delivery:
    def __init__(self, sink: Sink, responder: Responder) -> None:
        self._sink = sink
        self._responder = responder
        # Decided once: whether this sink can take a row without holding the caller's thread.
        self._submit = sink.submit if isinstance(sink, SubmittingSink) else None

    def deliver(self, hit: AcceptedHit) -> Response:
        parking = current_parking()
        if self._submit is not None and parking is not None:
            answer_later = parking.park()

            def answer(verdict: Verdict) -> None:
                answer_later(self._responder.respond(hit.outcome(verdict)))

            try:
                self._submit(hit.row, answer, parking.run_blocking)
            except WriteFailed as refused:  # refused before it was queued (shutting down)
                parking.cancel()
                return self._responder.respond(hit.outcome(refused))
            return parking.placeholder()
        verdict: Verdict
        try:
            verdict = self._sink.write(hit.row)
        except WriteFailed as failed:
            verdict = failed
        return self._responder.respond(hit.outcome(verdict))


def default_sink(settings: ServiceSettings) -> Sink:
    """BigQuery through the group-commit batcher; with a spool URL, the spooling sink around it."""
    spec = settings.spec
    client = make_client(spec.project, settings.bigquery_emulator_host)
    if settings.spool_url is None:
        writer = BigQueryRowWriter(client, spec.table_path, spec.write_deadline_seconds)
        return BatchingSink(writer, spec.write_deadline_seconds, stream=spec.stream)
    # The probe reads the table's metadata: one cheap call the writer's role allows (tables.get).
    health = WarehouseHealth(lambda timeout: client.get_table(spec.table_path, retry=None, timeout=timeout),
                             stream=spec.stream)
    writer = BigQueryRowWriter(client, spec.table_path, spec.write_deadline_seconds, health=health)
    # Group commit: concurrent hits of this process share one insertAll (service/runtime/batching.py).
    batching = BatchingSink(writer, spec.write_deadline_seconds, stream=spec.stream)
    # What BigQuery does not take within the answer budget goes to the stream's spool (service/runtime/spool.py).
    spool = GcsSpool(SpoolLocation.parse(settings.spool_url), spec.project)
    return SpoolingSink(batching, spool, spec.stream, answer_budget_seconds=spec.answer_budget_seconds, health=health)
