"""`scripts/report --stream S [--from D --to D] [--out report.html] [--project P]`: the stream's
`<table>_roi_by_channel` view as one HTML file that opens offline.

Reads the local emulator that scripts/dev started, or with `--project` a real BigQuery project through
Application Default Credentials (`gcloud auth application-default login`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from infra.stream_list import load_streams
from infra.views.roi_by_channel import roi_by_channel_view_id
from service.model.stream import Stream
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, running_stack
from tools.operator.report.figures import build_report
from tools.operator.report.page import render

PROG = "scripts/report"


class ReportError(Exception):
    """A problem the user can fix; the message says how."""


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day as YYYY-MM-DD") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--stream", required=True, help="the stream's name in infra/streams.py")
    parser.add_argument("--from", dest="first", type=_day, help="first day (default: the view's window)")
    parser.add_argument("--to", dest="last", type=_day, help="last day (default: today)")
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    parser.add_argument("--project", help="a real BigQuery project (default: the local emulator)")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")),
                        help="the local stack's directory (scripts/dev --dir)")
    return parser.parse_args(argv)


def _client(args: argparse.Namespace) -> tuple[Any, str]:
    if args.project:
        from google.cloud import bigquery

        return bigquery.Client(project=args.project), args.project
    try:
        stack = running_stack(args.dir)
    except StackNotRunning as error:
        raise ReportError(f"{error}; start it with scripts/dev --ga4-sample, or pass --project") from None
    from service.runtime.bigquery_client import make_client

    return make_client(stack.project, stack.emulator_url), stack.project


def fetch_rows(client: Any, view: str, first: dt.date | None, last: dt.date | None) -> list[dict[str, Any]]:
    from google.api_core import exceptions as api_errors
    from google.cloud import bigquery

    params = [bigquery.ScalarQueryParameter("first", "DATE", first),
              bigquery.ScalarQueryParameter("last", "DATE", last)]
    sql = (f"SELECT * FROM `{view}` WHERE (@first IS NULL OR day >= @first) AND (@last IS NULL OR day <= @last) "
           "ORDER BY day")
    try:
        job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params), timeout=30)
        return [dict(row) for row in job.result(timeout=120)]
    except api_errors.NotFound as error:
        raise ReportError(f"{view} or a table it reads does not exist ({_first_message(error)}). Declare the "
                          "stream's stitch with costs and deploy it, or run scripts/dev --ga4-sample locally; "
                          "a cost source's tables appear after its first transfer run") from None
    except api_errors.GoogleAPIError as error:
        raise ReportError(f"the query of {view} failed: {_first_message(error)}") from None
    except OSError as error:
        raise ReportError(f"cannot reach BigQuery ({error}); is scripts/dev running?") from None


def _first_message(error: Any) -> str:
    errors = getattr(error, "errors", None) or []
    return str((errors[0].get("message") if errors and isinstance(errors[0], dict) else None) or error)


def _stream(name: str) -> Stream:
    streams = load_streams(PROG)
    for stream in streams:
        if stream.name == name:
            return stream
    raise ReportError(f"no stream {name!r} in infra/streams.py (streams: {', '.join(s.name for s in streams)})")


def run(args: argparse.Namespace) -> Path:
    stream = _stream(args.stream)
    if args.first and args.last and args.first > args.last:
        raise ReportError(f"--from {args.first} is after --to {args.last}")
    client, project = _client(args)
    view = f"{project}.{stream.dataset}.{roi_by_channel_view_id(stream)}"
    print(f"{PROG}: querying {view} ...", file=sys.stderr, flush=True)
    rows = fetch_rows(client, view, args.first, args.last)
    print(f"{PROG}: {len(rows)} rows; writing {args.out}", file=sys.stderr, flush=True)
    period = f"{args.first or 'window start'} to {args.last or 'today'}"
    args.out.write_text(render(build_report(rows), f"ROI of {stream.table_ref}, {period}"), encoding="utf-8")
    return Path(args.out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        out = run(args)
    except ReportError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    print(f"{PROG}: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
