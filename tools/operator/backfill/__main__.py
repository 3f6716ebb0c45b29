"""scripts/backfill --stream NAME SOURCE: load a CRM export (CSV or NDJSON) into the stream's table.

Target: the local stack's emulator (from .dev/stack.json, written by scripts/dev) unless --project is
given (or HOOKSTREAM_PROJECT is set), which means BigQuery itself with your application-default
credentials (or the emulator named by BIGQUERY_EMULATOR_HOST, as the Google tools read it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from infra.stream_list import load_streams
from service.model.ids import table_path
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, running_stack
from tools.operator.backfill.load import Backfill, ColumnMissing, LoadOptions, LoadStopped, TableMissing
from tools.operator.backfill.progress import Progress
from tools.operator.backfill.records import PayloadFormat, SourceFormat
from tools.operator.backfill.sources import SourceError, open_source

EXIT_STOPPED = 1
EXIT_USAGE = 2
FORMATS_BY_SUFFIX: dict[str, SourceFormat] = {
    ".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/backfill", description=__doc__.splitlines()[0])
    parser.add_argument("source", metavar="SOURCE", help="a local path, gs://BUCKET/KEY or s3://BUCKET/KEY")
    parser.add_argument("--stream", required=True, help="the stream's name in infra/streams.py")
    parser.add_argument("--format", choices=("csv", "ndjson"),
                        help="the export's format (default: from the file name: .csv, .ndjson/.jsonl/.json)")
    parser.add_argument("--payload-format", choices=("form", "json"),
                        help="how the CRM's webhook encodes a record (default: form for CSV, json for NDJSON)")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--received-at-column", metavar="COLUMN",
                      help="take received_at and date from this column (ISO 8601 date or date-time; "
                           "without an offset it is in the stream's time zone)")
    when.add_argument("--received-at", choices=("now",), default="now",
                      help="'now' (default): every row gets the time the load started")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per insert request (default 500)")
    parser.add_argument("--dry-run", action="store_true", help="check every record and count, write nothing")
    parser.add_argument("--project", default=os.environ.get("HOOKSTREAM_PROJECT"),
                        help="load into BigQuery in this project instead of the local stack")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")),
                        help="the local stack's directory (default: .dev)")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.batch_size > 50_000:
        parser.error("--batch-size must be 1-50000 (insertAll takes at most 50,000 rows per request)")
    return args


def find_stream(name: str) -> Stream:
    streams = load_streams("scripts/backfill")
    for stream in streams:
        if stream.name == name:
            return stream
    raise LookupError(f"no stream named {name!r} in infra/streams.py; streams: "
                      f"{', '.join(s.name for s in streams)}")


def source_format(args: argparse.Namespace) -> SourceFormat:
    if args.format:
        fmt: SourceFormat = args.format
        return fmt
    suffix = Path(args.source.split("?")[0]).suffix.lower()
    if suffix in FORMATS_BY_SUFFIX:
        return FORMATS_BY_SUFFIX[suffix]
    raise LookupError(f"cannot tell the format of {args.source} from its name: pass --format csv or ndjson")


def connect(args: argparse.Namespace) -> tuple[Any, str, str]:
    """(client, project, description of the target)."""
    if args.project:
        emulator = os.environ.get("BIGQUERY_EMULATOR_HOST") or None
        where = f"emulator at {emulator}" if emulator else "BigQuery"
        return make_client(args.project, emulator), args.project, f"{where}, project {args.project}"
    try:
        stack = running_stack(args.dir)
    except StackNotRunning as error:
        raise LookupError(f"{error.args[0]}; or pass --project to load into BigQuery") from None
    return make_client(stack.project, stack.emulator_url), stack.project, f"local emulator at {stack.emulator_url}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        stream = find_stream(args.stream)
        fmt = source_format(args)
        client, project, target = connect(args)
    except LookupError as error:
        print(f"scripts/backfill: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    payload_format: PayloadFormat = args.payload_format or ("form" if fmt == "csv" else "json")
    options = LoadOptions(source_format=fmt, payload_format=payload_format,
                          received_at_column=args.received_at_column, batch_size=args.batch_size,
                          dry_run=args.dry_run)
    table_id = table_path(project, stream.dataset, stream.table)
    print(f"backfill {stream.name}: {args.source} ({fmt}, payload as {payload_format}) -> {table_id} "
          f"({target}){' [dry run]' if args.dry_run else ''}", file=sys.stderr)
    try:
        with open_source(args.source) as source:
            loader = Backfill(client, stream, table_id, options, Progress(source.size))
            counts = loader.run(source)
    except (SourceError, TableMissing, ColumnMissing) as error:
        print(f"scripts/backfill: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LoadStopped as stopped:
        print(f"scripts/backfill: {stopped}", file=sys.stderr)
        return EXIT_STOPPED
    finally:
        client.close()
    print(counts.summary(dry_run=args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
