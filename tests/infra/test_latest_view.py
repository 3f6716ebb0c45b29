"""The `<table>_latest` view: the declaration's rules, the SQL builder, and the view in the emulator
over backfilled history plus live hits sent through a real gunicorn endpoint."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from infra.streams import STREAMS
from infra.views.latest import latest_view_id, latest_view_sql
from service.model.auth_settings import HmacAuth
from service.model.latest import LatestView, PayloadField
from service.model.schema import ROW_COLUMNS
from service.model.senders import Shopify, Stripe
from service.model.stream import Stream, StreamDefinitionError
from tools.local.provision import ensure_latest_view, provision
from tools.operator.backfill.load import Backfill, LoadOptions
from tools.operator.backfill.sources import open_source

# A copy of the CRM export sample the product brief ships (shared/samples/crm_orders.csv), kept with the tests.
SAMPLE_CSV = Path(__file__).resolve().parents[1] / "data" / "crm_orders.csv"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
UTC = dt.UTC


def orders_view(**overrides: Any) -> LatestView:
    settings: dict[str, Any] = {
        "fields": (PayloadField("orderId"), PayloadField("status"), PayloadField("total", "NUMERIC"),
                   PayloadField("updatedAt", "TIMESTAMP")),
        "key": "orderId", "version_field": "updatedAt", **overrides}
    return LatestView(**settings)


# --- the declaration -------------------------------------------------------------------------------

def test_crm_orders_declares_the_sample_fields_keyed_by_order_and_versioned_by_update() -> None:
    view = CRM_ORDERS.latest
    assert view is not None
    assert {(f.name, f.type) for f in view.fields} == {
        ("orderId", "STRING"), ("status", "STRING"), ("total", "NUMERIC"), ("currency", "STRING"),
        ("userId", "STRING"), ("createdAt", "TIMESTAMP"), ("updatedAt", "TIMESTAMP")}
    assert (view.key, view.version_field) == ("orderId", "updatedAt")
    assert latest_view_id(CRM_ORDERS) == "orders_latest"


@pytest.mark.parametrize(
    ("view", "field", "hint"),
    [
        (orders_view(fields=()), "latest.fields", "non-empty"),
        (orders_view(fields=(PayloadField("orderId"), PayloadField("total", "MONEY"))),  # type: ignore[arg-type]
         "latest.fields[1].type", "NUMERIC"),
        (orders_view(fields=(PayloadField("orderId"), PayloadField("order-id"))), "latest.fields[1].name", "letters"),
        (orders_view(fields=(PayloadField("orderId"), PayloadField("OrderID"))), "latest.fields[1].name",
         "case-insensitive"),
        (orders_view(fields=(PayloadField("orderId"), PayloadField("received_at"))), "latest.fields[1].name",
         "column of that name"),
        (orders_view(key="order_id"), "latest.key", "declared fields"),
        (orders_view(key="total"), "latest.key", "STRING, INT64"),
        (orders_view(version_field="changedAt"), "latest.version_field", "declared fields"),
        (orders_view(version_field="status"), "latest.version_field", "TIMESTAMP, DATE"),
    ],
)
def test_a_bad_view_declaration_names_stream_field_value_and_rule(view: LatestView, field: str,
                                                                   hint: str) -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        Stream(name="orders", dataset="crm", table="orders", latest=view)
    assert "stream 'orders'" in str(caught.value)
    assert caught.value.field_name == field
    assert hint in str(caught.value)


# --- the SQL builder -------------------------------------------------------------------------------

def test_sql_reads_the_stream_table_and_returns_fields_then_row_columns() -> None:
    stream = Stream(name="orders", dataset="crm", table="orders", latest=orders_view())
    sql = latest_view_sql(stream, "my-project", delivery_id_column=False)
    assert "FROM `my-project.crm.orders`" in sql
    assert "SELECT\n  `orderId`,\n  LAST_VALUE(`status` IGNORE NULLS) OVER (" in sql
    assert (") AS `updatedAt`,\n  `hit_id`, `received_at`, `date`,\n"
            "  MIN(`received_at`) OVER (PARTITION BY `orderId`) AS `first_received_at`\nFROM parsed") in sql
    assert "SAFE_CAST(" in sql and "AS NUMERIC) AS `total`" in sql
    assert "SAFE.JSON_VALUE(`payload`, '$.status')" in sql
    assert "REGEXP_EXTRACT(`payload`, r'(?:^|&)status(=[^&]*)'), 2)" in sql
    assert "ORDER BY COALESCE(`updatedAt`, TIMESTAMP_MILLIS(`received_at`)) DESC, `received_at` DESC, " \
           "`hit_id` DESC" in sql


def test_sql_collapses_deliveries_only_when_the_table_has_the_column() -> None:
    stream = Stream(name="orders", dataset="crm", table="orders", latest=orders_view())
    assert "delivery_id" not in latest_view_sql(stream, "my-project", delivery_id_column=False)
    collapsed = latest_view_sql(stream, "my-project", delivery_id_column=True)
    assert "PARTITION BY COALESCE(`delivery_id`, `hit_id`)" in collapsed
    # The deployed table has the column (service/model/schema.py), so the deployed view collapses deliveries.
    assert "PARTITION BY COALESCE(`delivery_id`, `hit_id`)" in latest_view_sql(stream, "my-project")


def test_version_ordering_falls_back_to_received_at() -> None:
    no_version = Stream(name="o", dataset="d", table="t", latest=orders_view(version_field=None))
    assert "ORDER BY TIMESTAMP_MILLIS(`received_at`) DESC" in latest_view_sql(no_version, "my-project")
    by_day = Stream(name="o", dataset="d", table="t", latest=LatestView(
        fields=(PayloadField("id", "INT64"), PayloadField("day", "DATE")), key="id", version_field="day"))
    assert "COALESCE(TIMESTAMP(`day`), TIMESTAMP_MILLIS(`received_at`))" in latest_view_sql(by_day, "my-project")


def test_sql_refuses_a_stream_without_a_view_and_a_bad_project() -> None:
    with pytest.raises(ValueError, match="declares no latest view"):
        latest_view_sql(Stream(name="o", dataset="d", table="t"), "my-project")
    with pytest.raises(ValueError, match="project"):
        latest_view_sql(CRM_ORDERS, "p`; DROP TABLE x; --")


# --- in the emulator -------------------------------------------------------------------------------

SECRET = "view-test-secret-0123456789"


def lowered(row: dict[str, Any]) -> dict[str, Any]:
    # bqemulator returns column names lower-cased (DuckDB); BigQuery keeps orderId.
    return {name.lower(): value for name, value in row.items()}


def view_rows(emulator: Any, stream: Stream) -> dict[str, dict[str, Any]]:
    rows = emulator.query(f"SELECT * FROM `{emulator.project}.{stream.dataset}.{latest_view_id(stream)}`")
    return {row["orderid"]: row for row in map(lowered, rows)}


def send(url: str, body: str, delivery_id: str, content_type: str = "application/x-www-form-urlencoded") -> str:
    data = body.encode()
    signature = hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": content_type, "X-Signature": signature, "X-Delivery-Id": delivery_id})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert answer["status"] == "stored"
    hit_id: str = answer["hit_id"]
    return hit_id


def backfill_sample(emulator: Any, stream: Stream) -> Any:
    table_id = f"{emulator.project}.{stream.dataset}.{stream.table}"
    options = LoadOptions(source_format="csv", payload_format="form", received_at_column="updatedAt")
    with open_source(str(SAMPLE_CSV)) as source:
        return Backfill(emulator.client, stream, table_id, options).run(source)


@pytest.mark.integration
def test_view_gives_latest_status_types_and_nulls_over_backfill_and_live_hits(
        emulator: Any, start_stream_service: Any) -> None:
    stream = dataclasses.replace(CRM_ORDERS, dataset="view_e2e",
                                 auth=HmacAuth(delivery_id_header="X-Delivery-Id"))
    service = start_stream_service(stream, secrets=(SECRET,))  # provisions the table and the view
    assert backfill_sample(emulator, stream).written == 3
    history = view_rows(emulator, stream)
    assert {key: row["status"] for key, row in history.items()} == {
        "N1": "delivered", "N2": "refunded", "N3": "received"}

    url = service.hooks_url
    send(url, "orderId=N1&status=shipped&total=120.13&currency=USD&userId=U1"
              "&updatedAt=2020-01-16T08:00:00Z", "d-1")
    n1_delivered = send(url, "orderId=N1&status=delivered&total=120.13&currency=USD&userId=U1"
                             "&updatedAt=2020-01-17T09:30:00Z", "d-2")
    # The CRM did not see our answer and delivers the same call again: same body, same delivery id.
    n1_retry = send(url, "orderId=N1&status=delivered&total=120.13&currency=USD&userId=U1"
                         "&updatedAt=2020-01-17T09:30:00Z", "d-2")
    n2_refund = send(url, "orderId=N2&status=refunded&total=96.12&currency=USD&userId=U2", "d-3")  # no updatedAt
    send(url, "orderId=N3&status=cancelled&updatedAt=2020-01-19", "d-4")  # older than the export's N3
    n4_json = send(url, json.dumps({"orderId": "N4", "status": "paid", "total": 15.5, "currency": "EUR",
                                    "userId": "U4", "createdAt": "2020-02-01T11:00:00Z",
                                    "updatedAt": "2020-02-01T12:00:00+01:00"}), "d-5",
                   content_type="application/json")
    n5_bad_total = send(url, "orderId=N5&status=received&total=12%2C50&currency=EUR"
                             "&userId=M%C3%BCller+%26+Co+100%25&createdAt=yesterday", "d-6")

    view = view_rows(emulator, stream)
    assert sorted(view) == ["N1", "N2", "N3", "N4", "N5"]
    n1 = view["N1"]
    assert (n1["status"], n1["updatedat"]) == ("delivered", dt.datetime(2020, 1, 17, 9, 30, tzinfo=UTC))
    assert n1["hit_id"] == n1_delivered != n1_retry  # the retry collapsed into the first receipt
    # The hit without updatedAt won on receipt time; it sent no updatedAt, so the export's is kept.
    assert view["N2"]["hit_id"] == n2_refund
    assert view["N2"]["updatedat"] == dt.datetime(2020, 1, 20, tzinfo=UTC)
    n3 = view["N3"]  # the late, older 'cancelled' lost to the export's newer version
    assert (n3["status"], n3["total"], n3["updatedat"]) == (
        "received", Decimal("299.99"), dt.datetime(2020, 1, 20, tzinfo=UTC))
    assert n3["date"] == dt.date(2020, 1, 20)
    assert n3["received_at"] == int(dt.datetime(2020, 1, 19, 23, tzinfo=UTC).timestamp() * 1000)  # Berlin midnight
    n4 = view["N4"]
    assert n4["hit_id"] == n4_json
    assert (n4["status"], n4["total"], n4["currency"], n4["userid"]) == ("paid", Decimal("15.5"), "EUR", "U4")
    assert n4["updatedat"] == dt.datetime(2020, 2, 1, 11, tzinfo=UTC)
    assert isinstance(n4["received_at"], int) and isinstance(n4["date"], dt.date)
    n5 = view["N5"]
    assert n5["hit_id"] == n5_bad_total
    assert (n5["status"], n5["total"], n5["createdat"]) == ("received", None, None)  # unparsable -> NULL
    assert n5["userid"] == "Müller & Co 100%"  # + and %XX (UTF-8) decoded
    raw_retries = emulator.query(f"SELECT COUNT(*) AS n FROM `{emulator.project}.view_e2e.orders` "
                                 "WHERE delivery_id = 'd-2'")
    assert raw_retries == [{"n": 2}]  # the table keeps every call; only the view collapses them

    again = backfill_sample(emulator, stream)
    assert (again.written, again.already_loaded) == (0, 3)
    assert view_rows(emulator, stream) == view


@pytest.mark.integration
def test_view_runs_on_a_table_created_before_the_delivery_id_column(emulator: Any) -> None:
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    stream = dataclasses.replace(CRM_ORDERS, dataset="view_old_layout")
    client, project = emulator.client, emulator.project
    client.create_dataset(f"{project}.{stream.dataset}", exists_ok=True)
    old_columns = [c for c in ROW_COLUMNS if c.name != "delivery_id"]
    client.create_table(bigquery.Table(f"{project}.{stream.dataset}.{stream.table}", schema=[
        bigquery.SchemaField(c.name, c.type, mode=c.mode) for c in old_columns]))
    rows = [{"hit_id": f"h{i}", "payload": body, "received_at": 1_600_000_000_000 + i, "date": "2020-09-13"}
            for i, body in enumerate(["orderId=N9&status=paid", "orderId=N9&status=shipped"])]
    assert client.insert_rows_json(f"{project}.{stream.dataset}.{stream.table}", rows, retry=Retry(timeout=10),
                                   timeout=10) == []

    ensure_latest_view(client, stream, project, {c.name for c in old_columns})
    assert [(r["orderid"], r["status"]) for r in map(lowered, emulator.query(
        f"SELECT * FROM `{project}.{stream.dataset}.orders_latest`"))] == [("N9", "shipped")]


# --- partial updates -------------------------------------------------------------------------------

def insert_hits(emulator: Any, stream: Stream, payloads: list[str]) -> None:
    """Rows as the service writes them, received one second apart in this order."""
    from google.api_core.retry import Retry

    rows = [{"hit_id": f"h{i:02d}", "payload": body, "received_at": 1_700_000_000_000 + 1000 * i,
             "date": "2023-11-14", "delivery_id": None} for i, body in enumerate(payloads)]
    table = f"{emulator.project}.{stream.dataset}.{stream.table}"
    assert emulator.client.insert_rows_json(table, rows, retry=Retry(timeout=10), timeout=10) == []


def partial_stream(dataset: str, **status_options: Any) -> Stream:
    return Stream(name="partial", dataset=dataset, table="orders", latest=LatestView(
        fields=(PayloadField("orderId"), PayloadField("status"), PayloadField("total", "NUMERIC"),
                PayloadField("currency"), PayloadField("note", **status_options),
                PayloadField("updatedAt", "TIMESTAMP")),
        key="orderId", version_field="updatedAt"))


@pytest.mark.integration
def test_a_partial_update_keeps_what_it_did_not_send(emulator: Any) -> None:
    stream = partial_stream("view_partial")
    provision(emulator.client, [stream], emulator.project)
    insert_hits(emulator, stream, [
        "orderId=P1&status=received&total=10.50&currency=EUR&note=gift&updatedAt=2023-11-01T10:00:00Z",
        "orderId=P1&status=paid&updatedAt=2023-11-02T10:00:00Z",  # status only
        # Out of order: sent last, but an older version: it changes nothing it did not win.
        "orderId=P1&status=cancelled&currency=USD&updatedAt=2023-10-30T10:00:00Z",
        # An empty note is a value (the CRM cleared it); an empty total cannot be a NUMERIC: not carried.
        "orderId=P1&note=&total=&updatedAt=2023-11-03T10:00:00Z",
        json.dumps({"orderId": "P2", "status": "received", "total": 5, "currency": "GBP", "note": "x",
                    "updatedAt": "2023-11-01T10:00:00Z"}),
        json.dumps({"orderId": "P2", "status": "paid", "total": None, "note": "",
                    "updatedAt": "2023-11-02T10:00:00Z"}),  # JSON null: not sent
    ])
    view = {row["orderid"]: row for row in map(lowered, emulator.query(
        f"SELECT * FROM `{emulator.project}.view_partial.orders_latest`"))}
    p1 = view["P1"]
    assert (p1["status"], p1["total"], p1["currency"], p1["note"]) == ("paid", Decimal("10.50"), "EUR", "")
    assert p1["updatedat"] == dt.datetime(2023, 11, 3, 10, tzinfo=UTC)
    assert p1["hit_id"] == "h03"  # the row columns come from the newest version
    p2 = view["P2"]
    assert (p2["status"], p2["total"], p2["currency"], p2["note"]) == ("paid", Decimal("5"), "GBP", "")


@pytest.mark.integration
def test_a_field_can_take_the_latest_hits_value_only(emulator: Any) -> None:
    stream = partial_stream("view_latest_only", from_latest_hit_only=True)
    provision(emulator.client, [stream], emulator.project)
    insert_hits(emulator, stream, [
        "orderId=P1&status=received&note=call+first&updatedAt=2023-11-01T10:00:00Z",
        "orderId=P1&status=paid&updatedAt=2023-11-02T10:00:00Z",
    ])
    [row] = map(lowered, emulator.query(f"SELECT * FROM `{emulator.project}.view_latest_only.orders_latest`"))
    assert (row["status"], row["note"]) == ("paid", None)  # the winning hit sent no note


@pytest.mark.integration
def test_a_stripe_stream_orders_events_by_their_created_seconds_without_naming_a_version(emulator: Any) -> None:
    # The Stripe preset names `created` (Unix seconds) as its event time; the view declares no version_field.
    stream = Stream(name="stripe", dataset="view_stripe", table="events", auth=Stripe(), latest=LatestView(
        fields=(PayloadField("id"), PayloadField("type"), PayloadField("created", "TIMESTAMP_SECONDS")),
        key="id"))
    provision(emulator.client, [stream], emulator.project)
    insert_hits(emulator, stream, [
        json.dumps({"id": "evt_1", "type": "charge.refunded", "created": 1700000500}),
        json.dumps({"id": "evt_1", "type": "charge.succeeded", "created": 1700000100}),  # older, delivered late
        json.dumps({"id": "evt_2", "type": "charge.succeeded"}),  # no event time: as of its arrival
        json.dumps({"id": "evt_2", "type": "charge.captured"}),  # arrived later: wins
    ])
    rows = {row["id"]: row for row in map(lowered, emulator.query(
        f"SELECT * FROM `{emulator.project}.view_stripe.events_latest`"))}
    assert {key: (row["type"], row["created"]) for key, row in rows.items()} == {
        "evt_1": ("charge.refunded", dt.datetime(2023, 11, 14, 22, 21, 40, tzinfo=UTC)),  # 1700000500 s
        "evt_2": ("charge.captured", None)}
    # insert_hits receives the hits one second apart from 1_700_000_000_000 ms: evt_2's were the 3rd and 4th.
    assert (rows["evt_2"]["first_received_at"], rows["evt_2"]["received_at"]) == (1_700_000_002_000,
                                                                                 1_700_000_003_000)


# --- fields from headers ---------------------------------------------------------------------------

SHOPIFY_VIEW = LatestView(fields=(PayloadField("id", "INT64"), PayloadField("financial_status"),
                                  PayloadField("event_type", header="X-Shopify-Topic"),
                                  PayloadField("shop", header="X-Shopify-Shop-Domain")), key="id")


def send_shopify(url: str, secret: str, body: bytes, topic: str, webhook_id: str) -> None:
    from tools.operator.sender_requests import shape_request

    shaped = shape_request(Shopify(), secret, url, body, dt.datetime.now(UTC).timestamp(), webhook_id)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "johns-apparel.myshopify.com", **shaped.headers})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["status"] == "stored"


@pytest.mark.integration
def test_a_view_field_comes_from_the_shopify_topic_header(emulator: Any, start_stream_service: Any) -> None:
    stream = Stream(name="shopify", dataset="view_headers", table="orders", auth=Shopify(), latest=SHOPIFY_VIEW)
    secret = "shopify-client-secret-0123456789"
    service = start_stream_service(stream, secrets=(secret,))
    send_shopify(service.hooks_url, secret, b'{"id": 820982911946154508, "financial_status": "pending"}',
                 "orders/create", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    send_shopify(service.hooks_url, secret, b'{"id": 820982911946154508, "financial_status": "paid"}',
                 "orders/paid", "0d8c9a41-3b6e-4a62-9b59-4c1a0d2e7f10")
    insert_hits(emulator, stream, ['{"id": 450789469, "financial_status": "refunded"}'])  # a backfilled row
    rows = {row["id"]: row for row in map(lowered, emulator.query(
        f"SELECT * FROM `{emulator.project}.view_headers.orders_latest`"))}
    assert {key: (row["financial_status"], row["event_type"], row["shop"]) for key, row in rows.items()} == {
        820982911946154508: ("paid", "orders/paid", "johns-apparel.myshopify.com"),
        450789469: ("refunded", None, None)}  # no headers (NULL): no event type, never an error
    assert "headers" not in rows[450789469]  # the view shows the fields, not the raw column


def test_sql_reads_a_header_field_from_the_headers_column_by_its_lowercase_name() -> None:
    stream = Stream(name="shopify", dataset="shop", table="orders", auth=Shopify(), latest=SHOPIFY_VIEW)
    sql = latest_view_sql(stream, "my-project")
    assert "SAFE.JSON_VALUE(`headers`, '$.\"x-shopify-topic\"') AS `_header_event_type`" in sql
    assert "'$.event_type'" not in sql  # a header field is not looked for in the payload
    plain = latest_view_sql(Stream(name="orders", dataset="crm", table="orders", latest=orders_view()),
                            "my-project")
    assert "`headers`" not in plain  # a view without header fields reads the table as before


@pytest.mark.integration
def test_every_event_of_a_batch_gets_its_requests_header(emulator: Any) -> None:
    from google.api_core.retry import Retry

    stream = Stream(name="batched", dataset="view_headers_batch", table="events", keep_headers=("X-Portal-Id",),
                    latest=LatestView(fields=(PayloadField("objectId"), PayloadField("portal", header="X-Portal-Id")),
                                      key="objectId", events="json_array"))
    provision(emulator.client, [stream], emulator.project)
    rows = [{"hit_id": "h00", "payload": '[{"objectId": "A"}, {"objectId": "B"}]', "received_at": 1_700_000_000_000,
             "date": "2023-11-14", "delivery_id": None, "headers": '{"method":"POST","x-portal-id":"62515"}'}]
    table = f"{emulator.project}.{stream.table_ref}"
    assert emulator.client.insert_rows_json(table, rows, retry=Retry(timeout=10), timeout=10) == []
    view = emulator.query(f"SELECT * FROM `{emulator.project}.view_headers_batch.events_latest`")
    assert sorted((row["objectid"], row["portal"]) for row in map(lowered, view)) == [("A", "62515"),
                                                                                    ("B", "62515")]
