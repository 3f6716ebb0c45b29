"""The Terraform `removed` blocks (destroy = false) that let retired streams' tables leave state.

cdktf 0.21 has no construct for `removed` blocks, so they are written as a stack override; the address is
the logical id cdktf gave the table while the stream existed (the same construct path, so the same id).
"""

from __future__ import annotations

from constructs import Construct

from infra.engine.core import TerraformStack
from infra.retired import RetiredStream, dataset_construct_id, table_construct_path

TABLE_TYPE = "google_bigquery_table"
DATASET_TYPE = "google_bigquery_dataset"


def forget_retired(stack: TerraformStack, retired: tuple[RetiredStream, ...],
                   datasets_in_use: set[str]) -> list[dict[str, object]]:
    """Add the `removed` blocks for `retired` to `stack`; returns them (for tests and the review)."""
    blocks: list[dict[str, object]] = []
    forgotten_datasets: set[str] = set()
    for entry in retired:
        stream_id, table_id = table_construct_path(entry.name)
        # An empty construct at the old path: it synthesizes to nothing, but has the table's logical id.
        placeholder = Construct(Construct(stack, stream_id), table_id)
        blocks.append(_forget(f"{TABLE_TYPE}.{stack.get_logical_id(placeholder.node)}"))
        if entry.dataset not in datasets_in_use and entry.dataset not in forgotten_datasets:
            forgotten_datasets.add(entry.dataset)
            dataset_placeholder = Construct(stack, dataset_construct_id(entry.dataset))
            blocks.append(_forget(f"{DATASET_TYPE}.{stack.get_logical_id(dataset_placeholder.node)}"))
    if blocks:
        stack.add_override("removed", blocks)
    return blocks


def _forget(address: str) -> dict[str, object]:
    return {"from": address, "lifecycle": {"destroy": False}}
