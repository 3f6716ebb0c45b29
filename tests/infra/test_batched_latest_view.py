"""The `<table>_latest` view over batched payloads, in the emulator: one event per element of a HubSpot JSON
array and one per notification of a Salesforce outbound message, each event keyed and versioned by its own
fields; requests sent signed through a real gunicorn with the sender presets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.views.latest import latest_view_id
from service.model.latest import LatestView, PayloadField
from service.model.senders import HubSpot, Salesforce
from service.model.stream import Stream, StreamDefinitionError
from tests.conftest import Emulator, RunningService, ServiceFactory
from tools.local.dev_secrets import generate_secret
from tools.local.provision import provision
from tools.operator.sender_requests import ShapedRequest, shape_request

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "operator" / "samples"
UTC = dt.UTC

HUBSPOT_VIEW = LatestView(
    fields=(PayloadField("objectId", "INT64"), PayloadField("subscriptionType"), PayloadField("propertyName"),
            PayloadField("propertyValue"), PayloadField("eventId", "INT64"),
            PayloadField("occurredAt", "TIMESTAMP_MILLIS")),
    key="objectId", version_field="occurredAt", events="json_array")
SALESFORCE_VIEW = LatestView(
    fields=(PayloadField("Id"), PayloadField("Name"), PayloadField("StageName"), PayloadField("Amount", "NUMERIC"),
            PayloadField("LastModifiedDate", "TIMESTAMP")),
    key="Id", version_field="LastModifiedDate", events="salesforce")


def send(service: RunningService, shaped: ShapedRequest, content_type: str) -> int:
    target = urlsplit(shaped.url)
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
    try:
        connection.request("POST", target.path, body=shaped.body, headers={"Content-Type": content_type,
                                                                           **shaped.headers})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def view_rows(emulator: Emulator, stream: Stream, key: str) -> list[dict[str, Any]]:
    assert stream.latest is not None
    names = [field.name for field in stream.latest.fields]
    columns = ", ".join(f"`{name}` AS `{name}`" for name in names)
    rows = emulator.query(f"SELECT {columns} FROM `{emulator.project}.{stream.dataset}.{latest_view_id(stream)}` "
                          f"ORDER BY `{key}`")
    # The emulator may fold column names to lower case; BigQuery keeps them as declared.
    return [{name: row[name] if name in row else row[name.lower()] for name in names} for row in rows]


# Declared, or left to the HubSpot preset, which names occurredAt as its event time (service/model/senders.py).
@pytest.mark.parametrize("version_field", ["occurredAt", None])
def test_a_hubspot_batch_gives_one_view_row_per_event_and_the_latest_event_per_object_wins(
        emulator: Emulator, start_stream_service: ServiceFactory, version_field: str | None) -> None:
    view = dataclasses.replace(HUBSPOT_VIEW, version_field=version_field)
    stream = Stream(name="hubspot", dataset="it_batched", table=f"hubspot_{version_field or 'preset'}",
                    auth=HubSpot(), latest=view)
    secret = generate_secret(stream.auth)
    service = start_stream_service(stream, secrets=(secret,))
    first = shape_request(stream.auth, secret, service.hooks_url, (SAMPLES / "hubspot.json").read_bytes(),
                          time.time(), "")
    assert send(service, first, "application/json") == 200
    assert view_rows(emulator, stream, "objectId") == [
        {"objectId": 90517, "subscriptionType": "contact.creation", "propertyName": None, "propertyValue": None,
         "eventId": 3816279402, "occurredAt": dt.datetime(2026, 11, 29, 13, 0, 1, 789000, tzinfo=UTC)},
        {"objectId": 18220441973, "subscriptionType": "deal.propertyChange", "propertyName": "dealstage",
         "propertyValue": "closedwon", "eventId": 3816279340,
         "occurredAt": dt.datetime(2026, 11, 29, 13, 0, 0, 123000, tzinfo=UTC)},
        {"objectId": 18220441974, "subscriptionType": "deal.propertyChange", "propertyName": "dealstage",
         "propertyValue": "closedlost", "eventId": 3816279341,
         "occurredAt": dt.datetime(2026, 11, 29, 13, 0, 0, 456000, tzinfo=UTC)},
    ]
    # A later batch: deal ...973 changes twice (the later occurredAt wins even though it comes first in the
    # array), and an older event for ...974 arrives late and must not replace the newer one.
    later = json.dumps([
        {"eventId": 3816280002, "objectId": 18220441973, "occurredAt": 1795957300000, "propertyValue": "invoiced",
         "subscriptionType": "deal.propertyChange", "propertyName": "dealstage"},
        {"eventId": 3816280001, "objectId": 18220441973, "occurredAt": 1795957250000, "propertyValue": "shipped",
         "subscriptionType": "deal.propertyChange", "propertyName": "dealstage"},
        {"eventId": 3816279000, "objectId": 18220441974, "occurredAt": 1795957100000, "propertyValue": "open",
         "subscriptionType": "deal.propertyChange", "propertyName": "dealstage"},
    ]).encode()
    assert send(service, shape_request(stream.auth, secret, service.hooks_url, later, time.time(), ""),
                "application/json") == 200
    latest = {row["objectId"]: (row["propertyValue"], row["eventId"]) for row in view_rows(emulator, stream,
                                                                                           "objectId")}
    assert latest == {90517: (None, 3816279402), 18220441973: ("invoiced", 3816280002),
                      18220441974: ("closedlost", 3816279341)}


def test_a_salesforce_message_gives_one_view_row_per_notification_with_xml_entities_decoded(
        emulator: Emulator, start_stream_service: ServiceFactory) -> None:
    stream = Stream(name="salesforce", dataset="it_batched", table="salesforce",
                    auth=Salesforce(("00D7Q000006hT3bUAE",)), latest=SALESFORCE_VIEW)
    secret = generate_secret(stream.auth)
    service = start_stream_service(stream, secrets=(secret,))
    message = shape_request(stream.auth, secret, f"{service.hooks_url}/{secret}",
                            (SAMPLES / "salesforce.xml").read_bytes(), time.time(), "")
    assert send(service, message, "text/xml; charset=utf-8") == 200
    assert send(service, message, "text/xml; charset=utf-8") == 200  # Salesforce re-sends: same notifications
    expected = [
        {"Id": "0067Q00000Rk2mHQAR", "Name": "Order N1 & accessories", "StageName": "Closed Won",
         "Amount": Decimal("120.13"), "LastModifiedDate": dt.datetime(2026, 11, 29, 13, 1, 2, tzinfo=UTC)},
        {"Id": "0067Q00000Rk2mIQAR", "Name": "Order N2", "StageName": "Closed Lost",
         "Amount": Decimal("89.50"), "LastModifiedDate": dt.datetime(2026, 11, 29, 13, 1, 5, tzinfo=UTC)},
    ]
    assert view_rows(emulator, stream, "Id") == expected
    raw = emulator.query(f"SELECT COUNT(*) AS n FROM `{emulator.project}.{stream.table_ref}`")
    assert raw[0]["n"] == 2  # both deliveries stored; the view counts the message once


def test_an_unknown_events_kind_is_named() -> None:
    with pytest.raises(StreamDefinitionError) as caught:
        Stream(name="orders", dataset="crm", table="orders",
               latest=LatestView(fields=(PayloadField("orderId"),), key="orderId", events="xml"))  # type: ignore[arg-type]
    assert caught.value.field_name == "latest.events" and "json_array" in str(caught.value)


def insert_payloads(emulator: Emulator, stream: Stream, payloads: list[str]) -> None:
    # Straight into the table: the point is what a view makes of rows it cannot parse, however they got there.
    received_at = 1796000000000
    rows = [{"hit_id": f"00000000-0000-4000-8000-{index:012d}", "payload": payload,
             "received_at": received_at + index, "date": "2026-12-01"} for index, payload in enumerate(payloads)]
    assert emulator.client.insert_rows_json(f"{emulator.project}.{stream.table_ref}", rows) == []


def test_a_hubspot_view_answers_over_rows_that_are_not_json_arrays(emulator: Emulator) -> None:
    stream = Stream(name="hubspot-odd", dataset="it_batched", table="hubspot_odd", auth=HubSpot(), latest=HUBSPOT_VIEW)
    provision(emulator.client, [stream], emulator.project)
    insert_payloads(emulator, stream, [
        '[{"objectId": 1, "eventId": 11, "occurredAt": 1795957200000, "propertyValue": "a"},'
        ' {"objectId": 2, "eventId": 12, "occurredAt": 1795957200000}]',
        "objectId=3&eventId=13&occurredAt=1795957200000",  # a signed GET, stored as its query string
        '{"objectId": 4, "eventId": 14}',  # a JSON object: one event
        '[{"objectId": 5, "eventId": 15},',  # a truncated array: one event that has no objectId
        "",
        "not a body at all",
    ])
    rows = view_rows(emulator, stream, "objectId")
    assert [(row["objectId"], row["eventId"], row["propertyValue"]) for row in rows] == [
        (1, 11, "a"), (2, 12, None), (3, 13, None), (4, 14, None)]
    assert rows[2]["occurredAt"] == dt.datetime(2026, 11, 29, 13, 0, tzinfo=UTC)  # 1795957200000 ms


def test_a_salesforce_view_answers_over_rows_that_are_not_outbound_messages(emulator: Emulator) -> None:
    stream = Stream(name="salesforce-odd", dataset="it_batched", table="salesforce_odd",
                    auth=Salesforce(("00D7Q000006hT3bUAE",)), latest=SALESFORCE_VIEW)
    provision(emulator.client, [stream], emulator.project)
    insert_payloads(emulator, stream, [
        "<Notification><sf:Id>0067Q00000Rk2mHQAR</sf:Id><sf:Amount>12.50</sf:Amount></Notification>",
        '[{"Id": "json-not-xml"}]',
        "Id=form-not-xml",
        "<Notification><sf:Id>0067Q00000Rk2mIQAR</sf:Id><sf:Amount>not a number</sf:Amount>",  # never closed
        "",
    ])
    assert [(row["Id"], row["Amount"]) for row in view_rows(emulator, stream, "Id")] == [
        ("0067Q00000Rk2mHQAR", Decimal("12.50"))]
