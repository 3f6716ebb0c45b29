"""A stream's table as one spec: what the Terraform table (infra/stream_resources.py) and the local
emulator's table (tools/local/provision.py) are both made from, so the two cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from service.model.schema import PARTITION_FIELD, PARTITION_TYPE, schema_json
from service.model.stream import Stream

MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class TableSpec:
    table_id: str
    description: str | None
    schema: list[dict[str, str]]
    partition_type: str
    partition_field: str
    partition_expiration_ms: int | None
    require_partition_filter: bool
    clustering: tuple[str, ...]
    labels: dict[str, str]
    deletion_protection: bool


def table_spec(stream: Stream) -> TableSpec:
    options = stream.table_options
    days = options.partition_expiration_days
    return TableSpec(
        table_id=stream.table,
        description=stream.description or None,
        schema=schema_json(),
        partition_type=PARTITION_TYPE,
        partition_field=PARTITION_FIELD,
        partition_expiration_ms=days * MS_PER_DAY if days is not None else None,
        require_partition_filter=options.require_partition_filter,
        clustering=options.clustering,
        labels=dict(options.labels),
        deletion_protection=options.deletion_protection,
    )
