"""The spool as a person meets it locally: the README's walk-through on a real scripts/dev, and the
messages of scripts/replay and scripts/status when there is no stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from infra.streams import STREAMS
from service.model.service_env import DEFAULT_WRITE_DEADLINE_SECONDS
from service.model.spool import spool_bucket_name
from tools.local.processes import REPO_ROOT, free_port_run

SCRIPTS = REPO_ROOT / "scripts"
HANG_GUARD_SECONDS = 120


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=HANG_GUARD_SECONDS, check=False)


@pytest.mark.parametrize("script", ["replay", "status"])
def test_without_a_local_stack_the_spool_tools_say_to_start_scripts_dev(tmp_path: Path, script: str) -> None:
    result = run([str(SCRIPTS / script)], {"HOOKSTREAM_DEV_DIR": str(tmp_path / "dev")})
    assert result.returncode == 1, result
    assert "the local stack is not running" in result.stderr and "scripts/dev" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_bucket_name_is_the_project_id_and_a_fixed_suffix() -> None:
    assert spool_bucket_name("acme-analytics") == "acme-analytics-hookstream-spool"
    assert spool_bucket_name("example.com:acme-analytics") == "acme-analytics-hookstream-spool"


@pytest.mark.integration
def test_readme_walkthrough_stop_bigquery_curl_restart_see_the_row(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    ports = free_port_run(21 + len(STREAMS))
    env = {"HOOKSTREAM_DEV_DIR": str(dev_dir), "HOOKSTREAM_DEV_EMULATOR_PORT": str(ports),
           "HOOKSTREAM_DEV_PORT": str(ports + 21)}
    dev = subprocess.Popen([str(SCRIPTS / "dev")], env={**os.environ, **env}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    bigquery_pid = None
    try:
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while not (dev_dir / "endpoints.json").exists():
            assert dev.poll() is None, dev.stdout.read() if dev.stdout else ""
            assert time.monotonic() < deadline, "scripts/dev did not come up"
            time.sleep(0.3)
        url = json.loads((dev_dir / "endpoints.json").read_text())["crm-orders"]
        bigquery_pid = int(json.loads((dev_dir / "stack.json").read_text())["bigquery_emulator_pid"])
        os.kill(bigquery_pid, signal.SIGSTOP)  # the README's `kill -STOP $BQ`: our own child's child, by PID
        sent_at = time.monotonic()
        curl = run(["curl", "-sS", "-d", "orderId=N9&status=delivered", url], {})
        answer = json.loads(curl.stdout)
        assert answer["status"] == "spooled", curl
        status = run([str(SCRIPTS / "status")], env)
        assert status.returncode == 0, status
        assert [line.split()[:2] for line in status.stdout.splitlines()[1:]] == [
            [stream.name, "1" if stream.name == "crm-orders" else "0"] for stream in STREAMS]
        os.kill(bigquery_pid, signal.SIGCONT)
        bigquery_pid = None
        waits = run([str(SCRIPTS / "replay"), "--stream", "crm-orders"], env)
        assert waits.returncode == 0, waits  # spooled a moment ago: its write might still land, so it waits
        assert "drained; listed=1 too_young=1 inserted=0 " in waits.stdout, waits.stdout
        # Instead of the README's `sleep 40`: past the write deadline (10 s) the hedged write for the hit has
        # landed or never will, which is what the window (deadline + 30 s) waits for; the window has its own test.
        time.sleep(max(0.0, sent_at + DEFAULT_WRITE_DEADLINE_SECONDS + 1.0 - time.monotonic()))
        replay = run([str(SCRIPTS / "replay"), "--stream", "crm-orders", "--min-age-seconds", "0"], env)
        assert replay.returncode == 0, replay
        # Stored by the replay, or found there: the write that waited on the frozen BigQuery went on.
        assert ("drained; listed=1 too_young=0 inserted=1 already_in_table=0 deleted=1 " in replay.stdout
                or "drained; listed=1 too_young=0 inserted=0 already_in_table=1 deleted=1 " in replay.stdout), replay
        query = run([str(SCRIPTS / "query"), "SELECT hit_id, payload FROM crm.orders"], env)
        rows = [json.loads(line) for line in query.stdout.splitlines()]
        assert rows == [{"hit_id": answer["hit_id"], "payload": "orderId=N9&status=delivered"}], query
    finally:
        if bigquery_pid is not None:
            os.kill(bigquery_pid, signal.SIGCONT)
        dev.send_signal(signal.SIGTERM)
        output, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, output
