"""The `headers` column through a real gunicorn and the real curl into the emulator: a stream's own header
names, a GET, headers nobody listed (credentials above all) left out, and a service that refuses to start
when told to keep a secret. (Each preset's vendor headers: tests/runtime/test_senders_end_to_end.py.)"""

from __future__ import annotations

import json
import subprocess

import pytest

from service.model.auth_settings import TokenAuth
from service.model.senders import GitHub
from service.model.stream import Stream, StreamDefinitionError
from tests.conftest import Emulator, ServiceFactory
from tools.local.processes import StartupFailed

pytestmark = pytest.mark.integration
SECRET = "test-secret-0123456789"


def curl(*args: str) -> dict[str, object]:
    result = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True,
                            timeout=30, check=True)
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def kept_headers(emulator: Emulator, stream: Stream, hit_id: object) -> object:
    (row,) = emulator.query(f"SELECT headers FROM `{emulator.project}.{stream.table_ref}` "
                            f"WHERE hit_id = '{hit_id}'")
    return json.loads(row["headers"])


def test_a_stream_keeps_the_headers_it_lists_and_no_other(emulator: Emulator,
                                                         start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="listed", dataset="it_headers", table="listed", auth=TokenAuth(),
                    keep_headers=("X-Event-Type", "X-Request-Id"))
    service = start_stream_service(stream, secrets=(SECRET,))
    answer = curl("-d", "orderId=N1&status=paid", "-H", f"Authorization: Bearer {SECRET}",
                  "-H", "X-Event-Type: deal.updated", "-H", "Cookie: session=4f2b9c",
                  "-H", "X-Forwarded-For: 203.0.113.7", "-A", "Acme-CRM/2.1", service.hooks_url)
    assert answer["status"] == "stored"
    assert kept_headers(emulator, stream, answer["hit_id"]) == {
        "method": "POST", "content-type": "application/x-www-form-urlencoded", "x-event-type": "deal.updated"}


def test_a_get_keeps_its_method_and_has_no_content_type(emulator: Emulator,
                                                        start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="pinged", dataset="it_headers", table="pinged", keep_headers=("X-Request-Id",))
    service = start_stream_service(stream, secrets=(SECRET,))
    answer = curl("-G", "-d", "orderId=N2&status=delivered", "-H", "X-Request-Id: 7b1e4c2a-crm",
                  f"{service.hooks_url}/{SECRET}")
    assert answer["status"] == "stored"
    assert kept_headers(emulator, stream, answer["hit_id"]) == {"method": "GET", "x-request-id": "7b1e4c2a-crm"}
    (row,) = emulator.query(f"SELECT payload FROM `{emulator.project}.{stream.table_ref}`")
    assert row["payload"] == "orderId=N2&status=delivered"


def test_a_service_told_to_keep_its_signature_header_does_not_start(start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="refused", dataset="it_headers", table="refused", auth=GitHub())
    secret = "github-webhook-secret-0123456789"
    # The same service starts with a header that may be kept: what stops it below is the header alone.
    start_stream_service(stream, secrets=(secret,), extra_env={"HOOKSTREAM_KEEP_HEADERS": '["X-Request-Id"]'})
    with pytest.raises(StartupFailed) as refused:
        start_stream_service(stream, secrets=(secret,),
                             extra_env={"HOOKSTREAM_KEEP_HEADERS": '["X-Hub-Signature-256"]'})
    assert ("HOOKSTREAM_KEEP_HEADERS: 'X-Hub-Signature-256' is invalid: never stored: the stream's auth reads it "
            "to verify the sender") in str(refused.value)
    assert secret not in str(refused.value)
    # And the stream definition itself fails at import, before any deploy.
    with pytest.raises(StreamDefinitionError, match="keep_headers='X-Hub-Signature-256' is invalid: never stored"):
        Stream(name="refused", dataset="it_headers", table="refused", auth=GitHub(),
               keep_headers=("X-Hub-Signature-256",))
