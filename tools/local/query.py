"""`scripts/query SQL`: standard SQL against the local emulator that scripts/dev started.

Prints JSON lines when stdout is a pipe or file (for jq and tests), an aligned table on a terminal.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.runtime.bigquery_client import make_client
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, running_stack


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(_plain(value))
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |", line]
    out += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in cells]
    out += [line, f"{len(rows)} row{'s' if len(rows) != 1 else ''}"]
    return "\n".join(out)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# DuckDB's "LINE 1: <sql>" and its caret quote the emulator's translation of the query, not the query
# typed: their position would point at the wrong place.
_TRANSLATED_SQL = re.compile(r"\n*LINE \d+: .*(\n *\^)?", re.DOTALL)


def query_error_message(error: Any, colour: bool) -> str:
    """The error once: the API's first error (its `message` repeats it with the job id), cleaned up."""
    errors = getattr(error, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = str(first.get("message") or getattr(error, "message", None) or error)
    message = _TRANSLATED_SQL.sub("", message).strip()
    return message if colour else _ANSI.sub("", message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/query", description=__doc__.splitlines()[0])
    parser.add_argument("sql", help="standard SQL; name tables as dataset.table")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")))
    parser.add_argument("--format", choices=("auto", "json", "table"), default="auto")
    args = parser.parse_args(argv)

    try:
        stack = running_stack(args.dir)
    except StackNotRunning as error:
        print(f"scripts/query: {error}; or point --dir (HOOKSTREAM_DEV_DIR) at a running stack's directory",
              file=sys.stderr)
        return 2
    client = make_client(stack.project, stack.emulator_url)
    from google.api_core import exceptions as api_errors
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(default_dataset=None)
    try:
        result = client.query(args.sql, job_config=config, timeout=30).result(timeout=60)
    except api_errors.GoogleAPIError as error:
        print(f"scripts/query: the query failed: {query_error_message(error, sys.stderr.isatty())}",
              file=sys.stderr)
        return 1
    except OSError as error:
        print(f"scripts/query: cannot reach the emulator at {stack.emulator_url} ({error}); "
              "is scripts/dev running?", file=sys.stderr)
        return 2
    columns = [field.name for field in result.schema]
    rows = [tuple(row.values()) for row in result]
    as_table = args.format == "table" or (args.format == "auto" and sys.stdout.isatty())
    if as_table:
        print(format_table(columns, rows))
    else:
        for row in rows:
            print(json.dumps({c: _plain(v) for c, v in zip(columns, row, strict=True)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
