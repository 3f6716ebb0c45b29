"""Just enough of Cloud Logging to check our log-based metrics against real log lines.

- `cloud_run_entry`: the LogEntry Cloud Run makes of one JSON line on stdout (structured logging: the
  special fields severity and logging.googleapis.com/trace leave the payload; everything else, message
  included, stays in jsonPayload).
- `matches`: the subset of the Logging query language infra/log_metrics.py writes, and nothing more:
  `FIELD = "value"` and `FIELD = ("a" OR "b")` clauses joined by AND. String comparison ignores case, as
  in Cloud Logging. Anything else raises UnsupportedFilter, so a filter cannot silently outgrow the check.
- `extract`: `EXTRACT(jsonPayload.field)` of label and value extractors.
"""

from __future__ import annotations

import re
from typing import Any

SPECIAL_FIELDS = ("severity", "logging.googleapis.com/trace", "logging.googleapis.com/spanId",
                  "logging.googleapis.com/labels", "logging.googleapis.com/insertId", "httpRequest", "time")
TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(=|\(|\))|([A-Za-z_][A-Za-z0-9_.]*))')
EXTRACT = re.compile(r"^EXTRACT\(([A-Za-z_][A-Za-z0-9_.]*)\)$")


class UnsupportedFilter(ValueError):
    pass


def cloud_run_entry(line: dict[str, Any], service_name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service_name}},
        "severity": line.get("severity", "DEFAULT"),
        "jsonPayload": {key: value for key, value in line.items() if key not in SPECIAL_FIELDS},
    }
    if "logging.googleapis.com/trace" in line:
        entry["trace"] = line["logging.googleapis.com/trace"]
    return entry


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnsupportedFilter(f"cannot read {text[position:]!r}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


def parse(text: str) -> list[tuple[str, tuple[str, ...]]]:
    tokens, clauses, index = _tokens(text), [], 0

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise UnsupportedFilter(f"{text!r} ends early")
        index += 1
        return tokens[index - 1]

    def peek() -> str:
        return tokens[index] if index < len(tokens) else ""

    def string() -> str:
        token = take()
        if not token.startswith('"'):
            raise UnsupportedFilter(f"expected a quoted value, got {token!r} in {text!r}")
        return token[1:-1].replace('\\"', '"')

    while True:
        field = take()
        if field.startswith('"') or field in ("(", ")", "=", "AND", "OR", "NOT"):
            raise UnsupportedFilter(f"expected a field, got {field!r} in {text!r}")
        if take() != "=":
            raise UnsupportedFilter(f"only '=' comparisons are supported: {text!r}")
        if peek() == "(":
            take()
            values = [string()]
            while peek() == "OR":
                take()
                values.append(string())
            if take() != ")":
                raise UnsupportedFilter(f"unclosed '(' in {text!r}")
        else:
            values = [string()]
        clauses.append((field, tuple(values)))
        if index == len(tokens):
            return clauses
        if take() != "AND":
            raise UnsupportedFilter(f"clauses must be joined by AND: {text!r}")


def field_value(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def matches(filter_text: str, entry: dict[str, Any]) -> bool:
    for field, values in parse(filter_text):
        value = field_value(entry, field)
        if value is None or str(value).lower() not in {v.lower() for v in values}:
            return False
    return True


def extract(extractor: str, entry: dict[str, Any]) -> str | None:
    match = EXTRACT.match(extractor)
    if match is None:
        raise UnsupportedFilter(f"only EXTRACT(field) is supported: {extractor!r}")
    value = field_value(entry, match.group(1))
    return None if value is None else str(value)
