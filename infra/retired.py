"""Retiring a stream while keeping its data: the table leaves Terraform state and stays in BigQuery.

Removing a stream from STREAMS alone makes Terraform destroy its table, which deletion protection refuses
at apply time, after the stream's other resources may already be gone. A `RetiredStream` entry makes the
same deploy remove the endpoint, identity and secret, and *forget* the table (a Terraform `removed` block
with `destroy = false`, Terraform >= 1.7): its rows stay queryable, nobody writes to it any more. The
dataset is forgotten too when no remaining stream uses it. docs/deploy.md, "Removing a stream".

This module is imported by infra/streams.py, so it needs no cdktf; infra/forget_retired.py writes the
blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.model.ids import DATASET_OR_TABLE_ID
from service.model.stream import STREAM_NAME, Stream, StreamDefinitionError


@dataclass(frozen=True)
class RetiredStream:
    """A stream removed from STREAMS whose table (and rows) must stay: name, dataset and table as they were."""

    name: str
    dataset: str
    table: str

    def __post_init__(self) -> None:
        if not STREAM_NAME.match(self.name):
            raise StreamDefinitionError(self.name, "RetiredStream.name", self.name,
                                        "use the removed stream's name exactly as it was in STREAMS")
        for field_name in ("dataset", "table"):
            value = getattr(self, field_name)
            if not DATASET_OR_TABLE_ID.match(value):
                raise StreamDefinitionError(self.name, f"RetiredStream.{field_name}", value,
                                            "use the removed stream's BigQuery id exactly as it was")


def check_retired(retired: tuple[RetiredStream, ...], streams: tuple[Stream, ...]) -> None:
    active = {stream.name for stream in streams}
    for entry in retired:
        if entry.name in active:
            raise StreamDefinitionError(
                entry.name, "RETIRED_STREAMS", entry.name,
                "a stream cannot be in STREAMS and RETIRED_STREAMS at once; remove it from one of them")


# Must match what StreamResources and StreamsStack name the table and dataset constructs.
def table_construct_path(name: str) -> tuple[str, str]:
    return name, f"{name}-table"


def dataset_construct_id(dataset: str) -> str:
    return f"dataset-{dataset}"
