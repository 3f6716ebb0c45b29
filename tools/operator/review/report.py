"""The review as text: the same content for a terminal and as Markdown for a pull request comment."""

from __future__ import annotations

import json
from typing import Any

from tools.operator.review.compare import ResourceChange, Review, StreamReport
from tools.operator.review.findings import BLOCKED, DELETE_DATA, KEEP_DATA
from tools.operator.review.schema_change import describe_schema_change

MAX_VALUE_CHARS = 80
SECRET_PATHS = ("secret_data",)
FINDING_TITLES = {
    "blocked": "Cannot deploy as is",
    "data": "Destroys stored data",
    "endpoint": "Changes what CRMs call",
    "kept": "Leaves Terraform, data kept",
}
REMOVAL_PATHS = {
    KEEP_DATA: "keep the data: the table leaves Terraform state and stays in BigQuery (RETIRED_STREAMS)",
    DELETE_DATA: "delete the data: deletion protection is already off, the table and its rows are deleted",
    BLOCKED: "blocked: the table still has deletion protection; retire the stream or turn protection off first",
}


def _value(path: str, value: Any) -> str:
    if value is None:
        return "(unset)"
    if any(path.endswith(secret) for secret in SECRET_PATHS):
        return "(secret)"
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > MAX_VALUE_CHARS:
        return f"({len(text)} characters)"
    return text


def _change_lines(change: ResourceChange) -> list[str]:
    resource = change.resource
    head = f"{change.kind}: {resource.type} {resource.name}"
    lines = [head + (f" -- {'; '.join(change.because)}" if change.because else "")]
    for setting in change.settings:
        columns = (describe_schema_change(setting.before, setting.after)
                   if resource.type == "google_bigquery_table" and setting.path == "schema" else None)
        if columns is not None:  # the columns by name, not two lengths of one JSON string
            lines.append(f"    schema: {columns}")
            continue
        lines.append(f"    {setting.path}: {_value(setting.path, setting.before)} -> "
                     f"{_value(setting.path, setting.after)}")
    return lines


def _stream_title(report: StreamReport) -> str:
    if report.name is None:
        return "shared by all streams"
    return f"stream {report.name} ({report.status})"


def render(review: Review, markdown: bool) -> str:
    out: list[str] = []

    def heading(text: str) -> str:
        return f"### {text}" if markdown else f"== {text}"

    out.append("## hookstream review" if markdown else "hookstream review")
    unallowed = review.unallowed
    verdict = ("FAILS: data-destroying or undeployable changes need a decision (below)" if unallowed
               else "passes")
    out.append(f"Result: **{verdict}**" if markdown else f"Result: {verdict}")
    important = [f for f in review.findings if f.kind in FINDING_TITLES]
    if important:
        out.append("")
        out.append(heading("What a reviewer must decide"))
        for kind, title in FINDING_TITLES.items():
            for finding in (f for f in important if f.kind == kind):
                where = f"stream {finding.stream}" if finding.stream else "shared"
                allowed = " (allowed)" if kind == "data" and finding.stream in review.allowed else ""
                out.append(f"- {title}{allowed}: {where}: {finding.message}")
    for stale in review.stale_allowances:
        out.append(f"- Note: data loss is allowed for stream {stale}, which loses no data in this change: "
                   "remove it from ALLOW_DATA_LOSS")
    changed = [report for report in review.streams if report.changes or report.status != "unchanged"]
    if not changed:
        out.append("")
        out.append("No changes to the streams stack.")
    for report in changed:
        out.append("")
        out.append(heading(_stream_title(report)))
        if report.removal_path:
            out.append(f"Removal path: {REMOVAL_PATHS[report.removal_path]}")
        lines = [line for change in report.changes for line in _change_lines(change)]
        if markdown:
            out += ["```", *lines, "```"] if lines else []
        else:
            out += [f"  {line}" for line in lines]
    unchanged = [r.name for r in review.streams if r.status == "unchanged" and r.name and not r.changes]
    if unchanged:
        out.append("")
        out.append(f"Unchanged: {', '.join(unchanged)}")
    return "\n".join(out) + "\n"
