"""The Cloud Run image's contents suffice: only what the Dockerfile copies, started with its CMD.

Docker does not run on these machines, so this lays out the image's /app from the Dockerfile's own COPY
lines and runs its CMD (gunicorn with service/runtime/gunicorn.conf.py) there, with the environment the cdktf
stack gives the service: it must start, bind $PORT, answer the health probe and refuse an unsigned hit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from infra.streams import STREAMS
from service.model.service_env import SECRETS, ServiceSpec, to_env
from tools.local.processes import REPO_ROOT, free_port

pytestmark = pytest.mark.integration
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def image_app_dir(tmp_path: Path) -> Path:
    """/app as the Dockerfile builds it: its COPY sources, nothing else from the repository."""
    app = tmp_path / "app"
    app.mkdir()
    for source, _target in re.findall(r"^COPY\s+(\S+)\s+(\S+)\s*$", DOCKERFILE, flags=re.MULTILINE):
        path = REPO_ROOT / source.rstrip("/")
        if path.is_dir():
            shutil.copytree(path, app / path.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, app / path.name)
    return app


def unused_credentials(tmp_path: Path) -> Path:
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "test", "client_secret": "test",
                                "refresh_token": "test"}))
    return path


def test_the_image_copies_the_service_and_runs_gunicorn_with_the_repo_config() -> None:
    cmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE, flags=re.MULTILINE)[1])  # type: ignore[index]
    assert cmd == ["gunicorn", "--config", "service/runtime/gunicorn.conf.py"]
    assert "PYTHONUNBUFFERED=1" in DOCKERFILE


def test_the_image_layout_starts_and_serves_with_the_deployed_environment(tmp_path: Path) -> None:
    app = image_app_dir(tmp_path)
    assert not (app / "infra").exists() and not (app / "tests").exists()
    cmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE, flags=re.MULTILINE)[1])  # type: ignore[index]
    port = free_port()
    stream = STREAMS[0]
    env = {
        "PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1",
        # The venv's packages, but none of the repository's modules: only what sits in /app.
        "PYTHONPATH": str(app), "PYTHONNOUSERSITE": "1",
        "PORT": str(port), "HOST": "127.0.0.1",
        **to_env(ServiceSpec.of(stream, "some-project")), SECRETS: "a-secret-for-the-image-test-0123",
        # Cloud Run provides Application Default Credentials; here, user credentials that are never used
        # (no BigQuery call happens: the health probe and the auth check must not need one).
        "GOOGLE_APPLICATION_CREDENTIALS": str(unused_credentials(tmp_path)),
    }
    # The dev venv has hookstream installed in editable mode, which would make the whole repository
    # importable; drop that finder so only /app's files can be imported, as in the image.
    launcher = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]; "
                f"sys.argv = {cmd!r}; from gunicorn.app.wsgiapp import run; run()")
    argv = [sys.executable, "-c", launcher]
    server = subprocess.Popen(argv, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert json.loads(response.read()) == {"status": "ok", "stream": stream.name}
                    break
            except OSError:
                assert time.monotonic() < deadline, "the image's gunicorn did not answer /health"
                time.sleep(0.2)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/hooks", data=b"orderId=N1", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert server.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and all("severity" in line and "message" in line for line in lines)
    assert "a-secret-for-the-image-test-0123" not in output


def resolve_zones_in_image_layout(app: Path, zones: list[str], hide_tzdata: bool) -> subprocess.CompletedProcess[str]:
    """Resolve `zones` with the image's modules only and the system zone database out of reach."""
    blocker = ("class NoTzdata:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'tzdata' or name.startswith('tzdata.'): raise ImportError('hidden')\n"
               "sys.meta_path.insert(0, NoTzdata())\n") if hide_tzdata else ""
    script = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]\n"
              + blocker +
              "from service.model.timezones import parse_time_zone\n"
              f"for zone in {zones!r}:\n"
              "    print(zone, parse_time_zone(zone))\n")
    empty_zone_dir = app.parent / "no-zoneinfo"
    empty_zone_dir.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(app), "PYTHONNOUSERSITE": "1",
           # zoneinfo looks here instead of /usr/share/zoneinfo: as on a base image without tzdata.
           "PYTHONTZPATH": str(empty_zone_dir)}
    return subprocess.run([sys.executable, "-c", script], cwd=app, env=env, capture_output=True, text=True,
                          timeout=60)


def test_time_zones_resolve_in_the_image_without_a_system_zone_database(tmp_path: Path) -> None:
    app = image_app_dir(tmp_path)
    zones = sorted({stream.time_zone for stream in STREAMS if "/" in stream.time_zone} | {"US/Central"})
    assert "Europe/Berlin" in zones
    # The fault first: with neither the system database nor the package, the names do not resolve.
    hidden = resolve_zones_in_image_layout(app, zones, hide_tzdata=True)
    assert hidden.returncode != 0 and "UnknownTimeZoneError" in hidden.stderr, hidden.stdout + hidden.stderr
    # The runtime dependencies (what the image's `pip install .` installs) bring the zones along.
    resolved = resolve_zones_in_image_layout(app, zones, hide_tzdata=False)
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.splitlines() == [f"{zone} {zone}" for zone in zones]
