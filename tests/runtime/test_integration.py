"""End to end with real parts: bqemulator over HTTP, gunicorn with the production config, curl as client.

Each test gets its own table, so row counts are exact.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from infra.streams import STREAMS
from service.model.schema import PARTITION_FIELD, ROW_COLUMNS
from service.model.stream import Stream, TableOptions
from service.model.timezones import parse_time_zone
from tests.conftest import Emulator, ServiceFactory
from tools.local.processes import REPO_ROOT, free_port_run
from tools.local.provision import provision

pytestmark = pytest.mark.integration


def curl(*args: str) -> tuple[int, dict[str, object]]:
    """Run the real curl; returns (HTTP status, JSON body)."""
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body)


def rows_of(emulator: Emulator, stream: Stream) -> list[dict[str, object]]:
    return emulator.query(f"SELECT * FROM `{emulator.project}.{stream.table_ref}` ORDER BY received_at")


def test_the_local_table_has_exactly_the_layout_the_service_writes(emulator: Emulator) -> None:
    stream = Stream(name="layout", dataset="it_layout", table="hits",
                    table_options=TableOptions(clustering=("hit_id",)))
    provision(emulator.client, [stream], emulator.project)
    provision(emulator.client, [stream], emulator.project)  # a second run keeps the table as it is
    table = emulator.client.get_table(f"{emulator.project}.{stream.table_ref}")
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        (c.name, c.type, c.mode) for c in ROW_COLUMNS]
    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == PARTITION_FIELD


def test_the_products_curl_becomes_exactly_one_row(emulator: Emulator,
                                                   start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="orders", dataset="it_core", table="orders", time_zone="Europe/Berlin")
    service = start_stream_service(stream)
    before_ms = int(time.time() * 1000)
    status, answer = curl("-d", "orderId=N1&status=delivered&total=120.13&userId=U1",
                          f"{service.hooks_url}/{service.secrets[0]}")
    after_ms = int(time.time() * 1000)
    assert status == 200, answer
    rows = rows_of(emulator, stream)
    assert len(rows) == 1
    row = rows[0]
    assert row["hit_id"] == answer["hit_id"]
    assert row["payload"] == "orderId=N1&status=delivered&total=120.13&userId=U1"
    assert isinstance(row["received_at"], int) and before_ms <= row["received_at"] <= after_ms
    berlin_day = datetime.fromtimestamp(row["received_at"] / 1000, parse_time_zone("Europe/Berlin")).date()
    assert row["date"] == berlin_day
    assert row["delivery_id"] is None


def test_json_put_get_and_bearer_calls_land_byte_for_byte(emulator: Emulator,
                                                          start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="orders", dataset="it_core", table="kinds")
    service = start_stream_service(stream)
    secret_url = f"{service.hooks_url}/{service.secrets[0]}"
    json_body = '{"orderId": "N2", "status": "refunded", "name": "Jürgen €"}'
    sent = [
        curl("-H", "Content-Type: application/json; charset=utf-8", "--data-binary", json_body, secret_url),
        curl("-X", "PUT", "-H", "Content-Type: text/xml", "--data-binary", "<o id='N3'/>", secret_url),
        curl(f"{secret_url}?orderId=N4&status=paid"),
        curl("-H", f"Authorization: Bearer {service.secrets[0]}", "-d", "orderId=N5", service.hooks_url),
    ]
    assert [status for status, _ in sent] == [200, 200, 200, 200]
    stored = {row["hit_id"]: row["payload"] for row in rows_of(emulator, stream)}
    assert stored == {
        sent[0][1]["hit_id"]: json_body,
        sent[1][1]["hit_id"]: "<o id='N3'/>",
        sent[2][1]["hit_id"]: "orderId=N4&status=paid",
        sent[3][1]["hit_id"]: "orderId=N5",
    }


def test_rejected_calls_get_clear_errors_and_leave_the_table_empty(
        emulator: Emulator, start_stream_service: ServiceFactory, tmp_path: Path) -> None:
    stream = Stream(name="orders", dataset="it_core", table="rejects", max_body_bytes=1000)
    service = start_stream_service(stream)
    url = f"{service.hooks_url}/{service.secrets[0]}"
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 5000)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("name=Jürgen".encode("latin-1"))
    cases = {
        "body_too_large": curl("--data-binary", f"@{big}", url),
        "chunked_too_large": curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{big}", url),
        "invalid_utf8": curl("--data-binary", f"@{latin1}", url),
        "empty_body": curl("-X", "POST", url),
        "bad_token": curl("-d", "a=1", f"{service.hooks_url}/not-the-secret"),
        "missing_token": curl("-d", "a=1", service.hooks_url),
        "not_found": curl("-d", "a=1", f"{service.base_url}/elsewhere"),
        "method_not_allowed": curl("-X", "DELETE", url),
    }
    statuses = {name: status for name, (status, _) in cases.items()}
    assert statuses == {"body_too_large": 413, "chunked_too_large": 413, "invalid_utf8": 400, "empty_body": 400,
                        "bad_token": 401, "missing_token": 401, "not_found": 404, "method_not_allowed": 405}
    for name, (_, answer) in cases.items():
        error = answer["error"]
        assert isinstance(error, dict) and error["message"], name
        assert service.secrets[0] not in json.dumps(answer)
    assert rows_of(emulator, stream) == []
    # ...and the service still works afterwards; a chunked body within the limit is stored whole.
    fits = tmp_path / "fits.txt"
    fits.write_bytes(b"z" * 1000)
    assert curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{fits}", url)[0] == 200
    assert [row["payload"] for row in rows_of(emulator, stream)] == ["z" * 1000]


def test_scripts_dev_runs_the_whole_stack_and_stops_cleanly(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    # scripts/dev takes consecutive ports: one per stream, and the emulator's REST port + 10 for gRPC.
    first = free_port_run(11 + len(STREAMS))
    env = {**os.environ, "HOOKSTREAM_DEV_DIR": str(dev_dir), "HOOKSTREAM_DEV_EMULATOR_PORT": str(first),
           "HOOKSTREAM_DEV_PORT": str(first + 11)}

    def run_dev_and_send() -> tuple[str, int]:
        dev = subprocess.Popen([str(REPO_ROOT / "scripts" / "dev")], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        try:
            endpoints_file = dev_dir / "endpoints.json"
            deadline = time.monotonic() + 120
            while not endpoints_file.exists():
                assert dev.poll() is None, dev.stdout.read() if dev.stdout else ""
                assert time.monotonic() < deadline, "scripts/dev did not write endpoints.json"
                time.sleep(0.3)
            endpoints = json.loads(endpoints_file.read_text())
            assert set(endpoints) >= {"crm-orders", "crm-leads"}
            # The URLs hold the endpoint secrets: readable by their owner only, like secrets.json.
            assert stat.S_IMODE(endpoints_file.stat().st_mode) == 0o600
            status, answer = curl("-d", "orderId=N1&status=delivered&total=120.13&userId=U1",
                                  endpoints["crm-orders"])
            assert status == 200, answer
            query = subprocess.run([str(REPO_ROOT / "scripts" / "query"),
                                    "SELECT hit_id, payload FROM crm.orders ORDER BY received_at"],
                                   env=env, capture_output=True, text=True, timeout=60, check=True)
            lines = [json.loads(line) for line in query.stdout.splitlines()]
            assert lines[-1] == {"hit_id": answer["hit_id"],
                                 "payload": "orderId=N1&status=delivered&total=120.13&userId=U1"}
            return str(answer["hit_id"]), len(lines)
        finally:
            dev.send_signal(signal.SIGTERM)
            output, _ = dev.communicate(timeout=60)
            assert dev.returncode == 0, output
            assert "stopped." in output
            assert not (dev_dir / "endpoints.json").exists()

    first_hit, first_count = run_dev_and_send()
    assert first_count == 1
    # A second run keeps the data and the tables (and the same secret URLs).
    second_hit, second_count = run_dev_and_send()
    assert second_count == 2 and first_hit != second_hit


def test_a_local_table_from_an_older_row_layout_gets_the_new_columns_and_keeps_its_rows(emulator: Emulator) -> None:
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    stream = Stream(name="old", dataset="it_migrate", table="hits")
    table_id = f"{emulator.project}.{stream.table_ref}"
    emulator.client.create_dataset(f"{emulator.project}.{stream.dataset}", exists_ok=True)
    old_columns = [c for c in ROW_COLUMNS if c.name != "delivery_id"]
    emulator.client.create_table(bigquery.Table(table_id, schema=[
        bigquery.SchemaField(c.name, c.type, mode=c.mode) for c in old_columns]))
    old_row = {"hit_id": "h-old", "payload": "a=1", "received_at": 1603131452000, "date": "2020-10-19"}
    bounded = Retry(timeout=20)  # the emulator answers a failed insert with a 500, which the client retries
    assert emulator.client.insert_rows_json(table_id, [old_row], retry=bounded, timeout=10) == []

    provision(emulator.client, [stream], emulator.project)

    new_row = {**old_row, "hit_id": "h-new", "delivery_id": "d-1"}
    assert emulator.client.insert_rows_json(table_id, [new_row], retry=bounded, timeout=10) == []
    rows = {row["hit_id"]: row["delivery_id"] for row in rows_of(emulator, stream)}
    assert rows == {"h-old": None, "h-new": "d-1"}


def test_a_table_of_the_previous_release_gains_the_headers_column_and_keeps_its_rows(
        emulator: Emulator) -> None:
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    stream = Stream(name="prev", dataset="it_migrate", table="before_headers")
    table_id = f"{emulator.project}.{stream.table_ref}"
    emulator.client.create_dataset(f"{emulator.project}.{stream.dataset}", exists_ok=True)
    # The row layout of the release before the headers column, written out (not derived from ROW_COLUMNS).
    previous_layout = [bigquery.SchemaField("hit_id", "STRING", mode="REQUIRED"),
                       bigquery.SchemaField("payload", "STRING"), bigquery.SchemaField("received_at", "INTEGER"),
                       bigquery.SchemaField("date", "DATE"), bigquery.SchemaField("delivery_id", "STRING")]
    table = bigquery.Table(table_id, schema=previous_layout)
    table.time_partitioning = bigquery.TimePartitioning(type_="DAY", field="date")
    emulator.client.create_table(table)
    old_rows = [{"hit_id": f"h-old-{n}", "payload": f"orderId=N{n}", "received_at": 1603131452000 + n,
                 "date": "2020-10-19", "delivery_id": None if n % 2 else f"d-{n}"} for n in range(3)]
    bounded = Retry(timeout=20)
    assert emulator.client.insert_rows_json(table_id, old_rows, retry=bounded, timeout=10) == []
    # The starting point first: a table without the column, holding rows.
    assert "headers" not in [field.name for field in emulator.client.get_table(table_id).schema]
    assert len(emulator.query(f"SELECT hit_id FROM `{table_id}`")) == 3

    provision(emulator.client, [stream], emulator.project)

    columns = [(field.name, field.field_type, field.mode) for field in emulator.client.get_table(table_id).schema]
    assert columns == [("hit_id", "STRING", "REQUIRED"), ("payload", "STRING", "NULLABLE"),
                       ("received_at", "INTEGER", "NULLABLE"), ("date", "DATE", "NULLABLE"),
                       ("delivery_id", "STRING", "NULLABLE"), ("headers", "STRING", "NULLABLE")]
    new_row = {"hit_id": "h-new", "payload": "orderId=N9", "received_at": 1603131453000, "date": "2020-10-19",
               "delivery_id": None, "headers": '{"method":"POST","x-shopify-topic":"orders/paid"}'}
    assert emulator.client.insert_rows_json(table_id, [new_row], retry=bounded, timeout=10) == []
    rows = emulator.query(f"SELECT hit_id, payload, delivery_id, headers FROM `{table_id}` ORDER BY hit_id")
    assert rows == [
        {"hit_id": "h-new", "payload": "orderId=N9", "delivery_id": None,
         "headers": '{"method":"POST","x-shopify-topic":"orders/paid"}'},
        {"hit_id": "h-old-0", "payload": "orderId=N0", "delivery_id": "d-0", "headers": None},
        {"hit_id": "h-old-1", "payload": "orderId=N1", "delivery_id": None, "headers": None},
        {"hit_id": "h-old-2", "payload": "orderId=N2", "delivery_id": "d-2", "headers": None},
    ]
