"""Start and stop the local stack's processes: the BigQuery emulator and one gunicorn per stream."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from service.model.service_env import PREFIX

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = REPO_ROOT / "service" / "runtime" / "gunicorn.conf.py"


class StartupFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    # The same test gunicorn and uvicorn make: bind with SO_REUSEADDR (a port in TIME_WAIT is fine).
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_run(count: int, low: int = 20000, high: int = 30000) -> int:
    """The first of `count` consecutive free ports (scripts/dev gives stream N the port first + N).

    Drawn below Linux's ephemeral range (32768+), where free_port() and outgoing connections take theirs."""
    for first in random.sample(range(low, high - count), 200):
        if all(_bindable(port) for port in range(first, first + count)):
            return first
    raise StartupFailed(f"no {count} consecutive free ports between {low} and {high} on 127.0.0.1")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then wait; SIGKILL only if it will not stop (own PID, never by name)."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def ensure_port_free(port: int, what: str) -> None:
    """Refuse to start on a port something else answers on (it would be mistaken for our server)."""
    if not _bindable(port):
        raise StartupFailed(f"port {port} for the {what} is already in use on 127.0.0.1; "
                                "stop whatever holds it (another scripts/dev?) or choose another port")


def spawn(name: str, argv: list[str], log_path: Path, env: Mapping[str, str]) -> Process:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    popen = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=dict(env),
                             cwd=REPO_ROOT, start_new_session=True)
    log_file.close()
    return Process(name, popen, log_path)


def wait_http(process: Process, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise StartupFailed(f"{process.name} exited with code {process.popen.returncode}:\n"
                                f"{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered: the server is up
        except OSError:
            time.sleep(0.2)
    process.stop()
    raise StartupFailed(f"{process.name} did not answer {url} within {timeout:.0f} s:\n{process.log_tail()}")


def start_emulator(data_dir: Path, project: str, rest_port: int, grpc_port: int,
                   log_path: Path, timeout: float = 60.0) -> tuple[Process, str]:
    """Start bqemulator persisting under `data_dir`; returns the process and its REST URL."""
    ensure_port_free(rest_port, "BigQuery emulator (REST)")
    ensure_port_free(grpc_port, "BigQuery emulator (gRPC)")
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ,
           # Avro/ORC loaders would try to download DuckDB extensions; nothing here needs them.
           "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}
    argv = [sys.executable, "-m", "tools.local.bqemu_launcher", "start",
            "--rest-host", "127.0.0.1", "--rest-port", str(rest_port),
            "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port),
            "--persistent", "--data-dir", str(data_dir), "--project", project,
            "--log-level", "warning", "--log-format", "json"]
    process = spawn("bigquery emulator", argv, log_path, env)
    url = f"http://127.0.0.1:{rest_port}"
    wait_http(process, f"{url}/bigquery/v2/projects/{project}/datasets", timeout)
    return process, url


def start_service(name: str, env: Mapping[str, str], port: int, log_path: Path,
                  workers: int = 1, timeout: float = 30.0) -> Process:
    """Serve one stream with gunicorn and the same config file as Cloud Run, on 127.0.0.1:`port`.

    `env` is the service's (service/model/service_env.py: threads and limits come from it). Other
    HOOKSTREAM_* variables of this shell (deploy settings such as HOOKSTREAM_GCP_PROJECT) are not passed
    on: the service refuses variables it does not know, as on Cloud Run, where only its own are set."""
    ensure_port_free(port, f"endpoint of stream {name!r}")
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(PREFIX)}
    service_env = {**inherited, **env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG)]
    process = spawn(f"service {name}", argv, log_path, service_env)
    wait_http(process, f"http://127.0.0.1:{port}/health", timeout)
    return process


def write_json(path: Path, data: object, private: bool = False) -> None:
    """Replace `path` atomically; `private` files (they hold secrets) are readable by their owner only,
    from the moment they exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
