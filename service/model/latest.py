"""The `<table>_latest` view as a stream declares it: typed payload fields, a key, a version field.

Only the declaration and its rules live here (a bad one fails in infra/streams.py at import); the
deploy code builds the view's SQL from it (infra/views/latest.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from service.model.auth_settings import HEADER_NAME
from service.model.ids import MAX_TABLE_ID_LENGTH
from service.model.schema import DATE, DELIVERY_ID, HIT_ID, PAYLOAD, RECEIVED_AT

# TIMESTAMP_MILLIS / TIMESTAMP_SECONDS: Unix milliseconds (HubSpot's occurredAt) or seconds (Stripe's
# created) in the payload, a TIMESTAMP in the view.
FieldType = Literal["STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP", "TIMESTAMP_MILLIS",
                    "TIMESTAMP_SECONDS"]
FIELD_TYPES: tuple[str, ...] = ("STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP",
                                "TIMESTAMP_MILLIS", "TIMESTAMP_SECONDS")
# A key must compare exactly; a version must be a point in time so it can fall back to received_at.
KEY_TYPES: tuple[str, ...] = ("STRING", "INT64")
VERSION_TYPES: tuple[str, ...] = ("TIMESTAMP", "DATE", "TIMESTAMP_MILLIS", "TIMESTAMP_SECONDS")
# What one event is: the whole request; each element of a JSON array body (HubSpot batches up to 100
# events); or each <Notification> of a Salesforce outbound message (fields read from its sf: elements).
Events = Literal["request", "json_array", "salesforce"]
EVENTS: tuple[str, ...] = ("request", "json_array", "salesforce")

# The name is used as a column name, inside a JSON path and inside a regular expression: letters,
# digits and '_' are safe in all three without escaping.
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# The view's column with the receipt time of the key's first hit (Unix ms, like received_at).
FIRST_RECEIVED_AT = "first_received_at"
# Columns the view takes from the table itself (or adds); a payload field of the same name would clash.
RESERVED_NAMES = frozenset({HIT_ID.name, PAYLOAD.name, RECEIVED_AT.name, DATE.name, DELIVERY_ID.name,
                            FIRST_RECEIVED_AT})
VIEW_SUFFIX = "_latest"


@dataclass(frozen=True)
class PayloadField:
    """A field the CRM sends in the payload, and the BigQuery type the view casts it to.

    By default the view shows the value of the latest hit (in version order) that carried the field, so
    a partial update (only `status`) keeps the `currency` an earlier hit sent. A hit carries a field when
    its payload has it with a value of the declared type: an empty string is a STRING value (the CRM
    cleared it); an absent key, JSON null, or a value that does not cast (e.g. '' for a NUMERIC) is not.
    `from_latest_hit_only=True` shows the latest hit's value instead, NULL when that hit did not send it.
    `header="X-Shopify-Topic"` takes the value from that request header (kept in the row's `headers` column,
    so the stream must keep it: its sender preset's or `keep_headers`) instead of the payload.
    """

    name: str
    type: FieldType = "STRING"
    from_latest_hit_only: bool = False
    header: str = ""


@dataclass(frozen=True)
class LatestView:
    """Declares the `<table>_latest` view: typed fields, the key, and the field that orders versions.

    version_field None: the sender preset's event-time field where the view declares it
    (service/model/senders.py), else receipt order.
    """

    fields: tuple[PayloadField, ...]
    key: str
    version_field: str | None = None
    events: Events = "request"

    def field(self, name: str) -> PayloadField:
        return next(f for f in self.fields if f.name == name)


def latest_view_problems(view: object, table: str) -> list[tuple[str, object, str]]:
    """(field, value, rule) for each broken rule of a view declaration; empty when valid."""
    if not isinstance(view, LatestView):
        return [("latest", view, "use None or LatestView(fields=(PayloadField(...), ...), key=...)")]
    if not isinstance(view.fields, tuple) or not view.fields:
        return [("latest.fields", view.fields, "a non-empty tuple of PayloadField(name, type)")]
    problems: list[tuple[str, object, str]] = []
    seen: set[str] = set()
    for index, field in enumerate(view.fields):
        where = f"latest.fields[{index}]"
        if not isinstance(field, PayloadField):
            problems.append((where, field, "use PayloadField(name, type)"))
            continue
        if not isinstance(field.name, str) or not FIELD_NAME.match(field.name):
            problems.append((f"{where}.name", field.name,
                             "1-128 letters, digits and '_', not starting with a digit"))
        elif field.name.lower() in RESERVED_NAMES:
            taken = ", ".join(sorted(RESERVED_NAMES))
            problems.append((f"{where}.name", field.name, f"the view has a column of that name ({taken})"))
        elif field.name.lower() in seen:
            # BigQuery column names are case-insensitive: orderId and orderid would collide.
            problems.append((f"{where}.name", field.name, "declared twice (names are case-insensitive)"))
        else:
            seen.add(field.name.lower())
        if field.type not in FIELD_TYPES:
            problems.append((f"{where}.type", field.type, f"one of {', '.join(FIELD_TYPES)}"))
        if field.header and (not isinstance(field.header, str) or not HEADER_NAME.match(field.header)):
            problems.append((f"{where}.header", field.header,
                             "empty, or a header name of 1-64 letters, digits and '-'"))
    declared = {f.name: f.type for f in view.fields if isinstance(f, PayloadField)}
    if view.key not in declared:
        problems.append(("latest.key", view.key, "name one of the declared fields"))
    elif declared[view.key] not in KEY_TYPES:
        problems.append(("latest.key", view.key, f"the key's type must be one of {', '.join(KEY_TYPES)}"))
    if view.version_field is not None:
        if view.version_field not in declared:
            problems.append(("latest.version_field", view.version_field,
                             "None or one of the declared fields"))
        elif declared[view.version_field] not in VERSION_TYPES:
            problems.append(("latest.version_field", view.version_field,
                             f"the version field's type must be one of {', '.join(VERSION_TYPES)}"))
    if view.events not in EVENTS:
        problems.append(("latest.events", view.events, f"one of {', '.join(EVENTS)}"))
    if len(table) + len(VIEW_SUFFIX) > MAX_TABLE_ID_LENGTH:
        problems.append(("table", table, f"at most {MAX_TABLE_ID_LENGTH - len(VIEW_SUFFIX)} characters "
                                         f"when a latest view is declared (the view adds {VIEW_SUFFIX!r})"))
    return problems
