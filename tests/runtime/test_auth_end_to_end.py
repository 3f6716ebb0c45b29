"""Authentication through a real gunicorn: every mode with the signatures scripts/send makes, and a
property-based barrage of random requests that must never produce a 5xx or a row for a rejected call."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.model.auth_settings import Auth, HmacAuth, StandardWebhooksAuth, TokenAuth
from service.model.stream import Stream
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.local.dev_secrets import generate_secret
from tools.operator.send import signed_headers

pytestmark = pytest.mark.integration


def post(service: RunningService, path: str, body: bytes, headers: dict[str, str],
         method: str = "POST") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def hit_ids_in(emulator: Emulator, stream: Stream) -> list[str]:
    rows = emulator.query(f"SELECT hit_id FROM `{emulator.project}.{stream.table_ref}`")
    return [str(row["hit_id"]) for row in rows]


MODES: dict[str, Auth] = {
    "token": TokenAuth(),
    "github-style": HmacAuth(header="X-Hub-Signature-256", prefix="sha256=", delivery_id_header="X-GitHub-Delivery"),
    "slack-style": HmacAuth(header="X-Slack-Signature", prefix="v0=", signed="v0:{timestamp}:{body}",
                            timestamp_header="X-Slack-Request-Timestamp"),
    "sha512-base64": HmacAuth(header="X-Sig", algorithm="sha512", encoding="base64"),
    "standard-webhooks": StandardWebhooksAuth(),
}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_accepts_a_correctly_signed_call_and_refuses_a_tampered_one(
        mode: str, emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    auth = MODES[mode]
    stream = Stream(name="signed", dataset="it_auth", table=mode.replace("-", "_"), auth=auth)
    secret = generate_secret(auth)
    service = start_stream_service(stream, secrets=(generate_secret(auth), secret))  # a retired one too
    body = b'{"orderId": "N1", "status": "delivered"}'
    headers = signed_headers(auth, secret, body, int(time.time()), "msg_test_1")
    status, answer = post(service, "/hooks", body, headers)
    assert status == 200, answer
    hit_id = json.loads(answer)["hit_id"]

    if isinstance(auth, TokenAuth):  # a token does not cover the body: send a wrong token instead
        tampered_status, tampered_answer = post(service, "/hooks", body, {"Authorization": "Bearer nope"})
    else:
        tampered_status, tampered_answer = post(service, "/hooks", body + b" ", headers)
    assert tampered_status == 401, tampered_answer
    assert secret not in tampered_answer.decode()
    assert hit_ids_in(emulator, stream) == [hit_id]
    delivery = emulator.query(f"SELECT delivery_id FROM `{emulator.project}.{stream.table_ref}`")[0]["delivery_id"]
    expects_delivery_id = isinstance(auth, StandardWebhooksAuth) or mode == "github-style"
    assert delivery == ("msg_test_1" if expects_delivery_id else None)


def test_scripts_send_makes_a_valid_call_and_masks_the_secret(start_stream_service: ServiceFactory,
                                                              emulator: Emulator) -> None:
    # crm-leads is a shipped (token) stream; scripts/send reads its auth mode from infra/streams.py.
    from infra.streams import STREAMS

    stream = next(s for s in STREAMS if s.name == "crm-leads")
    stream = Stream(name=stream.name, dataset="it_send", table="leads", auth=stream.auth)
    secret = generate_secret(stream.auth)
    service = start_stream_service(stream, secrets=(secret,))
    result = subprocess.run(["scripts/send", "--stream", "crm-leads", "--url", service.hooks_url,
                             "leadId=L1&status=qualified"], capture_output=True, text=True, timeout=60,
                            env={"HOOKSTREAM_SECRET": secret, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "< 200" in result.stdout
    assert secret not in result.stdout + result.stderr
    assert len(hit_ids_in(emulator, stream)) == 1


@dataclass
class Barrage:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)


SECRET = "barrage-secret-0123456789abcdef"
paths = st.one_of(
    st.just(f"/hooks/{SECRET}"),  # weighted towards valid calls, so that writes happen too
    st.sampled_from(["/hooks", "/hooks/"]),
    st.sampled_from(["/hooks/wrong-secret", "/", "/health", "/hooks/a/b", f"/hooks/{SECRET}x", "/HOOKS"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: "/" + urllib.parse.quote(s)),
)
queries = st.one_of(st.just(""), st.text(max_size=40).map(lambda s: "?" + urllib.parse.quote(s, safe="=&")))
bodies = st.one_of(
    st.text(max_size=300).map(str.encode),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.just(b""),
    st.integers(min_value=2000, max_value=6000).map(lambda n: b"x" * n),  # over the 2048-byte limit
    st.just(b"name=J\xfcrgen"),  # latin-1, not UTF-8
)
header_sets = st.fixed_dictionaries({}, optional={
    "Authorization": st.sampled_from([f"Bearer {SECRET}", "Bearer nope", "Basic abc", "Bearer", ""]),
    "Content-Type": st.sampled_from(["application/json", "application/x-www-form-urlencoded; charset=utf-8",
                                     "text/xml", "multipart/form-data; boundary=x", "application/octet-stream"]),
    "X-Cloud-Trace-Context": st.text(alphabet="abcdef0123456789/;=o", max_size=40),
})


def test_random_requests_never_fail_the_server_or_write_a_rejected_row(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="barrage", dataset="it_auth", table="barrage", max_body_bytes=2048)
    service = start_stream_service(stream, secrets=(SECRET,), threads=4)
    barrage = Barrage()

    @settings(max_examples=1500, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(method=st.one_of(st.just("POST"), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                                               "OPTIONS"])),
           path=paths, query=queries, body=bodies, headers=header_sets)
    def one_request(method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> None:
        status, answer = post(service, path + query, body, headers, method=method)
        barrage.sent += 1
        barrage.statuses[status] = barrage.statuses.get(status, 0) + 1
        assert status < 500, (method, path, query, body[:80], headers, answer[:200])
        if 200 <= status < 300 and path != "/health":
            barrage.acknowledged.append(json.loads(answer)["hit_id"])

    one_request()
    print(f"\nbarrage: {barrage.sent} requests sent, statuses {dict(sorted(barrage.statuses.items()))}, "
          f"{len(barrage.acknowledged)} acknowledged")
    stored = hit_ids_in(emulator, stream)
    assert sorted(stored) == sorted(barrage.acknowledged)
    assert barrage.sent >= 1500
    assert any(400 <= status < 500 for status in barrage.statuses)
    # The service still answers normally afterwards.
    assert post(service, f"/hooks/{SECRET}", b"orderId=N1", {})[0] == 200
