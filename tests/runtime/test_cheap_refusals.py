"""Bodies built to make the pre-authentication parse expensive or crash it, sent to a real gunicorn: each is
refused with 401 and the code that says why, nothing is stored, no ERROR line is logged (the 5xx alert stays
quiet), and what the refusal cost the worker in CPU is printed (no timed assertion: the machine is shared; the
bound is by construction and tested in test_body_token_scan.py). Senders that parse only after their check
passed answer as for any other body, never 500."""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.model.auth_settings import Auth
from service.model.senders import Bitrix24, BodyToken, Monday, Stripe
from service.model.stream import Stream
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.operator.sender_requests import shape_request

pytestmark = pytest.mark.integration

TOKEN = "51856fefc120afa4b628cc82d3935cce"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Stranger:
    auth: Auth
    body: bytes
    content_type: str
    code: str


STRANGERS: dict[str, Stranger] = {
    # RecursionError in json.loads before: 500 and the 5xx alert.
    "json nested 200,000 deep": Stranger(BodyToken("meta.secret"), b"[" * 200_000, "application/json",
                                         "missing_token"),
    # About 350,000 empty lists: a full parse allocates one object per element before refusing.
    "json 1 MiB of empty lists": Stranger(BodyToken("meta.secret"), b'{"data":[' + b"[]," * 349_000 + b"[]]}",
                                          "application/json", "missing_token"),
    "json token field repeated 70,000 times": Stranger(BodyToken("meta.secret"), b"{" + b'"secret":"x",' * 70_000
                                                       + b'"end":1}', "application/json", "bad_token"),
    # 0.42 s of CPU in parse_qs before.
    "form 1 MiB of a&a&": Stranger(Bitrix24(), b"a&" * (MIB // 2 - 1), "application/x-www-form-urlencoded",
                                   "missing_token"),
    "form token field repeated": Stranger(Bitrix24(), b"auth%5Bapplication_token%5D=x&" * 30_000 + b"a=1",
                                          "application/x-www-form-urlencoded", "missing_token"),
    "stripe unsigned deep json": Stranger(Stripe(), b"[" * 200_000, "application/json", "missing_header"),
}


def post(service: RunningService, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def worker_cpu_seconds(service: RunningService) -> float:
    """User + system CPU of the gunicorn master's children (the worker that serves the hits)."""
    master = service.process.popen.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ticks = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def count_rows(emulator: Emulator, stream: Stream) -> int:
    rows = emulator.query(f"SELECT COUNT(*) AS n FROM `{emulator.project}.{stream.table_ref}`")
    return int(rows[0]["n"])


def error_lines(service: RunningService) -> list[str]:
    """Log lines of severity ERROR or worse, or lines that are not the service's JSON (a traceback)."""
    found = []
    for line in service.process.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            found.append(line)
            continue
        if not isinstance(entry, dict) or entry.get("severity") in ("ERROR", "CRITICAL"):
            found.append(line)
    return found


@pytest.mark.parametrize("name", STRANGERS)
def test_a_strangers_pathological_body_is_refused_with_401_and_stores_nothing(
        name: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    case = STRANGERS[name]
    table = "".join(c if c.isalnum() else "_" for c in name)
    stream = Stream(name="stranger", dataset="it_refusals", table=table, auth=case.auth)
    service = start_stream_service(stream, secrets=(TOKEN,))
    assert len(case.body) <= MIB
    before = worker_cpu_seconds(service)
    started = time.perf_counter()
    status, answer = post(service, "/hooks", case.body, {"Content-Type": case.content_type})
    elapsed = time.perf_counter() - started
    spent = worker_cpu_seconds(service) - before
    print(f"\n{name}: {len(case.body)} bytes refused in {elapsed * 1000:.1f} ms wall, "
          f"worker CPU {spent * 1000:.0f} ms (10 ms clock ticks; includes reading the body)")
    assert status == 401, answer
    error = json.loads(answer)["error"]
    assert error["code"] == case.code
    assert TOKEN not in error["message"]
    assert count_rows(emulator, stream) == 0
    assert error_lines(service) == []


def test_a_token_holders_body_too_deep_to_parse_is_refused_with_401_not_500(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    # The token matches, so the body is parsed in full to confirm it sits at meta.secret: too deep for Python.
    stream = Stream(name="deep", dataset="it_refusals", table="deep_with_token", auth=BodyToken("meta.secret"))
    service = start_stream_service(stream, secrets=(TOKEN,))
    body = b'{"meta": {"secret": "%s"}, "rest": ' % TOKEN.encode() + b"[" * 100_000
    status, answer = post(service, "/hooks", body, {"Content-Type": "application/json"})
    assert (status, json.loads(answer)["error"]["code"]) == (401, "missing_token"), answer
    assert "valid JSON object" in json.loads(answer)["error"]["message"]
    assert count_rows(emulator, stream) == 0 and error_lines(service) == []
    good = b'{"meta": {"secret": "%s"}, "orderId": "N1"}' % TOKEN.encode()
    status, answer = post(service, "/hooks", good, {"Content-Type": "application/json"})
    assert status == 200, answer
    assert emulator.query(f"SELECT payload FROM `{emulator.project}.{stream.table_ref}`") == [
        {"payload": '{"meta": {"secret": "[redacted]"}, "orderId": "N1"}'}]


def test_signed_or_token_carrying_deep_bodies_are_stored_not_answered_500(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    # Stripe reads the event id from a signed body, monday looks for its challenge in a token holder's body:
    # both parsed with json.loads and raised RecursionError (500) on a deep body. Such a body is any other hit.
    deep = b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    for auth, path in ((Stripe(), "/hooks"), (Monday(), f"/hooks/{TOKEN}")):
        stream = Stream(name="deep", dataset="it_refusals", table=f"deep_{auth.mode}", auth=auth)
        service = start_stream_service(stream, secrets=(TOKEN,))
        shaped = shape_request(auth, TOKEN, service.base_url + path, deep, time.time(), "")
        status, answer = post(service, path, shaped.body, {"Content-Type": "application/json", **shaped.headers})
        assert status == 200, answer
        assert json.loads(answer)["status"] == "stored"
        assert emulator.query(f"SELECT payload, delivery_id FROM `{emulator.project}.{stream.table_ref}`") == [
            {"payload": deep.decode(), "delivery_id": None}]
        assert error_lines(service) == []
