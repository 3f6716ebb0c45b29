"""The `<table>_latest` view: one row per key with the payload's declared fields as typed columns.

A stream may declare the fields its CRM sends (`LatestView` in infra/streams.py). From that declaration
`latest_view_sql` builds the view's SQL, once, for both the cdktf stack (a `google_bigquery_table` with
a `view` block) and the local stack (tools/local/provision.py), so the two cannot drift.

What the SQL does, per row of the raw table:
- tells a JSON body (first non-blank character `{`) from a form-urlencoded body or GET query string;
- JSON: `JSON_VALUE(payload, '$.<name>')`; form: the first `<name>=value` pair, with `+` read as a
  space and runs of `%XX` escapes decoded as UTF-8 bytes (a stray `%` is kept as is);
- casts with SAFE_CAST, so a value that does not parse becomes NULL instead of failing the query;
- keeps, per key, the row with the greatest version (the version field, or received_at where the
  version is missing or unparsable), then the latest received_at, then the greatest hit_id, so the
  winner never depends on scan order and a re-sent duplicate cannot change the result. Without a
  declared version field, the sender preset's event-time field orders versions where the view
  declares it (`version_field`);
- adds `first_received_at`, the receipt time of the key's first hit (an order's first sighting).
With a `delivery_id` column, rows of one delivery (a CRM retry) collapse to their first receipt first.

Batched senders (`LatestView(events=...)`) put several events in one request: `json_array` reads each element
of a JSON array body as one event (HubSpot; a body that is not an array stays one event), `salesforce` each
`<Notification>` of an outbound message, its fields from the `sf:` elements with the five XML entities
decoded. Each event is keyed and versioned by its own fields; a later element of one batch wins a tie.

The SQL sticks to constructs that run both in BigQuery and in bqemulator (which translates BigQuery
SQL to DuckDB), so the tests run the very text that is deployed.
"""

from __future__ import annotations

from infra.views.sql_steps import check_project
from service.model.ids import table_path
from service.model.latest import FIRST_RECEIVED_AT, VERSION_TYPES, VIEW_SUFFIX, PayloadField
from service.model.schema import DATE, DELIVERY_ID, HEADERS, HIT_ID, PAYLOAD, RECEIVED_AT
from service.model.senders import event_time_field
from service.model.stream import Stream

EVENT, EVENT_INDEX = "_event", "_event_index"


def latest_view_id(stream: Stream) -> str:
    """The view's table id, next to the stream's table in the same dataset."""
    return f"{stream.table}{VIEW_SUFFIX}"


def version_field(stream: Stream) -> str | None:
    """The field that orders a key's versions: the declared one, else the sender preset's event-time field
    if the view declares it with a time type, else None (receipt order)."""
    view = stream.latest
    if view is None or view.version_field is not None:
        return None if view is None else view.version_field
    preset = event_time_field(stream.auth)
    declared = {f.name: f.type for f in view.fields}
    return preset if preset is not None and declared.get(preset) in VERSION_TYPES else None


def latest_view_sql(stream: Stream, project: str, *, delivery_id_column: bool = True) -> str:
    """The view's standard SQL for `stream` in `project`.

    `delivery_id_column` says whether the table has the `delivery_id` column: every table created from
    service/model/schema.py has; the local stack passes what an older table it finds actually has.
    """
    view = stream.latest
    if view is None:
        raise ValueError(f"stream {stream.name!r} declares no latest view (Stream.latest is None)")
    check_project(project)
    table = f"`{table_path(project, stream.dataset, stream.table)}`"
    system = [HIT_ID.name, RECEIVED_AT.name, DATE.name]
    from_headers = [f for f in view.fields if f.header]
    # The headers column rides along to where the header fields are read, and no further.
    carried = [*system, HEADERS.name] if from_headers else system

    if delivery_id_column:
        # A retried delivery is the same change received again: keep its first receipt only.
        hits = (f"  SELECT {_columns([*carried, PAYLOAD.name])}\n"
                f"  FROM {table}\n"
                f"  WHERE TRUE\n"
                f"  QUALIFY ROW_NUMBER() OVER (\n"
                f"    PARTITION BY COALESCE(`{DELIVERY_ID.name}`, `{HIT_ID.name}`)\n"
                f"    ORDER BY `{RECEIVED_AT.name}` ASC, `{HIT_ID.name}` ASC) = 1")
    else:
        hits = f"  SELECT {_columns([*carried, PAYLOAD.name])}\n  FROM {table}"

    # One event per request, or per element of a batch (a JSON array, a Salesforce message's notifications).
    source, events, events_cte, in_batch = PAYLOAD.name, "hits", "", []
    if view.events != "request":
        source, events, in_batch = EVENT, "events", [EVENT_INDEX]
        events_cte = f"events AS (\n{_events(view.events, carried)}\n),\n"
    from_payload = [f for f in view.fields if not f.header]
    # A header field is read from the row's headers JSON (keys are lowercase header names), quoted in the
    # path for its '-': SAFE.JSON_VALUE with `$."name"` runs in BigQuery and in bqemulator alike.
    header_values = [f"    SAFE.JSON_VALUE(`{HEADERS.name}`, '$.\"{f.header.lower()}\"') AS `{_header(f)}`"
                     for f in from_headers]
    # Each field is located once (JSON path and form pair, or XML element), then decoded and cast.
    if view.events == "salesforce":
        located = ",\n".join(
            [f"    REGEXP_EXTRACT(`{source}`, r'<sf:{f.name}>([^<]*)</sf:{f.name}>') AS `{_xml(f)}`"
             for f in from_payload] + header_values)
        extracted = f"  SELECT {_columns(system + in_batch)},\n{located}\n  FROM {events}"
        typed = ",\n".join(f"    {_cast(f'`{_header(f)}`', f) if f.header else _cast(_xml_decoded(f'`{_xml(f)}`'), f)}"
                           f" AS `{f.name}`" for f in view.fields)
    else:
        located = ",\n".join(
            [f"    SAFE.JSON_VALUE(`{source}`, '$.{f.name}') AS `{_json(f)}`,\n"
             # With its '=': an empty value ('note=') is '=' here, not '' (which bqemulator reads as no match).
             f"    SUBSTR(REGEXP_EXTRACT(`{source}`, r'(?:^|&){f.name}(=[^&]*)'), 2) AS `{_form(f)}`"
             for f in from_payload] + header_values)
        extracted = (f"  SELECT {_columns(system + in_batch)},\n"
                     f"    STARTS_WITH(LTRIM(`{source}`), '{{') AS `_is_json`,\n"
                     f"{located}\n"
                     f"  FROM {events}")
        typed = ",\n".join(f"    {_cast(f'`{_header(f)}`', f) if f.header else _typed(f)} AS `{f.name}`"
                           for f in view.fields)
    parsed = f"  SELECT {_columns(system + in_batch)},\n{typed}\n  FROM extracted"

    received = f"TIMESTAMP_MILLIS(`{RECEIVED_AT.name}`)"
    # An update without a (parsable) event time counts as of its arrival: it overrides a dated one only
    # if that one's event time is not newer than its arrival.
    versioned_by = version_field(stream)
    if versioned_by is None:
        version = received
    elif view.field(versioned_by).type == "DATE":
        version = f"COALESCE(TIMESTAMP(`{versioned_by}`), {received})"  # midnight UTC of that day
    else:
        version = f"COALESCE(`{versioned_by}`, {received})"
    # One total order of a key's hits: version, then receipt, then hit_id (never scan order); within one
    # batch, the later event.
    newest_first = f"{version} DESC, `{RECEIVED_AT.name}` DESC, `{HIT_ID.name}` DESC"
    oldest_first = f"{version} ASC, `{RECEIVED_AT.name}` ASC, `{HIT_ID.name}` ASC"
    if in_batch:
        newest_first, oldest_first = f"{newest_first}, `{EVENT_INDEX}` DESC", f"{oldest_first}, `{EVENT_INDEX}` ASC"
    # A field the winning hit did not carry keeps the value of the latest hit that did.
    all_hits = (f"PARTITION BY `{view.key}` ORDER BY {oldest_first}\n"
                f"    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING")
    values = ",\n".join(
        f"  `{f.name}`" if f.name == view.key or f.from_latest_hit_only
        else f"  LAST_VALUE(`{f.name}` IGNORE NULLS) OVER (\n    {all_hits}) AS `{f.name}`"
        for f in view.fields)
    return (f"WITH hits AS (\n{hits}\n),\n"
            f"{events_cte}"
            f"extracted AS (\n{extracted}\n),\n"
            f"parsed AS (\n{parsed}\n)\n"
            f"SELECT\n{values},\n  {_columns(system)},\n"
            f"  MIN(`{RECEIVED_AT.name}`) OVER (PARTITION BY `{view.key}`) AS `{FIRST_RECEIVED_AT}`\n"
            f"FROM parsed\n"
            f"WHERE `{view.key}` IS NOT NULL\n"
            f"QUALIFY ROW_NUMBER() OVER (\n"
            f"  PARTITION BY `{view.key}`\n"
            f"  ORDER BY {newest_first}) = 1\n")


def _columns(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _json(field: PayloadField) -> str:
    return f"_json_{field.name}"


def _form(field: PayloadField) -> str:
    return f"_form_{field.name}"


def _header(field: PayloadField) -> str:
    return f"_header_{field.name}"


def _xml(field: PayloadField) -> str:
    return f"_xml_{field.name}"


def _events(events: str, system: list[str]) -> str:
    """One row per event of each hit, with its index in the batch; a body the view cannot split is one
    event (JSON) or none (Salesforce), never an error, so one stray row cannot fail the whole view."""
    payload, offset = f"`{PAYLOAD.name}`", "`_offset`"
    # The offset is renamed explicitly: the emulator's translation loses the name of a bare offset column.
    # CAST: the emulator types JSON_QUERY_ARRAY's elements as JSON, which the UNION below would impose
    # on every body.
    elements = (f"  SELECT {_columns(system)}, CAST(`_element` AS STRING) AS `{EVENT}`, {offset} AS `{EVENT_INDEX}`\n"
                f"  FROM hits\n"
                f"  CROSS JOIN UNNEST({{array}}) AS `_element` WITH OFFSET AS {offset}")
    if events == "salesforce":
        # A Salesforce outbound message: its <Notification> elements (the default namespace, unprefixed).
        return elements.format(array=f"REGEXP_EXTRACT_ALL({payload}, r'<Notification>([\\s\\S]*?)</Notification>')")
    # A JSON array body: each element. JSON_QUERY_ARRAY only ever sees text that parsed as an array (the
    # emulator raises on anything else, even under SAFE.); 'round' so a long number cannot make a
    # batch unparsable. Any other body (a JSON object, a signed GET's query string) is one event.
    is_array = f"IFNULL(JSON_TYPE(SAFE.PARSE_JSON({payload}, wide_number_mode => 'round')) = 'array', FALSE)"
    return (elements.format(array=f"JSON_QUERY_ARRAY(IF({is_array}, {payload}, '[]'))") + "\n"
            f"  UNION ALL\n"
            f"  SELECT {_columns(system)}, {payload} AS `{EVENT}`, 0 AS `{EVENT_INDEX}`\n"
            f"  FROM hits\n"
            f"  WHERE NOT {is_array}")


def _xml_decoded(value: str) -> str:
    """The five predefined XML entities decoded (&amp; last, so '&amp;lt;' stays '&lt;')."""
    decoded = value
    for entity, character in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        quoted = character.replace("'", "\\'")
        decoded = f"REPLACE({decoded}, '{entity}', '{quoted}')"
    return decoded


def _typed(field: PayloadField) -> str:
    """The field's value: the JSON value for a JSON body, else the decoded form value; then cast."""
    return _cast(f"IF(`_is_json`, `{_json(field)}`, {_url_decoded(f'`{_form(field)}`')})", field)


def _cast(text: str, field: PayloadField) -> str:
    if field.type == "STRING":
        return text
    if field.type == "TIMESTAMP_MILLIS":
        return f"TIMESTAMP_MILLIS(SAFE_CAST({text} AS INT64))"
    if field.type == "TIMESTAMP_SECONDS":
        return f"TIMESTAMP_SECONDS(SAFE_CAST({text} AS INT64))"
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
