"""`scripts/ads-upload [--stream NAME] [--validate-only] [--dry-run]`: send the final orders of every stream
that declares `ads` to Google Ads now, on the local stack (scripts/dev's emulator and Data Manager stand-in).

It runs the code the deployed Cloud Run job runs (service/ads/upload.py) with a progress bar on stderr and
one summary line per stream: sent, restated, retracted, unchanged, outside the import window, failed. The
deployed job: `gcloud run jobs execute hookstream-ads-<stream> --wait` (docs/ads.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.stream_list import load_streams
from service.ads import datamanager, retraction
from service.ads.config import AdsUploadConfig
from service.ads.upload import GoogleAds, Mode, Progress, run
from service.runtime.bigquery_client import make_client
from tools.local.ads_sample import with_sample_ads
from tools.local.dev import with_sample_stitch
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, local_datamanager, local_googleads, running_stack

BAR_WIDTH = 30
# The stand-in only checks that a token came; a real one never belongs on a laptop's stack.
LOCAL_DEVELOPER_TOKEN = "local-stand-in-token"


def progress_bar(stream: str) -> Progress:
    def show(done: int, total: int) -> None:
        if total == 0:
            return
        filled = BAR_WIDTH * done // max(total, 1)
        print(f"\r{stream} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} events", end="",
              file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)
    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/ads-upload", description=__doc__.splitlines()[0])
    parser.add_argument("--stream", help="only this stream (default: every stream that declares ads)")
    parser.add_argument("--validate-only", action="store_true",
                        help="Google (here: the stand-in) validates the requests and stores nothing")
    parser.add_argument("--dry-run", action="store_true", help="send nothing; count what would be sent")
    args = parser.parse_args(argv)
    dev_dir = Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev"))
    try:
        stack = running_stack(dev_dir)
        standin_url, ga4_sample = local_datamanager(dev_dir)
    except StackNotRunning as error:
        print(f"scripts/ads-upload: {error}", file=sys.stderr)
        return 1
    streams = load_streams("scripts/ads-upload")
    if ga4_sample:
        streams = with_sample_ads(with_sample_stitch(streams))
    chosen = [s for s in streams if s.ads is not None and (args.stream is None or s.name == args.stream)]
    if not chosen:
        print(f"scripts/ads-upload: no stream {'named ' + repr(args.stream) + ' ' if args.stream else ''}declares "
              "ads=GoogleAdsConversions(...) (infra/streams.py; or run scripts/dev --ga4-sample)", file=sys.stderr)
        return 1
    bigquery = make_client(stack.project, stack.emulator_url)
    client = datamanager.make_client(standin_url)
    googleads_address = local_googleads(dev_dir)
    # A scripts/dev from before the Google Ads stand-in: retractions are counted as waiting for a token.
    google_ads = GoogleAds(retraction.make_client(googleads_address), LOCAL_DEVELOPER_TOKEN) \
        if googleads_address else GoogleAds(None, None)
    worst = 0
    for stream in chosen:
        assert stream.ads is not None
        config = AdsUploadConfig.of(stream.name, stack.project, stream.dataset, stream.table, stream.ads)
        summary = run(bigquery, client, config, Mode(validate_only=args.validate_only, dry_run=args.dry_run),
                      progress=progress_bar(stream.name), google_ads=google_ads)
        print(summary.line(), flush=True)
        worst = max(worst, 1 if summary.failed else 0)
    return worst


if __name__ == "__main__":
    sys.exit(main())
