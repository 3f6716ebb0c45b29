"""The destination row: the one definition of its columns, their types and the partitioning.

The service builds rows from it, the local stack and the cdktf stack create tables from it, and
tests prove that all three agree. Change a column here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

ColumnMode = Literal["REQUIRED", "NULLABLE"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # BigQuery legacy type name, as both the REST API and Terraform's schema JSON spell it
    mode: ColumnMode
    description: str

    def as_bigquery_json(self) -> dict[str, str]:
        """The column as BigQuery's REST API and `google_bigquery_table.schema` expect it."""
        return {"name": self.name, "type": self.type, "mode": self.mode, "description": self.description}


HIT_ID = Column("hit_id", "STRING", "REQUIRED", "Unique id generated when the request was received (UUID4).")
PAYLOAD = Column("payload", "STRING", "NULLABLE", "The request body exactly as sent; for a GET, the raw query string.")
RECEIVED_AT = Column("received_at", "INTEGER", "NULLABLE", "Time of receipt, Unix milliseconds (UTC).")
DATE = Column("date", "DATE", "NULLABLE", "Day of receipt in the stream's time zone; the table is partitioned on it.")

DELIVERY_ID = Column("delivery_id", "STRING", "NULLABLE",
                     "The sender's delivery id (webhook-id or a configured header), when it gives one; "
                     "a repeated delivery repeats it.")

HEADERS = Column("headers", "STRING", "NULLABLE",
                 "The request's method, content type and the headers that carry meaning (the sender's topic, "
                 "shop, ids), as a JSON object keyed by lowercase header name; never a secret or signature. "
                 "NULL for rows written without a request (backfill) or before the column existed.")

# Added columns go at the end and NULLABLE: BigQuery and the provider then add them to an existing table in
# place (tools/operator/review/force_new.py), and tools/local/provision.py migrates local tables.
ROW_COLUMNS: tuple[Column, ...] = (HIT_ID, PAYLOAD, RECEIVED_AT, DATE, DELIVERY_ID, HEADERS)


class HitRow(TypedDict):
    """One row as the service writes it: the columns above, in the JSON types insertAll takes
    (tests/model/test_schema.py holds the two together)."""

    hit_id: str
    payload: str
    received_at: int
    date: str  # ISO date, YYYY-MM-DD
    delivery_id: str | None
    headers: str | None  # JSON text (service/model/kept_headers.py)


# BigQuery partitions the table by day on this DATE column, so a query with `WHERE date = ...`
# reads one partition.
PARTITION_FIELD = DATE.name
PARTITION_TYPE = "DAY"


def schema_json() -> list[dict[str, str]]:
    """The table schema as a JSON-able list (REST API and Terraform both take this shape)."""
    return [column.as_bigquery_json() for column in ROW_COLUMNS]
