"""scripts/backfill: records -> rows, and loads into the emulator from a path, s3:// (moto_server) and
gs:// (gcp-storage-emulator), all real servers on loopback."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.streams import STREAMS
from service.model.stream import Stream
from service.model.timezones import parse_time_zone
from service.runtime.bigquery_client import make_client
from tools.local.processes import free_port, write_json
from tools.local.provision import provision
from tools.operator.backfill.__main__ import main
from tools.operator.backfill.load import Backfill, LoadOptions
from tools.operator.backfill.progress import Progress
from tools.operator.backfill.records import (
    MalformedRecord,
    encode_payload,
    hit_id_for,
    read_records,
    received_at_ms,
)

# A copy of the CRM export sample the product brief ships (shared/samples/crm_orders.csv), kept with the tests.
SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "crm_orders.csv"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
BERLIN = parse_time_zone("Europe/Berlin")
NDJSON = (b'{"orderId": "N7", "status": "paid", "total": 10.5, "updatedAt": "2021-03-01T10:00:00Z"}\n'
          b'{"orderId": "N8", "status": "shipped", "total": 20, "updatedAt": "2021-03-02"}\n')


# --- records -> rows -------------------------------------------------------------------------------

def test_form_payload_is_what_a_crm_form_post_sends() -> None:
    record = {"orderId": "N1", "note": "a b&c=d ü", "total": 12.5, "paid": True, "gone": None}
    assert encode_payload(record, "form") == "orderId=N1&note=a+b%26c%3Dd+%C3%BC&total=12.5&paid=true"
    assert encode_payload(record, "json") == \
        '{"orderId":"N1","note":"a b&c=d ü","total":12.5,"paid":true,"gone":null}'


def test_hit_id_is_a_uuid5_of_stream_and_content_not_of_column_order() -> None:
    record = {"orderId": "N1", "status": "paid"}
    hit_id = hit_id_for(CRM_ORDERS, record)
    assert uuid.UUID(hit_id).version == 5
    assert hit_id == hit_id_for(CRM_ORDERS, {"status": "paid", "orderId": "N1"})
    assert hit_id != hit_id_for(CRM_ORDERS, {"orderId": "N1", "status": "shipped"})
    other = Stream(name="other", dataset="crm", table="other")
    assert hit_id != hit_id_for(other, record)


def test_receipt_time_from_a_date_is_midnight_in_the_stream_time_zone() -> None:
    assert received_at_ms("2020-01-15", BERLIN) == 1579042800000  # 2020-01-14T23:00:00Z
    assert received_at_ms("2020-01-15T10:00:00Z", BERLIN) == 1579082400000
    assert received_at_ms("2020-01-15T11:00:00", BERLIN) == 1579082400000  # naive: Berlin time
    with pytest.raises(ValueError, match="ISO 8601"):
        received_at_ms("15/01/2020", BERLIN)


def test_csv_records_carry_the_line_they_start_on() -> None:
    text = b'\xef\xbb\xbforderId,note\nN1,"two\nlines"\n\nN2,x\n'
    records = list(read_records(io.BytesIO(text), "csv"))
    assert [(r.line, r.fields) for r in records] == [
        (2, {"orderId": "N1", "note": "two\nlines"}), (5, {"orderId": "N2", "note": "x"})]


@pytest.mark.parametrize(
    ("source_format", "data", "line", "reason"),
    [
        ("csv", b"orderId,status\nN1,paid\nN2,paid,extra\n", 3, "expected 2 fields"),
        ("csv", b'orderId,status\nN1,"pa"id\n', 2, "not valid CSV"),
        ("csv", b"orderId,orderId\nN1,N1\n", 1, "distinct"),
        ("ndjson", b'{"orderId": "N1"}\n\n{"orderId": N2}\n', 3, "not valid JSON"),
        ("ndjson", b'{"orderId": "N1"}\n["N2"]\n', 2, "JSON object"),
        ("ndjson", b'{"orderId": "N1"}\n{"orderId": "\xff"}\n', 2, "UTF-8"),
    ],
)
def test_a_malformed_record_names_its_line(source_format: Any, data: bytes, line: int, reason: str) -> None:
    with pytest.raises(MalformedRecord) as caught:
        list(read_records(io.BytesIO(data), source_format))
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_progress_bar_draws_only_on_a_terminal() -> None:
    drawn = io.StringIO()
    bar = Progress(1000, out=drawn, enabled=True)
    bar.update(500, 10, 5, force=True)
    bar.finish()
    assert re.search(r"\[#{15}-{15}\]\s+50%\s+10 records read, 5 rows written", drawn.getvalue())
    silent = io.StringIO()  # a StringIO is not a TTY
    Progress(1000, out=silent).update(500, 10, 5, force=True)
    assert silent.getvalue() == ""


# --- loads into the emulator -----------------------------------------------------------------------

def local_stack(emulator: Any, tmp_path: Path, project: str) -> tuple[Path, Any]:
    """A stack.json like scripts/dev writes, naming the shared emulator and a project of this test."""
    client = make_client(project, emulator.url)
    provision(client, [CRM_ORDERS], project)
    stack_dir = tmp_path / "dev"
    write_json(stack_dir / "stack.json", {"project": project, "emulator_url": emulator.url})
    return stack_dir, client


def table_rows(client: Any, project: str) -> list[dict[str, Any]]:
    sql = f"SELECT hit_id, payload, received_at, date, headers FROM `{project}.crm.orders` ORDER BY payload"
    return [dict(row) for row in client.query(sql, timeout=30).result(timeout=60)]


@pytest.mark.integration
def test_sample_csv_loads_as_hits_and_a_rerun_writes_nothing(
        emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack_dir, client = local_stack(emulator, tmp_path, "bf-local")
    argv = ["--stream", "crm-orders", "--dir", str(stack_dir), "--received-at-column", "updatedAt",
            str(SAMPLE_CSV)]
    assert main(argv) == 0
    assert "3 records read: 3 rows written, 0 already loaded" in capsys.readouterr().out
    rows = table_rows(client, "bf-local")
    assert [row["payload"] for row in rows] == [
        "createdAt=2020-01-10&updatedAt=2020-01-15&orderId=N1&currency=USD&total=120.13&status=delivered&userId=U1",
        "createdAt=2020-01-15&updatedAt=2020-01-20&orderId=N2&currency=USD&total=96.12&status=refunded&userId=U2",
        "createdAt=2020-01-20&updatedAt=2020-01-20&orderId=N3&currency=USD&total=299.99&status=received&userId=U3",
    ]
    assert [(row["received_at"], row["date"]) for row in rows] == [
        (1579042800000, dt.date(2020, 1, 15)), (1579474800000, dt.date(2020, 1, 20)),
        (1579474800000, dt.date(2020, 1, 20))]
    assert [row["headers"] for row in rows] == [None, None, None]  # no request, so no headers: NULL

    assert main(argv) == 0
    assert "3 records read: 0 rows written, 3 already loaded" in capsys.readouterr().out
    assert table_rows(client, "bf-local") == rows


@pytest.mark.integration
def test_a_malformed_record_stops_the_load_after_the_records_before_it(
        emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack_dir, client = local_stack(emulator, tmp_path, "bf-malformed")
    export = tmp_path / "orders.ndjson"
    good = [json.dumps({"orderId": f"M{i}", "status": "paid"}) for i in range(1, 5)]
    export.write_text("\n".join([good[0], good[1], '{"orderId": "M3", "status": paid}', good[3]]) + "\n")
    argv = ["--stream", "crm-orders", "--dir", str(stack_dir), "--batch-size", "1", str(export)]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert f"{export} line 3: not valid JSON" in error
    assert "This run wrote 2 rows" in error and "Nothing from line 3 on was written" in error
    assert sorted(json.loads(r["payload"])["orderId"] for r in table_rows(client, "bf-malformed")) == ["M1", "M2"]

    export.write_text("\n".join([good[0], good[1], good[2], good[3]]) + "\n")
    assert main(argv) == 0
    assert "4 records read: 2 rows written, 2 already loaded" in capsys.readouterr().out
    assert len(table_rows(client, "bf-malformed")) == 4


@pytest.mark.integration
def test_without_a_receipt_column_rows_get_the_load_time(emulator: Any) -> None:
    client = make_client("bf-now", emulator.url)
    provision(client, [CRM_ORDERS], "bf-now")
    load_ms = 1_700_000_000_000  # 2023-11-14T22:13:20Z, 23:13 in Berlin: still the 14th there
    options = LoadOptions(source_format="ndjson", payload_format="form")
    with _bytes_source(NDJSON) as source:
        counts = Backfill(client, CRM_ORDERS, "bf-now.crm.orders", options, clock_ms=lambda: load_ms).run(source)
    assert counts.written == 2
    rows = table_rows(client, "bf-now")
    assert {(r["received_at"], r["date"]) for r in rows} == {(load_ms, dt.date(2023, 11, 14))}
    assert rows[0]["payload"] == "orderId=N7&status=paid&total=10.5&updatedAt=2021-03-01T10%3A00%3A00Z"


def _bytes_source(data: bytes) -> Any:
    from contextlib import contextmanager

    from tools.operator.backfill.sources import Source

    @contextmanager
    def opened() -> Iterator[Source]:
        yield Source("memory.ndjson", io.BytesIO(data), len(data))

    return opened()


def serve_on_loopback(command: str, *args: str) -> Iterator[str]:
    """Run a server from the venv's bin/ on a free loopback port until the fixture ends (stopped by PID)."""
    port = free_port()
    argv = [str(Path(sys.executable).parent / command), *(a.replace("{port}", str(port)) for a in args)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert server.poll() is None and time.monotonic() < deadline, f"{command} did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    """A real moto_server (S3) on loopback."""
    yield from serve_on_loopback("moto_server", "-H", "127.0.0.1", "-p", "{port}")


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[str]:
    """A real GCS emulator (gcp-storage-emulator, the JSON API in memory) on loopback."""
    yield from serve_on_loopback("gcp-storage-emulator", "start", "--host", "127.0.0.1", "--port", "{port}",
                                 "--in-memory")


@pytest.mark.integration
def test_s3_export_loads_through_boto3_against_moto(
        emulator: Any, moto_s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    for name, value in {"AWS_ENDPOINT_URL": moto_s3, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="crm-exports")
    s3.put_object(Bucket="crm-exports", Key="2021/orders.ndjson", Body=NDJSON)
    stack_dir, client = local_stack(emulator, tmp_path, "bf-s3-export")

    argv = ["--stream", "crm-orders", "--dir", str(stack_dir), "--received-at-column", "updatedAt",
            "s3://crm-exports/2021/orders.ndjson"]
    assert main(argv) == 0
    assert "2 records read: 2 rows written" in capsys.readouterr().out
    rows = table_rows(client, "bf-s3-export")
    assert [json.loads(r["payload"]) for r in rows] == [json.loads(line) for line in NDJSON.splitlines()]
    assert [r["date"] for r in rows] == [dt.date(2021, 3, 1), dt.date(2021, 3, 2)]

    assert main([*argv[:-1], "s3://crm-exports/missing.ndjson"]) == 2
    assert "s3://crm-exports/missing.ndjson: cannot read it (NoSuchKey)" in capsys.readouterr().err


@pytest.mark.integration
def test_gcs_export_loads_through_the_storage_client(
        emulator: Any, gcs_emulator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    gcs = storage.Client(project="bf-gcs", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    gcs.create_bucket("crm-exports").blob("2021/orders.ndjson").upload_from_string(NDJSON)
    stack_dir, client = local_stack(emulator, tmp_path, "bf-gcs")
    argv = ["--stream", "crm-orders", "--dir", str(stack_dir), "gs://crm-exports/2021/orders.ndjson"]
    assert main(argv) == 0
    assert "2 records read: 2 rows written" in capsys.readouterr().out
    assert main([*argv[:-1], "gs://crm-exports/missing.ndjson"]) == 2
    assert "gs://crm-exports/missing.ndjson: cannot read it (NotFound" in capsys.readouterr().err
    assert [json.loads(r["payload"])["orderId"] for r in table_rows(client, "bf-gcs")] == ["N7", "N8"]


def test_cli_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stream", "nope", "--dir", str(tmp_path), str(SAMPLE_CSV)]) == 2
    assert "no stream named 'nope'" in capsys.readouterr().err
    assert main(["--stream", "crm-orders", "--dir", str(tmp_path), str(SAMPLE_CSV)]) == 2
    assert "the local stack is not running" in capsys.readouterr().err
    assert main(["--stream", "crm-orders", "--dir", str(tmp_path), "export.txt"]) == 2
    assert "--format csv or ndjson" in capsys.readouterr().err
