"""`.dev/stack.json`: where scripts/dev's emulator listens, and whether it still does.

scripts/dev writes the file when the stack is up and removes it when it stops; a file left behind
by a killed scripts/dev names a port nothing answers on, and the BigQuery client would retry
against it for ten minutes. So the tools that read it (scripts/query, scripts/backfill) first check
that scripts/dev's process is alive and probe the emulator with a short timeout.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STACK_FILE = "stack.json"
PROBE_TIMEOUT_SECONDS = 2.0


class StackNotRunning(LookupError):
    """The local stack is not running; the message says why and how to start it."""


NO_SPOOL = "this scripts/dev runs no spool (started before the spool existed?): restart it"


@dataclass(frozen=True)
class LocalStack:
    project: str
    emulator_url: str


@dataclass(frozen=True)
class LocalSpool:
    storage_url: str
    bucket: str


def stack_record(project: str, emulator_url: str, bigquery_emulator_pid: int,
                 spool: LocalSpool, datamanager_url: str | None = None, ga4_sample: bool = False,
                 googleads_address: str | None = None) -> dict[str, object]:
    """What scripts/dev writes to stack.json."""
    return {"project": project, "emulator_url": emulator_url, "pid": os.getpid(),
            # scripts/ads-upload: the Data Manager stand-in, and whether the streams got the sample stitch;
            # the Google Ads API stand-in (gRPC host:port) for retractions.
            "datamanager_url": datamanager_url, "ga4_sample": ga4_sample, "googleads_address": googleads_address,
            # README: `kill -STOP` it to watch hits being spooled.
            "bigquery_emulator_pid": bigquery_emulator_pid,
            "storage_emulator_url": spool.storage_url, "spool_bucket": spool.bucket}


def local_spool(dev_dir: Path) -> LocalSpool:
    """The local stack's Cloud Storage emulator and spool bucket, without probing BigQuery (the spool
    matters most while BigQuery is down); StackNotRunning when there is no stack or it runs no spool."""
    stack_file = dev_dir / STACK_FILE
    try:
        record = json.loads(stack_file.read_text())
    except FileNotFoundError:
        raise StackNotRunning(f"the local stack is not running (no {stack_file}): start it with scripts/dev "
                              "(in another terminal) and run this again") from None
    except (OSError, ValueError) as error:
        raise StackNotRunning(f"{stack_file} is unreadable ({error}): restart scripts/dev") from None
    try:
        return LocalSpool(str(record["storage_emulator_url"]), str(record["spool_bucket"]))
    except (KeyError, TypeError):
        raise StackNotRunning(NO_SPOOL) from None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def running_stack(dev_dir: Path, timeout: float = PROBE_TIMEOUT_SECONDS) -> LocalStack:
    """The stack scripts/dev started under `dev_dir`, or StackNotRunning within about `timeout` s."""
    stack_file = dev_dir / STACK_FILE
    start = "start it with scripts/dev (in another terminal) and run this again"
    try:
        data = json.loads(stack_file.read_text())
        stack = LocalStack(str(data["project"]), str(data["emulator_url"]))
    except FileNotFoundError:
        raise StackNotRunning(f"the local stack is not running (no {stack_file}): {start}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StackNotRunning(f"{stack_file} is unreadable ({error}): {start}") from None
    pid = data.get("pid")
    if isinstance(pid, int) and not _process_alive(pid):
        raise StackNotRunning(f"the local stack is not running: scripts/dev (pid {pid}) has exited and left "
                              f"{stack_file} behind; {start}")
    probe = f"{stack.emulator_url}/bigquery/v2/projects/{stack.project}/datasets"
    try:
        with urllib.request.urlopen(probe, timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: the emulator is up
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise StackNotRunning(f"the local stack is not running: the BigQuery emulator named in {stack_file} "
                              f"does not answer at {stack.emulator_url} ({reason}); {start}") from None
    return stack


def local_googleads(dev_dir: Path) -> str | None:
    """The local Google Ads API stand-in's host:port; None when this scripts/dev predates it."""
    try:
        address = json.loads((dev_dir / STACK_FILE).read_text()).get("googleads_address")
    except (OSError, ValueError, AttributeError):
        return None
    return str(address) if address else None


def local_datamanager(dev_dir: Path) -> tuple[str, bool]:
    """The local Data Manager stand-in's URL and whether scripts/dev ran with --ga4-sample; StackNotRunning
    when the stack runs no stand-in."""
    try:
        record = json.loads((dev_dir / STACK_FILE).read_text())
        url = record["datamanager_url"]
    except (OSError, ValueError, KeyError, TypeError):
        url = None
    if not url:
        raise StackNotRunning("this scripts/dev runs no Data Manager stand-in (started before it existed?): restart it")
    return str(url), bool(record.get("ga4_sample"))
