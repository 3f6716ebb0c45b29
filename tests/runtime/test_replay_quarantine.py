"""A replay always gets past a bad object: each kind of bad object among good ones, in one run.

Real parts: the BigQuery emulator, fake-gcs-server, the replay as its own process (as the Cloud Run job
runs it), its JSON log lines as Cloud Logging gets them. The bad objects are written into the spool
directly, byte for byte, as a corrupted or hostile object would be. BigQuery's refusal of a row as
invalid comes from a proxy answering insertAll as BigQuery does (the emulator accepts any row).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service.model.auth_settings import NoAuth
from service.model.schema import HitRow
from service.model.spool import quarantine_prefix, spool_prefix
from service.model.spool_document import row_from_document, spool_document
from service.model.stream import Stream
from service.runtime.replay import Replay, write_in_flight_window_seconds
from service.runtime.spool import SpoolLocation
from tests.runtime.fault_parts import BigQueryProxy
from tests.runtime.spool_parts import (
    BUCKET,
    DEADLINE_SECONDS,
    PROJECT,
    Emulators,
    ReplayRun,
    replay,
    service_environment,
)
from tools.local.processes import REPO_ROOT, free_port
from tools.local.provision import provision
from tools.local.spool_replay import replay_process_env

pytestmark = pytest.mark.integration

# In every bad object's payload: it must never reach a log line or the quarantine's metadata.
MARKER = "PAYLOAD-MUST-NOT-BE-LOGGED"
# The bodies that cost the most to escape: control characters, quotes, backslashes, non-ASCII.
WORST_PAYLOAD = 'orderId=N1&note="\x01\x1f\\é中😀"&status=delivered'


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    emulators = Emulators(tmp_path_factory.mktemp("quarantine-emulators"))
    yield emulators
    emulators.client.close()
    for process in (emulators.bigquery, emulators.gcs):
        if process is not None:
            process.stop()


def new_stream(emulators: Emulators, name: str) -> Stream:
    stream = Stream(name=name, dataset="quarantine", table=name.replace("-", "_"), auth=NoAuth())
    provision(emulators.client, [stream], PROJECT)
    return stream


def good_row(payload: str = WORST_PAYLOAD) -> HitRow:
    return HitRow(hit_id=str(uuid.uuid4()), payload=payload, received_at=1603131452000, date="2020-10-19",
                  delivery_id=None, headers=None)


def put(emulators: Emulators, stream: Stream, file_name: str, data: bytes) -> str:
    name = spool_prefix(stream.name) + file_name
    emulators.storage.bucket(BUCKET).blob(name).upload_from_string(data, if_generation_match=0)
    return name


def put_row(emulators: Emulators, stream: Stream, row: HitRow) -> str:
    return put(emulators, stream, f"{row['hit_id']}.json", spool_document(row))


def names_under(emulators: Emulators, prefix: str) -> set[str]:
    return {blob.name for blob in emulators.storage.list_blobs(BUCKET, prefix=prefix)}


def table_rows(emulators: Emulators, stream: Stream) -> dict[str, list[str]]:
    """hit_id -> the payloads stored for it (one per row)."""
    sql = f"SELECT hit_id, payload FROM `{PROJECT}.{stream.table_ref}`"
    rows: dict[str, list[str]] = {}
    for row in emulators.client.query(sql, timeout=30).result(timeout=60):
        rows.setdefault(row["hit_id"], []).append(row["payload"])
    return rows


def v2_header(**fields: Any) -> bytes:
    header = {"format": "hookstream-spool-2", "hit_id": str(uuid.uuid4()), "received_at": 1603131452000,
              "date": "2020-10-19", "delivery_id": None, "payload_bytes": len(MARKER)}
    return json.dumps({**header, **fields}).encode() + b"\n"


# Each kind of bad object, with the file name it is spooled under (the "0-" names sort before every
# uuid, so they are listed, and would block, before the good objects), and what its error must say.
BAD_OBJECTS: dict[str, tuple[str, bytes, str]] = {
    "bad date": ("0-bad-date.json", v2_header(date="2020-02-30") + MARKER.encode(), "date must be an ISO date"),
    "received_at 1e999": ("0-overflow.json", (
        '{"format": "hookstream-spool-1", "row": {"hit_id": "6f1c1f64-4a7e-4d43-9a34-0c58e5a3c1a1", '
        f'"payload": "{MARKER}", "received_at": 1e999, "date": "2020-10-19", "delivery_id": null}}}}').encode(),
        "received_at must be whole Unix milliseconds"),
    "bad hit_id": ("0-not-a-uuid.json", v2_header(hit_id="0-not-a-uuid") + MARKER.encode(),
                   "hit_id must be a UUID"),
    "deeply nested": ("0-nested.json", b"[" * 200_000 + MARKER.encode(), "nested too deeply"),
    "not JSON": ("0-not-json.json", b"\xff\xfe\x00" + MARKER.encode(), "not JSON"),
    "wrong format": ("0-wrong-format.json", json.dumps({"format": "hookstream-spool-9", "row": MARKER}).encode(),
                     "not a hookstream-spool-3, hookstream-spool-2 or hookstream-spool-1 document"),
    "truncated": ("0-truncated.json", v2_header(payload_bytes=len(MARKER) + 100) + MARKER.encode(),
                  "the header says"),
    "name not its hit_id": ("0-renamed.json", v2_header() + MARKER.encode(), "does not match its row's hit_id"),
}


def v1_document(row: HitRow) -> bytes:
    """An object spooled by the previous version (format 1: the whole row as one JSON object), by hand."""
    # Its rows had no headers column (the row of that release).
    old_row = {name: value for name, value in row.items() if name != "headers"}
    return json.dumps({"format": "hookstream-spool-1", "row": old_row}, ensure_ascii=False).encode()


def check_finished_line(run: ReplayRun, stream: Stream, status: str, waiting: int, quarantined: int) -> None:
    [line] = run.lines("replay finished")
    assert line["logger"] == "hookstream.replay" and line["severity"] == "INFO", line
    assert (line["stream"], line["status"], line["waiting"], line["quarantined"]) == (
        stream.name, status, waiting, quarantined), line
    if waiting == 0:
        assert line["oldest_waiting_age_seconds"] is None, line
    else:
        assert isinstance(line["oldest_waiting_age_seconds"], float), line


def test_every_kind_of_bad_object_is_quarantined_and_every_good_one_replayed_in_one_run(
        emulators: Emulators) -> None:
    stream = new_stream(emulators, "quarantine-kinds")
    good = [good_row() for _ in range(3)]
    for row in good:
        put_row(emulators, stream, row)
    old_format = good_row("orderId=N2&status=refunded")
    put(emulators, stream, f"{old_format['hit_id']}.json", v1_document(old_format))
    bad = {kind: (put(emulators, stream, file_name, data), data, error)
           for kind, (file_name, data, error) in BAD_OBJECTS.items()}

    # Batches of 3: bad objects fill whole batches before the good ones come.
    run = replay(emulators, stream, "--batch-size", "3")

    assert run.returncode == 0, run.output
    assert (run.report["status"], run.report["inserted"], run.report["quarantined"]) == ("drained", 4, 8), run.output
    assert table_rows(emulators, stream) == {row["hit_id"]: [row["payload"]] for row in [*good, old_format]}
    assert names_under(emulators, spool_prefix(stream.name)) == set()
    quarantine = quarantine_prefix(stream.name)
    assert names_under(emulators, quarantine) == {quarantine + file for file, _, _ in BAD_OBJECTS.values()}
    for kind, (name, data, error) in bad.items():
        blob = emulators.storage.bucket(BUCKET).get_blob(quarantine + name.rsplit("/", 1)[1])
        assert blob.download_as_bytes() == data, kind  # kept byte for byte
        assert error in blob.metadata["hookstream-error"], (kind, blob.metadata)
        assert blob.metadata["hookstream-source"] == name, kind
        assert MARKER not in json.dumps(blob.metadata), kind
    lines = run.lines("spool object quarantined")
    assert sorted(line["object"] for line in lines) == sorted(name for name, _, _ in bad.values())
    for line in lines:
        assert line["severity"] == "ERROR" and line["logger"] == "hookstream.replay", line
        assert line["stream"] == stream.name and line["error"], line
    assert MARKER not in run.output, "a bad object's payload reached the replay's output"
    check_finished_line(run, stream, "drained", waiting=0, quarantined=8)

    # Nothing left to retry: the next run has nothing to do.
    again = replay(emulators, stream)
    assert (again.report["listed"], again.report["quarantined"]) == (0, 0), again.output


def test_quarantined_objects_are_listed_with_their_error_and_requeued_by_hand(emulators: Emulators) -> None:
    stream = new_stream(emulators, "quarantine-requeue")
    file_name, data, error = BAD_OBJECTS["bad date"]
    name = put(emulators, stream, file_name, data)
    row = good_row()
    put(emulators, stream, "0-waits-for-a-fix.json", spool_document(row))  # named unlike its hit_id
    assert replay(emulators, stream).report["quarantined"] == 2

    listed = replay_command(emulators, stream, "--list-quarantined")
    entries = {entry["source"]: entry for entry in map(json.loads, listed.stdout.splitlines())}
    assert set(entries) == {name, spool_prefix(stream.name) + "0-waits-for-a-fix.json"}, listed
    assert error in entries[name]["error"] and entries[name]["size_bytes"] == len(data)

    requeued = replay_command(emulators, stream, "--requeue")
    assert requeued.returncode == 0 and "requeued 2 object(s)" in requeued.stderr, requeued
    assert names_under(emulators, quarantine_prefix(stream.name)) == set()
    assert names_under(emulators, spool_prefix(stream.name)) == {
        name, spool_prefix(stream.name) + "0-waits-for-a-fix.json"}
    # Not fixed: the next replay quarantines both again, and still gets past them.
    assert replay(emulators, stream).report["quarantined"] == 2


def replay_command(emulators: Emulators, stream: Stream, *args: str) -> subprocess.CompletedProcess[str]:
    env = replay_process_env(service_environment(emulators, stream, emulators.bigquery_url))
    return subprocess.run([sys.executable, "-m", "service.runtime.replay", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


class InvalidRowProxy(BigQueryProxy):
    """Answers an insertAll holding a row with `refuse` in its payload as BigQuery does with
    skipInvalidRows off: that row `invalid`, every other row of the request `stopped`, none stored."""

    def __init__(self, upstream: str, refuse: str) -> None:
        super().__init__(upstream)
        self.refuse = refuse
        self.refused_requests = 0

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        rows = json.loads(body)["rows"]
        if not any(self.refuse in row["json"]["payload"] for row in rows):
            return None
        self.refused_requests += 1
        errors = [{"index": index, "errors": [
            {"reason": "invalid", "location": "payload", "message": "no such field: payload."}
            if self.refuse in row["json"]["payload"] else {"reason": "stopped", "location": "", "message": ""}]}
            for index, row in enumerate(rows)]
        return 200, json.dumps({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errors}).encode()


def test_a_row_bigquery_refuses_as_invalid_is_quarantined_and_the_others_stored_in_the_same_run(
        emulators: Emulators) -> None:
    stream = new_stream(emulators, "quarantine-invalid")
    refused = good_row(f"orderId=N3&{MARKER}")
    fine = [good_row() for _ in range(2)]
    for row in [refused, *fine]:
        put_row(emulators, stream, row)
    proxy = InvalidRowProxy(emulators.bigquery_url, MARKER)
    try:
        run = replay(emulators, stream, bigquery_url=proxy.url)
    finally:
        proxy.close()
    assert proxy.refused_requests == 1, "BigQuery was not made to refuse the row"
    assert run.returncode == 0, run.output
    assert (run.report["status"], run.report["inserted"], run.report["quarantined"]) == ("drained", 2, 1), run.output
    assert table_rows(emulators, stream) == {row["hit_id"]: [row["payload"]] for row in fine}
    [kept] = names_under(emulators, quarantine_prefix(stream.name))
    blob = emulators.storage.bucket(BUCKET).get_blob(kept)
    assert row_from_document(blob.download_as_bytes()) == refused
    assert "BigQuery refused the row as invalid: invalid: no such field" in blob.metadata["hookstream-error"]
    assert MARKER not in run.output
    check_finished_line(run, stream, "drained", waiting=0, quarantined=1)


def test_an_object_younger_than_the_write_in_flight_window_waits_for_a_later_run(emulators: Emulators) -> None:
    # The service's default write deadline (10 s) and 30 s of slack, written out.
    assert write_in_flight_window_seconds() == 40.0
    stream = new_stream(emulators, "quarantine-young")
    row = good_row()
    name = put_row(emulators, stream, row)

    run = replay(emulators, stream, at_once=False)  # the window of the stream's settings: 1 s + 30 s
    assert run.returncode == 0, run.output
    assert (run.report["too_young"], run.report["inserted"], run.report["deleted"]) == (1, 0, 0), run.output
    check_finished_line(run, stream, "drained", waiting=1, quarantined=0)
    assert run.report["oldest_waiting_age_seconds"] < 31
    assert names_under(emulators, spool_prefix(stream.name)) == {name}
    assert table_rows(emulators, stream) == {}

    # The same object once the window has passed (a clock 32 s ahead): replayed and deleted.
    aged = Replay(stream=stream.name, table_id=f"{PROJECT}.{stream.table_ref}",
                  location=SpoolLocation(BUCKET, spool_prefix(stream.name)), bigquery=emulators.client,
                  storage=emulators.storage, min_age_seconds=write_in_flight_window_seconds(DEADLINE_SECONDS),
                  clock=lambda: time.time() + DEADLINE_SECONDS + 31.0)
    report = aged.run()
    assert (report.too_young, report.inserted, report.deleted, report.waiting) == (0, 1, 1, 0), report
    assert table_rows(emulators, stream) == {row["hit_id"]: [row["payload"]]}


def test_bigquery_unreachable_is_an_outage_the_run_exits_non_zero_and_keeps_the_rows(emulators: Emulators) -> None:
    stream = new_stream(emulators, "quarantine-outage")
    rows = [good_row() for _ in range(2)]
    names = {put_row(emulators, stream, row) for row in rows}
    file_name, data, _ = BAD_OBJECTS["not JSON"]
    put(emulators, stream, file_name, data)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    started = time.monotonic()
    run = replay(emulators, stream, bigquery_url=nobody)
    took = time.monotonic() - started
    assert run.returncode == 1, run.output
    assert (run.report["inserted"], run.report["deleted"]) == (0, 0), run.output
    # The bad object is not BigQuery's business: quarantined all the same; the good ones wait.
    check_finished_line(run, stream, "bigquery_unavailable", waiting=2, quarantined=1)
    assert names_under(emulators, spool_prefix(stream.name)) == names
    assert took < 60, f"the replay took {took:.0f} s to notice BigQuery is unreachable"
