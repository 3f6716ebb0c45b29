"""The `<table>_latest` view: one row per key with the payload's declared fields as typed columns.

A stream may declare the fields its CRM sends (`LatestView` in infra/streams.py). From that declaration
`latest_view_sql` builds the view's SQL, once, for both the cdktf stack (a `google_bigquery_table` with
a `view` block) and the local stack (infra/local/provision.py), so the two cannot drift.

What the SQL does, per row of the raw table:
- tells a JSON body (first non-blank character `{`) from a form-urlencoded body or GET query string;
- JSON: `JSON_VALUE(payload, '$.<name>')`; form: the first `<name>=value` pair, with `+` read as a
  space and runs of `%XX` escapes decoded as UTF-8 bytes (a stray `%` is kept as is);
- casts with SAFE_CAST, so a value that does not parse becomes NULL instead of failing the query;
- keeps, per key, the row with the greatest version (the version field, or received_at where the
  version is missing or unparsable), then the latest received_at, then the greatest hit_id, so the
  winner never depends on scan order and a re-sent duplicate cannot change the result.
With a `delivery_id` column, rows of one delivery (a CRM retry) collapse to their first receipt first.

The SQL sticks to constructs that run both in BigQuery and in bqemulator (which translates BigQuery
SQL to DuckDB), so the tests run the very text that is deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from service.schema import DATE, HIT_ID, PAYLOAD, RECEIVED_AT, ROW_COLUMNS

if TYPE_CHECKING:
    from service.stream import Stream

FieldType = Literal["STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"]
FIELD_TYPES: tuple[str, ...] = ("STRING", "INT64", "NUMERIC", "FLOAT64", "BOOL", "DATE", "TIMESTAMP")
# A key must compare exactly; a version must be a point in time so it can fall back to received_at.
KEY_TYPES: tuple[str, ...] = ("STRING", "INT64")
VERSION_TYPES: tuple[str, ...] = ("TIMESTAMP", "DATE")

# The name is used as a column name, inside a JSON path and inside a regular expression: letters,
# digits and '_' are safe in all three without escaping.
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DELIVERY_ID_COLUMN = "delivery_id"
# Columns the view takes from the table itself; a payload field of the same name would clash.
RESERVED_NAMES = frozenset({HIT_ID.name, PAYLOAD.name, RECEIVED_AT.name, DATE.name, DELIVERY_ID_COLUMN})
VIEW_SUFFIX = "_latest"
MAX_TABLE_ID_LENGTH = 1024
PROJECT_ID = re.compile(r"^[a-z][a-z0-9.:-]{0,127}$")


@dataclass(frozen=True)
class PayloadField:
    """A field the CRM sends in the payload, and the BigQuery type the view casts it to."""

    name: str
    type: FieldType = "STRING"


@dataclass(frozen=True)
class LatestView:
    """Declares the `<table>_latest` view: typed fields, the key, and the field that orders versions."""

    fields: tuple[PayloadField, ...]
    key: str
    version_field: str | None = None

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
    if len(table) + len(VIEW_SUFFIX) > MAX_TABLE_ID_LENGTH:
        problems.append(("table", table, f"at most {MAX_TABLE_ID_LENGTH - len(VIEW_SUFFIX)} characters "
                                         f"when a latest view is declared (the view adds {VIEW_SUFFIX!r})"))
    return problems


def latest_view_id(stream: Stream) -> str:
    """The view's table id, next to the stream's table in the same dataset."""
    return f"{stream.table}{VIEW_SUFFIX}"


def table_has_delivery_id() -> bool:
    """Whether the row layout (service/schema.py) has the delivery id column."""
    return any(column.name == DELIVERY_ID_COLUMN for column in ROW_COLUMNS)


def latest_view_sql(stream: Stream, project: str, *, delivery_id_column: bool | None = None) -> str:
    """The view's standard SQL for `stream` in `project`.

    `delivery_id_column` says whether the table has the `delivery_id` column; by default it follows
    service/schema.py. The local stack passes what the table it just created actually has.
    """
    view = stream.latest
    if view is None:
        raise ValueError(f"stream {stream.name!r} declares no latest view (Stream.latest is None)")
    if not PROJECT_ID.match(project):
        raise ValueError(f"project {project!r} is not a Google Cloud project id")
    with_delivery_id = table_has_delivery_id() if delivery_id_column is None else delivery_id_column
    table = f"`{project}.{stream.dataset}.{stream.table}`"
    system = [HIT_ID.name, RECEIVED_AT.name, DATE.name]

    if with_delivery_id:
        # A retried delivery is the same change received again: keep its first receipt only.
        hits = (f"  SELECT {_columns([*system, PAYLOAD.name])}\n"
                f"  FROM {table}\n"
                f"  WHERE TRUE\n"
                f"  QUALIFY ROW_NUMBER() OVER (\n"
                f"    PARTITION BY COALESCE(`{DELIVERY_ID_COLUMN}`, `{HIT_ID.name}`)\n"
                f"    ORDER BY `{RECEIVED_AT.name}` ASC, `{HIT_ID.name}` ASC) = 1")
    else:
        hits = f"  SELECT {_columns([*system, PAYLOAD.name])}\n  FROM {table}"

    # Each field is located once (JSON path and form pair), then decoded and cast: one regex per field.
    located = ",\n".join(
        f"    SAFE.JSON_VALUE(`{PAYLOAD.name}`, '$.{f.name}') AS `{_json(f)}`,\n"
        f"    REGEXP_EXTRACT(`{PAYLOAD.name}`, r'(?:^|&){f.name}=([^&]*)') AS `{_form(f)}`"
        for f in view.fields)
    extracted = (f"  SELECT {_columns(system)},\n"
                 f"    STARTS_WITH(LTRIM(`{PAYLOAD.name}`), '{{') AS `_is_json`,\n"
                 f"{located}\n"
                 f"  FROM hits")
    typed = ",\n".join(f"    {_typed(f)} AS `{f.name}`" for f in view.fields)
    parsed = f"  SELECT {_columns(system)},\n{typed}\n  FROM extracted"

    received = f"TIMESTAMP_MILLIS(`{RECEIVED_AT.name}`)"
    if view.version_field is None:
        version = received
    elif view.field(view.version_field).type == "DATE":
        version = f"COALESCE(TIMESTAMP(`{view.version_field}`), {received})"  # midnight UTC of that day
    else:
        version = f"COALESCE(`{view.version_field}`, {received})"
    outputs = _columns([f.name for f in view.fields] + system)
    return (f"WITH hits AS (\n{hits}\n),\n"
            f"extracted AS (\n{extracted}\n),\n"
            f"parsed AS (\n{parsed}\n)\n"
            f"SELECT {outputs}\n"
            f"FROM parsed\n"
            f"WHERE `{view.key}` IS NOT NULL\n"
            f"QUALIFY ROW_NUMBER() OVER (\n"
            f"  PARTITION BY `{view.key}`\n"
            f"  ORDER BY {version} DESC, `{RECEIVED_AT.name}` DESC, `{HIT_ID.name}` DESC) = 1\n")


def _columns(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _json(field: PayloadField) -> str:
    return f"_json_{field.name}"


def _form(field: PayloadField) -> str:
    return f"_form_{field.name}"


def _typed(field: PayloadField) -> str:
    """The field's value: the JSON value for a JSON body, else the decoded form value; then cast."""
    text = f"IF(`_is_json`, `{_json(field)}`, {_url_decoded(f'`{_form(field)}`')})"
    if field.type == "STRING":
        return text
    return f"SAFE_CAST({text} AS {field.type})"


def _url_decoded(value: str) -> str:
    """SQL that decodes `+` and %XX escapes of a form value (BigQuery has no URL-decode function).

    Runs of %XX become bytes and then UTF-8 text, so multi-byte characters (%C3%BC) decode whole; a
    stray '%' is kept and a run that is not valid UTF-8 gets U+FFFD, never an error. The subquery only
    runs for values that contain '%'.
    """
    spaced = f"REPLACE({value}, '+', ' ')"
    return (f"IF(STRPOS({value}, '%') = 0, {spaced}, (\n"
            "      SELECT STRING_AGG(IF(part != '%' AND STARTS_WITH(part, '%'),\n"
            "          SAFE_CONVERT_BYTES_TO_STRING(FROM_HEX(REPLACE(part, '%', ''))), part),\n"
            "        '' ORDER BY pos)\n"
            f"      FROM UNNEST(REGEXP_EXTRACT_ALL({spaced}, r'(?:%[0-9A-Fa-f]{{2}})+|[^%]+|%'))\n"
            "        AS part WITH OFFSET AS pos))")
