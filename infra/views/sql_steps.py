"""A view's SQL as named steps (`WITH name AS (...)`), each selecting its columns by name.

Every step lists the columns it hands to the next ones explicitly (`SELECT x.a AS a, ...`, never `*`), so a
reader of a later step finds where each column comes from by its name.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.model.ids import PROJECT_ID


@dataclass(frozen=True)
class Step:
    name: str
    sql: str  # the step's SELECT, indented by two spaces


def with_steps(steps: list[Step], final: str) -> str:
    """`WITH a AS (...), b AS (...) <final>`."""
    ctes = ",\n".join(f"{step.name} AS (\n{step.sql}\n)" for step in steps)
    return f"WITH {ctes}\n{final}\n"


def check_project(project: str) -> None:
    if not PROJECT_ID.match(project):
        raise ValueError(f"project {project!r} is not a Google Cloud project id")


def absent_if_placeholder(value: str) -> str:
    """GA4 writes '(not set)', '(direct)' and '(none)' (and sometimes '') where it has no value: NULL then,
    so the next record in line is consulted instead of the placeholder winning."""
    return f"NULLIF(NULLIF(NULLIF(NULLIF({value}, ''), '(not set)'), '(direct)'), '(none)')"
