"""Create each stream's dataset, table and `<table>_latest` view (if declared) in the emulator, the
`<table>_attributed` / `<table>_revenue_by_channel` views of a stream stitched to a GA4 export, and the
`<table>_ads_conversions` view and `<table>_ads_uploads` ledger of a stream that declares `ads`.

The table comes from service/model/schema.py, the same definition the service writes and the cdktf stack
deploys. Re-running is safe: existing datasets and tables are kept, with their rows, and columns
added to the row layout since are appended (BigQuery allows adding NULLABLE columns in place).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra.table_spec import table_spec
from infra.views.ads_conversions import ads_uploads_table_id
from infra.views.latest import latest_view_id, latest_view_sql
from infra.views.stitched import attributed_view_specs
from service.ads.ledger_schema import ledger_schema
from service.model.ids import table_path
from service.model.schema import DELIVERY_ID
from service.model.stream import Stream


def bigquery_table(stream: Stream, project: str) -> Any:
    """The `bigquery.Table` for a stream, from the same spec as the Terraform table (infra/table_spec.py)."""
    from google.cloud import bigquery

    spec = table_spec(stream)
    table = bigquery.Table(table_path(project, stream.dataset, spec.table_id),
                           schema=[bigquery.SchemaField.from_api_repr(column) for column in spec.schema])
    table.time_partitioning = bigquery.TimePartitioning(
        type_=spec.partition_type, field=spec.partition_field, expiration_ms=spec.partition_expiration_ms)
    table.require_partition_filter = spec.require_partition_filter or None
    if spec.clustering:
        table.clustering_fields = list(spec.clustering)
    table.description = spec.description
    table.labels = spec.labels
    return table


def provision(client: Any, streams: Iterable[Stream], project: str) -> list[str]:
    """Ensure every stream's dataset and table exist; returns the table ids."""
    from google.cloud import bigquery

    table_ids = []
    for stream in streams:
        dataset = bigquery.Dataset(f"{project}.{stream.dataset}")
        dataset.location = stream.table_options.location
        client.create_dataset(dataset, exists_ok=True)
        wanted = bigquery_table(stream, project)
        table = client.create_table(wanted, exists_ok=True)
        have = {field.name for field in table.schema}
        if any(field.name not in have for field in wanted.schema):
            table = _rebuild_with_new_columns(client, table, wanted)
        ensure_latest_view(client, stream, project, {field.name for field in table.schema})
        ensure_attributed_views(client, stream, project)
        ensure_ads_ledger(client, stream, project)
        table_ids.append(wanted.full_table_id if wanted.full_table_id else str(wanted.reference))
    return table_ids


def _rebuild_with_new_columns(client: Any, table: Any, wanted: Any) -> Any:
    """Give a local table the columns added to the row layout since it was created, keeping its rows.

    BigQuery adds NULLABLE columns in place, but bqemulator 1.4 only records them in its catalog: its
    storage keeps the old columns and every insert then fails. So, locally: copy the rows out, drop,
    create with the current layout, put the rows back (the new columns NULL). Local tables are small.
    """
    from google.api_core.retry import Retry

    reference = str(table.reference)
    rows = [dict(row.items()) for row in client.list_rows(table)]
    for row in rows:
        for name, value in row.items():
            if hasattr(value, "isoformat"):
                row[name] = value.isoformat()
    client.delete_table(reference)
    rebuilt = client.create_table(wanted)
    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(reference, rows[start:start + 500], retry=Retry(timeout=30), timeout=30)
        if errors:
            raise RuntimeError(f"re-inserting rows into {reference} after adding columns failed: {errors[:3]}")
    had = {column.name for column in table.schema}
    added = [column.name for column in wanted.schema if column.name not in had]
    print(f"{reference}: added columns {added} (kept {len(rows)} rows)")
    return rebuilt


def ensure_latest_view(client: Any, stream: Stream, project: str, table_columns: set[str]) -> str | None:
    """Create or update the stream's `<table>_latest` view (infra/views/latest.py); None if it has none."""
    if stream.latest is None:
        return None
    from google.cloud import bigquery

    view = bigquery.Table(table_path(project, stream.dataset, latest_view_id(stream)))
    # The SQL follows the table as it is, so a table created before the delivery id column existed
    # still gets a view that runs.
    view.view_query = latest_view_sql(stream, project,
                                      delivery_id_column=DELIVERY_ID.name in table_columns)
    view.description = f"Latest row per {stream.latest.key} of {stream.table_ref}, payload fields typed."
    existing = client.create_table(view, exists_ok=True)
    if existing.view_query != view.view_query:
        existing.view_query = view.view_query
        client.update_table(existing, ["view_query"])
    return str(view.reference)


def ensure_attributed_views(client: Any, stream: Stream, project: str) -> list[str]:
    """Create or update the stream's GA4-stitched views (infra/views/attributed.py); [] without a stitch.

    The emulator, unlike BigQuery, accepts a view whose GA4 tables do not exist yet; querying it then
    fails with "not found" until an export (or `scripts/dev --ga4-sample`) is loaded.
    """
    if stream.stitch is None:
        return []
    from google.cloud import bigquery

    created = []
    for spec in attributed_view_specs(stream, project):
        view = bigquery.Table(table_path(project, stream.dataset, spec.view_id))
        view.view_query = spec.sql
        view.description = spec.description
        existing = client.create_table(view, exists_ok=True)
        if existing.view_query != spec.sql or existing.description != spec.description:
            existing.view_query, existing.description = spec.sql, spec.description
            client.update_table(existing, ["view_query", "description"])
        created.append(str(view.reference))
    return created


def ensure_ads_ledger(client: Any, stream: Stream, project: str) -> str | None:
    """Create the `<table>_ads_uploads` ledger of a stream that sends conversions to Google Ads (its
    `<table>_ads_conversions` view is among the attributed views); None without `ads`."""
    if stream.ads is None:
        return None
    from google.cloud import bigquery

    table = bigquery.Table(table_path(project, stream.dataset, ads_uploads_table_id(stream)),
                           schema=[bigquery.SchemaField.from_api_repr(column) for column in ledger_schema()])
    table.description = f"What hookstream sent to Google Ads for {stream.table_ref}, one row per attempt."
    client.create_table(table, exists_ok=True)
    return str(table.reference)
