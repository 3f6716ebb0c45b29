"""`scripts/dev`: the whole stack on this machine, with no cloud account.

Starts the BigQuery emulator (data under .dev/), creates every stream's dataset and table, serves each
stream with the Cloud Run image's gunicorn config, one worker and the stream's concurrency as threads,
settings from the same codec (service/model/service_env.py). What differs from Cloud Run: the emulator
stands in for BigQuery, GET /metrics is served, the service listens on 127.0.0.1 with no TLS in front,
and the CPU is not throttled between requests. It prints and writes the endpoint URLs, then runs until
Ctrl-C or SIGTERM and stops what it started.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from infra.stream_list import load_streams
from infra.views.attributed import attributed_view_id, ga4_project, revenue_by_channel_view_id
from service.model.endpoint import endpoint_url
from service.model.service_env import METRICS_ENDPOINT, SECRETS
from service.model.stream import Stream
from service.model.timezones import parse_time_zone
from service.runtime.bigquery_client import make_client
from tools.local.ads_sample import SAMPLE_ADS_COST, load_ads_sample, with_sample_ads
from tools.local.datamanager_standin import start_datamanager_standin
from tools.local.dev_secrets import load_or_create
from tools.local.ga4_sample import SAMPLE_STITCH, load_sample
from tools.local.gcs_emulator import ensure_bucket, start_gcs_emulator
from tools.local.googleads_standin import start_googleads_standin
from tools.local.processes import REPO_ROOT, Process, StartupFailed, start_emulator, start_service, write_json
from tools.local.provision import provision
from tools.local.spool_replay import LOCAL_SPOOL_BUCKET, local_stream_env, replay_once
from tools.local.stack_file import STACK_FILE, LocalSpool, stack_record

LOCAL_PROJECT = "hookstream-local"
REPLAY_INTERVAL_SECONDS = 30.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/dev", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")),
                        help="where emulator data, logs and endpoints.json live (default: .dev)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("HOOKSTREAM_DEV_PORT", "8081")),
                        help="port of the first stream's endpoint; the next streams take the next ports")
    parser.add_argument("--emulator-port", type=int,
                        default=int(os.environ.get("HOOKSTREAM_DEV_EMULATOR_PORT", "9050")),
                        help="REST port of the BigQuery emulator (gRPC uses this + 10)")
    parser.add_argument("--ga4-sample", action="store_true",
                        help="load a synthetic GA4 export and create the attributed-revenue views (a stream "
                             "with a latest view but no stitch is stitched to the sample, locally only)")
    return parser.parse_args(argv)


def with_sample_stitch(streams: tuple[Stream, ...]) -> tuple[Stream, ...]:
    """Streams that declare a latest view but no GA4 stitch get the sample's, for this local run only."""
    return tuple(dataclasses.replace(s, stitch=SAMPLE_STITCH) if s.latest is not None and s.stitch is None else s
                 for s in streams)


def load_ga4_samples(client: object, streams: tuple[Stream, ...], project: str) -> list[Stream]:
    """Load the synthetic export into each stitched stream's GA4 dataset, dated from the stream's today."""
    stitched = [s for s in streams if s.stitch is not None]
    for stream in stitched:
        assert stream.stitch is not None
        zone = parse_time_zone(stream.stitch.time_zone or stream.time_zone)
        tables = load_sample(client, ga4_project(stream, project), stream.stitch.dataset,
                             dt.datetime.now(zone).date(), stream.table_options.location)
        print(f"synthetic GA4 export: {len(tables)} tables in {ga4_project(stream, project)}.{stream.stitch.dataset}")
        if SAMPLE_ADS_COST in stream.stitch.costs:  # the sample stitch's cost: the synthetic Google Ads transfer
            ads = load_ads_sample(client, project, dt.datetime.now(zone).date(), stream.table_options.location)
            print(f"synthetic Google Ads transfer: {len(ads)} tables in {project}.{SAMPLE_ADS_COST.dataset}")
    return stitched


def run(args: argparse.Namespace, streams: tuple[Stream, ...]) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    started: list[Process] = []
    logs = args.dir / "logs"
    try:
        emulator, emulator_url = start_emulator(args.dir / "emulator", LOCAL_PROJECT, args.emulator_port,
                                                args.emulator_port + 10, logs / "emulator.log")
        started.append(emulator)
        # The spool: a local Cloud Storage (objects kept under .dev/spool) and its bucket.
        storage, storage_url = start_gcs_emulator(args.dir / "spool", args.emulator_port + 20,
                                                  logs / "storage-emulator.log")
        started.append(storage)
        ensure_bucket(storage_url, LOCAL_SPOOL_BUCKET)
        # Google's Data Manager API, for scripts/ads-upload (tools/local/datamanager_standin.py).
        standin, datamanager_url = start_datamanager_standin(args.emulator_port + 30, logs / "datamanager.log")
        started.append(standin)
        # The Google Ads API (retractions), gRPC, and its HTTP side door on the next port.
        googleads, googleads_address = start_googleads_standin(args.emulator_port + 31, logs / "googleads.log")
        started.append(googleads)
        client = make_client(LOCAL_PROJECT, emulator_url)
        if args.ga4_sample:
            streams = with_sample_ads(with_sample_stitch(streams))
        for table_id in provision(client, streams, LOCAL_PROJECT):
            print(f"table ready: {table_id}")
        stitched = load_ga4_samples(client, streams, LOCAL_PROJECT) if args.ga4_sample else []
        client.close()
        write_json(args.dir / STACK_FILE, stack_record(LOCAL_PROJECT, emulator_url, emulator.popen.pid,
                                                       LocalSpool(storage_url, LOCAL_SPOOL_BUCKET),
                                                       datamanager_url, ga4_sample=args.ga4_sample,
                                                       googleads_address=googleads_address))

        secrets = load_or_create(args.dir / "secrets.json", streams)
        endpoints: dict[str, str] = {}
        for offset, stream in enumerate(streams):
            port = args.port + offset
            # As on Cloud Run: one gunicorn worker with the stream's concurrency as threads (its spec).
            env = {**local_stream_env(stream, LOCAL_PROJECT, emulator_url, storage_url),
                   SECRETS: secrets.get(stream.name, ""), METRICS_ENDPOINT: "1"}
            started.append(start_service(stream.name, env, port, logs / f"{stream.name}.log"))
            endpoints[stream.name] = endpoint_url(f"http://127.0.0.1:{port}", stream.auth, secrets.get(stream.name))
        # The URLs carry the endpoint secrets (token mode): owner-only, like secrets.json.
        write_json(args.dir / "endpoints.json", endpoints, private=True)
    except StartupFailed as error:
        print(f"scripts/dev: {error}", file=sys.stderr)
        if "Could not set lock" in str(error):  # DuckDB: another emulator still has this data directory
            print(f"scripts/dev: {args.dir} is locked by another emulator (a scripts/dev that was killed leaves "
                  "its emulator running: stop that process), or set HOOKSTREAM_DEV_DIR to another directory.",
                  file=sys.stderr)
        _stop_all(started)
        (args.dir / STACK_FILE).unlink(missing_ok=True)
        return 1

    print("\nhookstream is running locally. Endpoints (also in "
          f"{os.path.relpath(args.dir / 'endpoints.json')}):")
    for stream in streams:
        print(f"  {stream.name:<20} {endpoints[stream.name]}   (auth: {stream.auth.mode})")
    first = next(iter(streams))
    print(f"\nTry:\n  curl -d 'orderId=N1&status=delivered&total=120.13&userId=U1' '{endpoints[first.name]}'\n"
          f"  scripts/send --stream {first.name} 'orderId=N1&status=delivered'   (signs for any auth mode)\n"
          f"  scripts/query 'SELECT * FROM {first.table_ref} ORDER BY received_at DESC LIMIT 5'", flush=True)
    for stream in stitched:
        print(f"  scripts/backfill --stream {stream.name} --received-at-column updatedAt tests/data/crm_orders.csv\n"
              f"  scripts/query 'SELECT * FROM {stream.dataset}.{attributed_view_id(stream)} ORDER BY order_id'\n"
              f"  scripts/query 'SELECT * FROM {stream.dataset}.{revenue_by_channel_view_id(stream)} ORDER BY day'",
              flush=True)
    print(f"Spool: {storage_url} (bucket {LOCAL_SPOOL_BUCKET}); replayed every {REPLAY_INTERVAL_SECONDS:.0f} s, "
          "or now with scripts/replay", flush=True)
    print(f"Google Ads: Data Manager stand-in on {datamanager_url}, Google Ads API stand-in on {googleads_address} "
          f"(gRPC); scripts/ads-upload sends the "
          "<table>_ads_conversions of streams that declare ads (docs/ads.md)", flush=True)
    print(f"Logs: {os.path.relpath(logs)}/. Stop with Ctrl-C.", flush=True)
    replays = threading.Thread(target=replay_on_a_timer, name="replay-timer", daemon=True,
                               args=(streams, emulator_url, storage_url, stop))
    replays.start()

    while not stop.wait(1.0):
        dead = [p for p in started if p.popen.poll() is not None]
        if dead:
            print(f"scripts/dev: {dead[0].name} exited unexpectedly:\n{dead[0].log_tail()}", file=sys.stderr)
            _stop_all(started)
            (args.dir / STACK_FILE).unlink(missing_ok=True)
            return 1
    print("\nstopping...", flush=True)
    _stop_all(started)
    (args.dir / "endpoints.json").unlink(missing_ok=True)
    (args.dir / STACK_FILE).unlink(missing_ok=True)
    print("stopped.")
    return 0


def replay_on_a_timer(streams: tuple[Stream, ...], emulator_url: str, storage_url: str,
                      stop: threading.Event) -> None:
    """What Cloud Scheduler does for the deployed replay jobs, every REPLAY_INTERVAL_SECONDS."""
    while not stop.wait(REPLAY_INTERVAL_SECONDS):
        for stream in streams:
            try:
                code, summary = replay_once(local_stream_env(stream, LOCAL_PROJECT, emulator_url, storage_url))
            except subprocess.TimeoutExpired:
                code, summary = 1, f"replay {stream.name}: did not finish in time"
            if code != 0 or "listed=0 " not in summary:  # quiet while the spools are empty
                print(summary, flush=True)


def _stop_all(started: list[Process]) -> None:
    # Services first, so nothing is still writing when the emulator goes away.
    for process in reversed(started):
        process.stop()


def lock_dev_dir(dev_dir: Path) -> int | None:
    """Hold `dev_dir` for this process (released when it exits), or None if another scripts/dev holds it.

    Two stacks on one directory would share the emulator's DuckDB files, which DuckDB refuses."""
    dev_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(dev_dir / "dev.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def main(argv: list[str] | None = None) -> int:
    streams = load_streams("scripts/dev")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if lock_dev_dir(args.dir) is None:
        holder = (args.dir / "dev.lock").read_text().strip() or "?"
        print(f"scripts/dev: another scripts/dev (pid {holder}) is using {args.dir} (its emulator data is "
              "locked). Stop that one, or run a second stack elsewhere: set HOOKSTREAM_DEV_DIR to another "
              "directory, and HOOKSTREAM_DEV_PORT and HOOKSTREAM_DEV_EMULATOR_PORT to free ports.",
              file=sys.stderr)
        return 1
    return run(args, streams)


if __name__ == "__main__":
    sys.exit(main())
