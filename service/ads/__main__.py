"""The Cloud Run job's entry point: `python -m service.ads` with the settings of HOOKSTREAM_ADS_UPLOAD.

Exits 1 when any event failed, so the job's execution shows as failed, and logs "ads upload failed" (the
alert on failed uploads, infra/ads_resources.py, counts those lines); else "ads upload finished"."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from service.ads import datamanager, retraction
from service.ads.config import DATAMANAGER_ENDPOINT_ENV, DEVELOPER_TOKEN_ENV, GOOGLE_ADS_ENDPOINT_ENV, AdsUploadConfig
from service.ads.upload import GoogleAds, Mode, run
from service.model.service_env import BIGQUERY_EMULATOR_HOST

# Must match infra/log_metrics.py ADS_LOGGER (tests/runtime/test_ads_upload.py runs the metric's filter on it).
LOGGER = "hookstream.ads"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.ads",
                                     description="Send a stream's final orders to Google Ads (docs/ads.md)")
    parser.add_argument("--validate-only", action="store_true", help="Google validates the requests, stores none")
    parser.add_argument("--dry-run", action="store_true", help="send nothing, say what would be sent")
    args = parser.parse_args(argv)
    from service.runtime.bigquery_client import make_client

    try:
        config = AdsUploadConfig.from_env(os.environ)
    except ValueError as error:
        print(f"python -m service.ads: {error}", file=sys.stderr)
        return 2
    bigquery = make_client(config.project, os.environ.get(BIGQUERY_EMULATOR_HOST))
    client = datamanager.make_client(os.environ.get(DATAMANAGER_ENDPOINT_ENV))
    summary = run(bigquery, client, config, Mode(validate_only=args.validate_only, dry_run=args.dry_run),
                  google_ads=google_ads(os.environ))
    # One structured line for Cloud Logging; the failed-uploads metric counts "ads upload failed" lines.
    # Retractions waiting for a developer token are a warning: nothing failed, but bidding still counts them.
    severity = "ERROR" if summary.failed else "WARNING" if summary.needs_developer_token else "INFO"
    print(json.dumps({"severity": severity, "logger": LOGGER,
                      "message": "ads upload failed" if summary.failed else "ads upload finished",
                      "stream": summary.stream, "sent": summary.sent, "restated": summary.restated,
                      "retracted": summary.retracted, "unchanged": summary.unchanged,
                      "outside_import_window": summary.outside_window, "failed": summary.failed,
                      "diagnostics_fetched": summary.diagnostics,
                      "retraction_needs_developer_token": summary.needs_developer_token}), flush=True)
    return 1 if summary.failed else 0


def google_ads(env: Mapping[str, str]) -> GoogleAds:
    """The Google Ads API client for retractions, built only when a developer token is configured."""
    token = (env.get(DEVELOPER_TOKEN_ENV) or "").strip() or None
    return GoogleAds(retraction.make_client(env.get(GOOGLE_ADS_ENDPOINT_ENV)) if token else None, token)


if __name__ == "__main__":
    sys.exit(main())
