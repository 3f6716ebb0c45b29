"""`scripts/replay [--stream NAME] [--cloud] [--requeue]`: write spooled hits to their tables now, by hand.

Locally it runs `python -m service.runtime.replay` (the code the Cloud Run job runs) against the stack
scripts/dev started; scripts/dev also runs it on a timer. With --cloud it starts the deployed replay
job of each stream (`gcloud run jobs execute ... --wait`) and leaves the work to it. --requeue moves the
quarantined objects back to the spool instead (docs/spool.md, "Quarantine").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.stream_list import load_streams
from service.model.service_env import BIGQUERY_EMULATOR_HOST, PREFIX, SPOOL_URL, ServiceSpec, to_env
from service.model.spool import spool_url
from service.model.stream import Stream
from tools.local.gcs_emulator import STORAGE_EMULATOR_HOST
from tools.local.processes import REPO_ROOT
from tools.local.stack_file import StackNotRunning, local_spool, running_stack

LOCAL_SPOOL_BUCKET = "hookstream-local-spool"


def local_stream_env(stream: Stream, project: str, bigquery_url: str, storage_url: str,
                     bucket: str = LOCAL_SPOOL_BUCKET) -> dict[str, str]:
    """A stream's settings on the local stack (without secrets): its service and its replay read the same."""
    return {**to_env(ServiceSpec.of(stream, project)), BIGQUERY_EMULATOR_HOST: bigquery_url,
            SPOOL_URL: spool_url(bucket, stream.name), STORAGE_EMULATOR_HOST: storage_url}


def replay_process_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` over this shell's environment minus its HOOKSTREAM_* variables (HOOKSTREAM_DEV_DIR and the
    like): the replay, like the service, refuses settings it does not know."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(PREFIX)}
    return {**inherited, **env}


def replay_once(env: Mapping[str, str], replay_args: Sequence[str] = (), timeout: float = 600.0) -> tuple[int, str]:
    """Run one replay; its exit status and the one-line summary it prints (its JSON log lines are dropped)."""
    result = subprocess.run([sys.executable, "-m", "service.runtime.replay", *replay_args], cwd=REPO_ROOT,
                            env=replay_process_env(env), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result.returncode, lines[-1] if lines else f"replay exited with status {result.returncode}"


def run_local(streams: Sequence[Stream], dev_dir: Path, replay_args: Sequence[str] = ()) -> int:
    try:
        stack = running_stack(dev_dir)
        spool = local_spool(dev_dir)
    except StackNotRunning as error:
        print(f"scripts/replay: {error}", file=sys.stderr)
        return 1
    storage_url, bucket = spool.storage_url, spool.bucket
    worst = 0
    for stream in streams:
        env = local_stream_env(stream, stack.project, stack.emulator_url, storage_url, bucket)
        code, summary = replay_once(env, replay_args)
        print(summary)
        worst = max(worst, code)
    return worst


def run_cloud(streams: Sequence[Stream], project: str, region: str, replay_args: Sequence[str] = ()) -> int:
    if shutil.which("gcloud") is None:
        print("scripts/replay --cloud needs the Google Cloud CLI (gcloud) on PATH", file=sys.stderr)
        return 1
    worst = 0
    for stream in streams:
        command = ["gcloud", "run", "jobs", "execute", f"hookstream-replay-{stream.name}", "--project", project,
                   "--region", region, "--wait", *([f"--args={','.join(replay_args)}"] if replay_args else [])]
        print("+ " + " ".join(command), flush=True)
        worst = max(worst, subprocess.run(command).returncode)
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    streams = load_streams("scripts/replay")
    parser = argparse.ArgumentParser(prog="scripts/replay", description=__doc__.splitlines()[0])
    parser.add_argument("--stream", choices=[s.name for s in streams], help="only this stream (default: all)")
    parser.add_argument("--cloud", action="store_true",
                        help="run the deployed replay jobs (HOOKSTREAM_GCP_PROJECT, HOOKSTREAM_REGION)")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("HOOKSTREAM_DEV_DIR", REPO_ROOT / ".dev")),
                        help="the local stack's directory (default: .dev)")
    parser.add_argument("--min-age-seconds", type=float, default=None,
                        help="replay hits spooled at least this long ago (default: the stream's write deadline "
                             "+ 30 s, after which no write of the service for them can still land); local only")
    parser.add_argument("--requeue", action="store_true",
                        help="move the stream's quarantined objects back to its spool, for the next replay")
    args = parser.parse_args(argv)
    chosen = [s for s in streams if args.stream in (None, s.name)]
    if args.cloud:
        project, region = os.environ.get("HOOKSTREAM_GCP_PROJECT"), os.environ.get("HOOKSTREAM_REGION")
        if not project or not region:
            print("scripts/replay --cloud: set HOOKSTREAM_GCP_PROJECT and HOOKSTREAM_REGION", file=sys.stderr)
            return 2
        return run_cloud(chosen, project, region, ("--requeue",) if args.requeue else ())
    replay_args = ("--requeue",) if args.requeue else (
        () if args.min_age_seconds is None else ("--min-age-seconds", str(args.min_age_seconds)))
    return run_local(chosen, args.dir, replay_args)


if __name__ == "__main__":
    sys.exit(main())
