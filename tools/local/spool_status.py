"""`scripts/status [--cloud]`: per stream, how many hits wait in the spool and how old the oldest is.

Locally it reads the spool of the stack scripts/dev started; with --cloud the deployment's spool bucket
(HOOKSTREAM_GCP_PROJECT; needs read access to the bucket, e.g. roles/storage.objectViewer).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.stream_list import load_streams
from service.model.spool import spool_bucket_name, spool_url
from service.runtime.replay import spool_status
from service.runtime.spool import SpoolLocation
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, local_spool


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def local_storage(dev_dir: Path) -> tuple[Any, str]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    spool = local_spool(dev_dir)  # not running_stack(): the spool matters most while BigQuery is down
    client = storage.Client(project="local", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                            client_options=ClientOptions(api_endpoint=spool.storage_url))
    return client, spool.bucket


def cloud_storage(project: str) -> tuple[Any, str]:
    from google.cloud import storage  # type: ignore[attr-defined]

    return storage.Client(project=project), spool_bucket_name(project)


def main(argv: Sequence[str] | None = None) -> int:
    streams = load_streams("scripts/status")
    parser = argparse.ArgumentParser(prog="scripts/status", description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", action="store_true", help="the deployed spool (HOOKSTREAM_GCP_PROJECT)")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")))
    args = parser.parse_args(argv)
    try:
        if args.cloud:
            project = os.environ.get("HOOKSTREAM_GCP_PROJECT")
            if not project:
                print("scripts/status --cloud: set HOOKSTREAM_GCP_PROJECT", file=sys.stderr)
                return 2
            client, bucket = cloud_storage(project)
        else:
            client, bucket = local_storage(args.dir)
    except StackNotRunning as error:
        print(f"scripts/status: {error}", file=sys.stderr)
        return 1
    print(f"{'stream':<20} {'waiting':>8}  oldest   spool")
    for stream in streams:
        location = SpoolLocation.parse(spool_url(bucket, stream.name))
        status = spool_status(client, location)
        print(f"{stream.name:<20} {status.waiting:>8}  {age_text(status.oldest_age_seconds):<8} {location.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
