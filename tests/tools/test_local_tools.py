"""The local tools (scripts/query, backfill, send, dev) run as a user runs them: as subprocesses.

Each test sets up the situation a newcomer meets (a stack that is not running, a typo in the stream list,
a misspelt flag) and checks the one message they get. `timeout=` on each run only guards against a
hang: the test fails on the message, never on how long it took.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.streams import STREAMS
from service.model.senders import Shopify
from service.model.stream import Stream
from service.runtime.bigquery_client import make_client
from tools.local.processes import REPO_ROOT, free_port, free_port_run, write_json
from tools.local.provision import provision

SCRIPTS = REPO_ROOT / "scripts"
SAMPLE_CSV = REPO_ROOT / "tests" / "data" / "crm_orders.csv"
CRM_ORDERS = next(stream for stream in STREAMS if stream.name == "crm-orders")
# The Shopify stream the analysts' guide queries by topic.
SHOP_ORDERS = Stream(name="shop-orders", dataset="shop", table="orders", auth=Shopify())
HANG_GUARD_SECONDS = 90


def run(argv: list[str], env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True,
                          timeout=HANG_GUARD_SECONDS, check=False)


def dead_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # nothing listens on it now: connections are refused
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# --- a stale .dev/stack.json -----------------------------------------------------------------------

def stale_stack(tmp_path: Path, port: int, pid: int | None) -> Path:
    """What a scripts/dev that was killed leaves behind: stack.json naming a stack that is gone."""
    dev_dir = tmp_path / "dev"
    record: dict[str, Any] = {"project": "hookstream-local", "emulator_url": f"http://127.0.0.1:{port}"}
    if pid is not None:
        record["pid"] = pid
    write_json(dev_dir / "stack.json", record)
    return dev_dir


@pytest.mark.parametrize("with_pid", [True, False], ids=["pid-recorded", "older-file-without-pid"])
def test_query_on_a_stale_stack_file_says_the_stack_is_not_running(tmp_path: Path, with_pid: bool) -> None:
    dev_dir = stale_stack(tmp_path, dead_port(), exited_pid() if with_pid else None)
    result = run([str(SCRIPTS / "query"), "SELECT 1"], {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 2, result
    assert "the local stack is not running" in result.stderr
    assert "start it with scripts/dev" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_query_against_a_port_that_never_answers_gives_up_with_the_same_message(tmp_path: Path) -> None:
    # Something holds the port and accepts connections (the kernel's backlog) but never answers HTTP.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        dev_dir = stale_stack(tmp_path, silent.getsockname()[1], None)
        result = run([str(SCRIPTS / "query"), "SELECT 1"], {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 2, result
    assert "does not answer at http://127.0.0.1:" in result.stderr and "start it with scripts/dev" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_on_a_stale_stack_file_says_the_stack_is_not_running(tmp_path: Path) -> None:
    dev_dir = stale_stack(tmp_path, dead_port(), exited_pid())
    result = run([str(SCRIPTS / "backfill"), "--stream", "crm-orders", "--dir", str(dev_dir), str(SAMPLE_CSV)])
    assert result.returncode == 2, result
    assert "the local stack is not running" in result.stderr
    assert "scripts/dev" in result.stderr and "--project" in result.stderr
    assert "Traceback" not in result.stderr


# --- scripts/query: a bad query ---------------------------------------------------------------------

@pytest.mark.integration
def test_bad_sql_is_reported_once_without_colour_codes(emulator: Any, tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    write_json(dev_dir / "stack.json", {"project": emulator.project, "emulator_url": emulator.url})
    result = run([str(SCRIPTS / "query"), "SELECT no_such_column FROM UNNEST([1]) AS x"],
                 {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.startswith("scripts/query: the query failed: ")
    assert "no_such_column" in result.stderr
    assert result.stderr.count("no_such_column") == 1, result.stderr
    assert "Job ID" not in result.stderr
    assert "_t0" not in result.stderr  # the emulator's rewrite of the query, with a caret placed in it
    assert "Traceback" not in result.stderr

    # A syntax error: sqlglot underlines the token with terminal codes; piped, the text stays plain.
    result = run([str(SCRIPTS / "query"), "SELECT 1 +"], {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 1, result
    assert "Line 1, Col: 10." in result.stderr and result.stderr.count("Line 1, Col: 10.") == 1
    assert "SELECT 1 +" in result.stderr
    assert "\x1b[" not in result.stderr


# --- a typo in infra/streams.py -------------------------------------------------------------------

@pytest.fixture
def repo_with_a_time_zone_typo(tmp_path: Path) -> Path:
    """A copy of infra/, service/ and tools/ whose streams.py misspells Europe/Berlin."""
    copy = tmp_path / "repo"
    for package in ("infra", "service", "tools"):
        shutil.copytree(REPO_ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    streams = copy / "infra" / "streams.py"
    text = streams.read_text()
    assert 'time_zone="Europe/Berlin"' in text
    streams.write_text(text.replace('time_zone="Europe/Berlin"', 'time_zone="Europe/Berln"'))
    return copy


@pytest.mark.parametrize("module, argv", [
    ("tools.local.dev", []),
    ("tools.operator.backfill", ["--stream", "crm-orders", str(SAMPLE_CSV)]),
    ("tools.operator.send", ["--stream", "crm-orders", "orderId=N1"]),
])
def test_a_time_zone_typo_prints_the_validation_message_alone(
        repo_with_a_time_zone_typo: Path, tmp_path: Path, module: str, argv: list[str]) -> None:
    python = str(REPO_ROOT / ".venv" / "bin" / "python")
    # cwd first on sys.path: `python -m` runs the copy (what scripts/* exec), not the worktree's modules.
    result = run([python, "-m", module, *argv], {"HOOKSTREAM_DEV_DIR": str(tmp_path / "dev")},
                 cwd=repo_with_a_time_zone_typo)
    assert result.returncode == 1, result
    assert "stream 'crm-orders': time_zone='Europe/Berln' is invalid" in result.stderr
    assert "Traceback" not in result.stderr
    assert "tzdata" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- scripts/backfill: a misspelt receipt column, and a dry run ---------------------------------------

@pytest.fixture
def backfill_stack(emulator: Any, tmp_path: Path) -> Iterator[tuple[Path, Any]]:
    project = f"bf-tools-{tmp_path.name[-12:].lower().replace('_', '-')}"
    client = make_client(project, emulator.url)
    provision(client, [CRM_ORDERS], project)
    dev_dir = tmp_path / "dev"
    write_json(dev_dir / "stack.json", {"project": project, "emulator_url": emulator.url})
    yield dev_dir, client
    client.close()


def row_count(client: Any) -> int:
    sql = f"SELECT COUNT(*) AS n FROM `{client.project}.crm.orders` WHERE date >= '0001-01-01'"
    return int(next(iter(client.query(sql, timeout=30).result(timeout=60)))["n"])


@pytest.mark.integration
def test_backfill_with_a_missing_receipt_column_names_the_flag_and_the_columns(
        backfill_stack: tuple[Path, Any]) -> None:
    dev_dir, client = backfill_stack
    result = run([str(SCRIPTS / "backfill"), "--stream", "crm-orders", "--dir", str(dev_dir),
                  "--received-at-column", "updated_at", str(SAMPLE_CSV)])
    assert result.returncode == 2, result
    assert ("--received-at-column updated_at: " in result.stderr
            and "has no column 'updated_at'; its columns are: "
                "createdAt, updatedAt, orderId, currency, total, status, userId" in result.stderr), result.stderr
    assert "line 2" not in result.stderr
    assert "Traceback" not in result.stderr
    assert row_count(client) == 0


@pytest.mark.integration
def test_backfill_dry_run_says_would_write_and_writes_nothing(backfill_stack: tuple[Path, Any]) -> None:
    dev_dir, client = backfill_stack
    result = run([str(SCRIPTS / "backfill"), "--stream", "crm-orders", "--dir", str(dev_dir), "--dry-run",
                  "--received-at-column", "updatedAt", str(SAMPLE_CSV)])
    assert result.returncode == 0, result
    assert result.stdout.strip() == ("dry run, nothing written: 3 records read: would write 3 rows, "
                                     "0 already loaded, 0 repeated in the source")
    assert "written," not in result.stdout
    assert row_count(client) == 0


# --- scripts/send --url without HOOKSTREAM_SECRET ------------------------------------------------------

def test_send_to_another_url_without_its_secret_refuses(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    local_secret = "local-secret-0123456789abcdef"
    write_json(dev_dir / "secrets.json", {"crm-orders": local_secret, "crm-leads": local_secret})
    write_json(dev_dir / "endpoints.json", {"crm-orders": "http://127.0.0.1:1/hooks"})
    # A listener that records whether anything was sent to "the deployed endpoint".
    with socket.socket() as endpoint:
        endpoint.bind(("127.0.0.1", 0))
        endpoint.listen(1)
        endpoint.settimeout(0.5)
        url = f"http://127.0.0.1:{endpoint.getsockname()[1]}/hooks"
        env = {"HOOKSTREAM_DEV_DIR": str(dev_dir)}
        env_without_secret = {k: v for k, v in os.environ.items() if k != "HOOKSTREAM_SECRET"}
        result = subprocess.run([str(SCRIPTS / "send"), "--stream", "crm-orders", "--url", url, "orderId=N1"],
                                env={**env_without_secret, **env}, capture_output=True, text=True,
                                timeout=HANG_GUARD_SECONDS, check=False)
        with pytest.raises(TimeoutError):
            endpoint.accept()[0].close()  # nothing connected
    assert result.returncode == 2, result
    assert "HOOKSTREAM_SECRET is not set" in result.stderr
    assert local_secret not in result.stdout + result.stderr


# --- a second scripts/dev on the same directory ----------------------------------------------------

@pytest.mark.integration
def test_a_second_scripts_dev_on_the_same_directory_says_to_set_hookstream_dev_dir(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    ports = free_port_run(2 * (11 + len(STREAMS)))
    first_env = {"HOOKSTREAM_DEV_DIR": str(dev_dir), "HOOKSTREAM_DEV_EMULATOR_PORT": str(ports),
                 "HOOKSTREAM_DEV_PORT": str(ports + 11)}
    first = subprocess.Popen([str(SCRIPTS / "dev")], env={**os.environ, **first_env},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (dev_dir / "endpoints.json").exists():
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            assert time.monotonic() < deadline, "the first scripts/dev did not come up"
            time.sleep(0.3)
        # Other ports, same directory: what someone does when the first one "is in the way".
        second_ports = ports + 11 + len(STREAMS)
        second = run([str(SCRIPTS / "dev")], {
            "HOOKSTREAM_DEV_DIR": str(dev_dir), "HOOKSTREAM_DEV_EMULATOR_PORT": str(second_ports),
            "HOOKSTREAM_DEV_PORT": str(second_ports + 11)})
        assert second.returncode == 1, second
        assert f"another scripts/dev (pid {first.pid}) is using {dev_dir}" in second.stderr
        assert "set HOOKSTREAM_DEV_DIR to another directory" in second.stderr
        assert "Traceback" not in second.stderr
        # ...and the first stack is unharmed.
        assert first.poll() is None
        assert (dev_dir / "endpoints.json").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, output
    assert not (dev_dir / "stack.json").exists()  # a stopped stack leaves no stale address behind


# --- docs/analysts.md runs locally as written ----------------------------------------------------

def doc_queries() -> list[str]:
    text = (REPO_ROOT / "docs" / "analysts.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```sql\n")[1:]]
    return [block.strip().rstrip(";") for block in blocks if block.lstrip().upper().startswith(("SELECT", "--"))]


@pytest.mark.integration
def test_the_analysts_guide_queries_run_on_the_local_project(emulator: Any) -> None:
    queries = doc_queries()
    # The GA4 export and the views stitched to it exist locally only with `scripts/dev --ga4-sample`
    # (their rows are asserted in tests/infra/test_attributed_view.py); the rest must run as written.
    local = [sql for sql in queries
             if "analytics_123456" not in sql and "_revenue_by_channel" not in sql and "_roi_by_channel" not in sql
             and "_attributed" not in sql]
    assert len(local) >= 3
    assert all("`hookstream-local." in sql for sql in local)
    client = make_client("hookstream-local", emulator.url)
    provision(client, [CRM_ORDERS, SHOP_ORDERS], "hookstream-local")
    for sql in local:
        client.query(sql, timeout=30).result(timeout=60)  # raises NotFound for any other project
    client.close()


@pytest.mark.integration
def test_the_analysts_guide_query_by_topic_finds_the_paid_order(emulator: Any) -> None:
    from google.api_core.retry import Retry

    (by_topic,) = [sql for sql in doc_queries() if sql.startswith("-- only the payments")]
    client = make_client("hookstream-topics", emulator.url)
    provision(client, [SHOP_ORDERS], "hookstream-topics")
    rows = [{"hit_id": hit_id, "payload": f'{{"id": {number}}}', "received_at": 1764763200000, "date": "2026-12-03",
             "delivery_id": None, "headers": headers} for hit_id, number, headers in (
        ("h-created", 1, '{"method":"POST","x-shopify-topic":"orders/create"}'),
        ("h-paid", 1, '{"method":"POST","x-shopify-topic":"orders/paid"}'),
        ("h-backfilled", 2, None))]
    assert client.insert_rows_json("hookstream-topics.shop.orders", rows, retry=Retry(timeout=10), timeout=10) == []
    sql = by_topic.replace("`hookstream-local.", "`hookstream-topics.")
    found = [dict(row) for row in client.query(sql, timeout=30).result(timeout=60)]
    client.close()
    assert found == [{"hit_id": "h-paid", "payload": '{"id": 1}'}]


# --- scripts/ads-upload ----------------------------------------------------------------------------

def test_ads_upload_without_a_stack_says_to_start_scripts_dev(tmp_path: Path) -> None:
    result = run([str(SCRIPTS / "ads-upload")], {"HOOKSTREAM_DEV_DIR": str(tmp_path / "dev")})
    assert result.returncode == 1, result
    assert result.stderr.strip() == (
        f"scripts/ads-upload: the local stack is not running (no {tmp_path}/dev/stack.json):"
        " start it with scripts/dev (in another terminal) and run this again")


@pytest.mark.integration
def test_ads_upload_on_a_stack_without_the_stand_in_says_to_restart_it(emulator: Any, tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    write_json(dev_dir / "stack.json", {"project": emulator.project, "emulator_url": emulator.url})
    result = run([str(SCRIPTS / "ads-upload"), "--dry-run"], {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 1, result
    assert result.stderr.strip() == ("scripts/ads-upload: this scripts/dev runs no Data Manager stand-in "
                                     "(started before it existed?): restart it")


@pytest.mark.integration
def test_ads_upload_names_the_missing_declaration(emulator: Any, tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    write_json(dev_dir / "stack.json", {"project": emulator.project, "emulator_url": emulator.url,
                                        "datamanager_url": "http://127.0.0.1:9", "ga4_sample": False})
    result = run([str(SCRIPTS / "ads-upload"), "--stream", "crm-leads"], {"HOOKSTREAM_DEV_DIR": str(dev_dir)})
    assert result.returncode == 1, result
    assert result.stderr.strip() == (
        "scripts/ads-upload: no stream named 'crm-leads' declares "
        "ads=GoogleAdsConversions(...) (infra/streams.py; or run scripts/dev --ga4-sample)")


def test_the_progress_bar_fills_as_events_are_sent(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.local.ads_upload import progress_bar

    show = progress_bar("crm-orders")
    show(0, 0)  # nothing to send: no bar
    show(1, 4)
    show(4, 4)
    assert capsys.readouterr().err == (
        "\rcrm-orders [#######.......................] 1/4 events"
        "\rcrm-orders [##############################] 4/4 events\n")
