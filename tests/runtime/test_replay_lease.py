"""The replay's lease outlasts every step of a batch, even when each call takes as long as it may.

A replay whose lease ran out while it still inserted or deleted could overlap with the next replay,
which would find the same objects and insert their rows again. Here every call the replay makes (each
Cloud Storage call, the lookup query and its result, the insertAll) advances a simulated clock by the
whole timeout the replay gave it: the worst case, taken from the real constants as the code passes them.
In-memory stand-ins for Cloud Storage and BigQuery, because the point is the arithmetic of the timeouts,
not the services (their behaviour is tested against the emulators in test_replay_quarantine.py).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as api_errors

from service.model.schema import HitRow
from service.model.spool_document import spool_document
from service.runtime.replay import DEFAULT_LEASE_SECONDS, Replay, ReplayStatus
from service.runtime.spool import SpoolLocation

LOCATION = SpoolLocation("bucket", "spool/lease/")
CLOCK_MARGIN = 30.0  # what the lease must still have left when a call ends, for the other replay's clock
# How long google-cloud-storage retries a call by default (its DEFAULT_RETRY), for a call that sets no bound.
CLIENT_DEFAULT_RETRY_SECONDS = 120.0
CLIENT_DEFAULT: Any = object()


@dataclass
class WorstCaseClock:
    """Simulated time; every call of the replay moves it by its full timeout, and checks the lease."""

    now: float = 1_600_000_000.0  # September 2020: after every fake object was created
    lease_expires_at: float = 0.0
    shortfalls: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> float:
        return self.now

    def spend(self, call: str, timeout: float | None, lease_call: bool = False, retry: Any = None) -> None:
        """A call that fails until its retrying stops, then takes its whole timeout once more."""
        assert timeout is not None, f"{call} has no timeout: its worst case is unbounded"
        retrying = CLIENT_DEFAULT_RETRY_SECONDS if retry is CLIENT_DEFAULT else (retry.timeout if retry else 0.0)
        with self.lock:
            self.now += retrying + timeout
            held = self.lease_expires_at > 0.0  # a released lease is written as expired at 0
            if held and not lease_call and self.now > self.lease_expires_at - CLOCK_MARGIN:
                self.shortfalls.append((call, self.now - (self.lease_expires_at - CLOCK_MARGIN)))


class FakeBlob:
    def __init__(self, store: FakeStorage, name: str) -> None:
        self.store, self.name = store, name
        self.metadata: dict[str, str] | None = None
        self.generation: int | None = None
        self.time_created = datetime(2020, 1, 1, tzinfo=UTC)
        self.size = 0

    def upload_from_string(self, data: str | bytes, content_type: str = "", if_generation_match: int | None = None,
                           timeout: float | None = None, retry: Any = CLIENT_DEFAULT) -> None:
        lease_call = self.name == LOCATION.lock_name
        self.store.clock.spend(f"upload {self.name}", timeout, lease_call, retry)
        current = self.store.objects.get(self.name)
        if if_generation_match is not None and (current[0] if current else 0) != if_generation_match:
            raise api_errors.PreconditionFailed("generation mismatch")  # type: ignore[no-untyped-call]
        self.store.generation += 1
        self.generation = self.store.generation
        self.store.objects[self.name] = (self.generation, data.encode() if isinstance(data, str) else data)
        if lease_call:
            self.store.clock.lease_expires_at = json.loads(data)["expires_at"]

    def download_as_bytes(self, if_generation_match: int | None = None, timeout: float | None = None,
                          retry: Any = CLIENT_DEFAULT) -> bytes:
        self.store.clock.spend(f"download {self.name}", timeout, retry=retry)
        return self.store.objects[self.name][1]

    def delete(self, if_generation_match: int | None = None, timeout: float | None = None,
               retry: Any = CLIENT_DEFAULT) -> None:
        self.store.clock.spend(f"delete {self.name}", timeout, retry=retry)
        del self.store.objects[self.name]


class FakeStorage:
    def __init__(self, clock: WorstCaseClock) -> None:
        self.clock = clock
        self.objects: dict[str, tuple[int, bytes]] = {}
        self.generation = 0

    def bucket(self, name: str) -> FakeStorage:
        return self

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)

    def get_blob(self, name: str, timeout: float | None = None, retry: Any = CLIENT_DEFAULT) -> FakeBlob | None:
        self.clock.spend(f"get {name}", timeout, lease_call=True, retry=retry)
        return None

    def _listed(self, prefix: str) -> list[FakeBlob]:
        blobs = []
        for name in sorted(self.objects):
            if name.startswith(prefix):
                blob = FakeBlob(self, name)
                blob.generation = self.objects[name][0]
                blobs.append(blob)
        return blobs

    def list_blobs(self, bucket: str, prefix: str, page_size: int = 1000, timeout: float | None = None,
                   retry: Any = CLIENT_DEFAULT) -> Any:
        self.clock.spend(f"list {prefix}", timeout, retry=retry)
        blobs = self._listed(prefix)
        pages = [blobs[start:start + page_size] for start in range(0, len(blobs), page_size)]

        class Listing(list[FakeBlob]):
            pass

        listing = Listing(blobs)
        listing.pages = iter(pages)  # type: ignore[attr-defined]
        return listing


class FakeBigQuery:
    """Nothing found by the lookup, every row accepted; each call as slow as its timeout allows."""

    def __init__(self, clock: WorstCaseClock) -> None:
        self.clock = clock
        self._connection = self

    def query(self, sql: str, job_config: Any = None, timeout: float | None = None, retry: Any = "default",
              job_retry: Any = "default") -> FakeBigQuery:
        assert retry is None and job_retry is None, "the client's own retries would outlast the lease"
        self.clock.spend("lookup query", timeout)
        return self

    def result(self, timeout: float | None = None, retry: Any = "default",
               job_retry: Any = "default") -> list[dict[str, str]]:
        assert retry is None and job_retry is None, "the client's own retries would outlast the lease"
        self.clock.spend("lookup result", timeout)
        return []

    def api_request(self, method: str, path: str, data: Any, content_type: str, timeout: float) -> dict[str, Any]:
        self.clock.spend("insertAll", timeout)
        return {}


def row(number: int) -> HitRow:
    return HitRow(hit_id=f"00000000-0000-4000-8000-{number:012d}", payload=f"orderId=N{number}",
                  received_at=1603131452000, date="2020-10-19", delivery_id=None,
                  headers=None)


def worst_case_run(lease_seconds: float) -> tuple[WorstCaseClock, Any]:
    clock = WorstCaseClock()
    storage = FakeStorage(clock)
    for number in range(3):
        storage.objects[LOCATION.object_name(row(number)["hit_id"])] = (number + 1, spool_document(row(number)))
    storage.objects[LOCATION.prefix + "0-garbage.json"] = (9, b"not a spool document")  # quarantined
    storage.generation = 10
    replay = Replay(stream="lease", table_id="p.d.t", location=LOCATION, bigquery=FakeBigQuery(clock),
                    storage=storage, batch_size=2, lease_seconds=lease_seconds, min_age_seconds=0.0, clock=clock)
    return clock, replay.run()


def test_the_lease_outlasts_each_step_when_every_call_takes_its_whole_timeout() -> None:
    clock, report = worst_case_run(DEFAULT_LEASE_SECONDS)
    assert report.status == ReplayStatus.DRAINED and (report.inserted, report.quarantined) == (3, 1), report
    assert clock.shortfalls == []
    # The longest stretch is the lookup: the renewal before it (30 s of retrying + a 30 s attempt),
    # submitting it (30 s), waiting for its rows (120 s), and the margin for the other replay's clock (30 s).
    assert DEFAULT_LEASE_SECONDS >= 60 + 30 + 120 + 30


def test_the_old_two_minute_lease_runs_out_when_the_calls_take_their_worst_case() -> None:
    clock, _ = worst_case_run(120.0)
    # The first listing ends 60 s (taking the lease) + 60 s after the lease was written, when it had to be
    # left with its 30 s margin at 120 - 30 = 90 s: 30 s short. The lookup: renewal 60 s + query 30 s +
    # result 120 s = 210 s, 120 s short.
    assert clock.shortfalls[0] == ("list spool/lease/", 30.0), clock.shortfalls
    assert ("lookup result", 120.0) in clock.shortfalls, clock.shortfalls
