"""scripts/review names a table's column changes (tools/operator/review/schema_change.py)."""

from __future__ import annotations

import json

import pytest

from tools.operator.review.schema_change import describe_schema_change

BEFORE = json.dumps([{"name": "hit_id", "type": "STRING", "mode": "REQUIRED", "description": "id"},
                     {"name": "payload", "type": "STRING", "mode": "NULLABLE"}])


@pytest.mark.parametrize(("after", "described"), [
    ([{"name": "hit_id", "type": "STRING", "mode": "REQUIRED", "description": "id"},
      {"name": "payload", "type": "STRING", "mode": "NULLABLE"}, {"name": "headers", "type": "STRING"}],
     "column added: headers (STRING, NULLABLE)"),
    ([{"name": "hit_id", "type": "STRING", "mode": "REQUIRED", "description": "id"}], "column dropped: payload"),
    ([{"name": "hit_id", "type": "STRING", "mode": "REQUIRED", "description": "the id"},
      {"name": "payload", "type": "BYTES", "mode": "NULLABLE"}],
     "column hit_id: description changed; column payload: STRING, NULLABLE -> BYTES, NULLABLE"),
    (json.loads(BEFORE), "no column changes"),
])
def test_the_change_is_named_column_by_column(after: list[dict[str, str]], described: str) -> None:
    assert describe_schema_change(BEFORE, json.dumps(after)) == described


def test_a_value_that_is_not_a_schema_is_left_to_the_plain_rendering() -> None:
    assert describe_schema_change(None, BEFORE) is None
    assert describe_schema_change(BEFORE, "${var.schema}") is None
