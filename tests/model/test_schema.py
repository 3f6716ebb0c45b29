"""The row layout: the columns the tables are made of and the rows the service writes are one layout."""

from __future__ import annotations

from typing import get_type_hints

from service.model.schema import PARTITION_FIELD, ROW_COLUMNS, HitRow

# The JSON type insertAll takes for each BigQuery column type the layout uses.
JSON_TYPES = {"STRING": str, "INTEGER": int, "DATE": str}


def test_a_written_row_has_exactly_the_table_columns_in_their_json_types() -> None:
    hints = get_type_hints(HitRow)
    assert list(hints) == [column.name for column in ROW_COLUMNS]
    for column in ROW_COLUMNS:
        expected = JSON_TYPES[column.type]
        allowed = {expected} if column.mode == "REQUIRED" else {expected, expected | None}
        assert hints[column.name] in allowed, column.name


def test_the_table_is_partitioned_on_the_receipt_day() -> None:
    assert PARTITION_FIELD == "date"
    assert [column.name for column in ROW_COLUMNS] == ["hit_id", "payload", "received_at", "date", "delivery_id",
                                                      "headers"]
