"""A table's schema change as a reviewer reads it: which columns are added, dropped or altered, by name.

The synthesized schema is one JSON string; its length before and after says nothing. Whether the change is
in place is decided elsewhere (tools/operator/review/force_new.py); this only names what changes.
"""

from __future__ import annotations

import json
from typing import Any


def _columns(schema: Any) -> dict[str, dict[str, Any]] | None:
    try:
        parsed = json.loads(schema) if isinstance(schema, str) else None
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, list):
        return None
    return {str(column.get("name")): column for column in parsed if isinstance(column, dict)}


def _shape(column: dict[str, Any]) -> str:
    return f"{column.get('type', '?')}, {column.get('mode') or 'NULLABLE'}"


def describe_schema_change(before: Any, after: Any) -> str | None:
    """E.g. 'column added: headers (STRING, NULLABLE)'; None where either side is not a schema."""
    old, new = _columns(before), _columns(after)
    if old is None or new is None:
        return None
    parts = [f"column added: {name} ({_shape(column)})" for name, column in new.items() if name not in old]
    parts += [f"column dropped: {name}" for name in old if name not in new]
    for name in (name for name in new if name in old):
        if _shape(old[name]) != _shape(new[name]):
            parts.append(f"column {name}: {_shape(old[name])} -> {_shape(new[name])}")
        elif old[name].get("description") != new[name].get("description"):
            parts.append(f"column {name}: description changed")
    return "; ".join(parts) or "no column changes"
