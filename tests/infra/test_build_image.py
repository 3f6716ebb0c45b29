"""scripts/build-image: which command it would run (neither gcloud nor a Docker daemon is usable here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build-image"
BASH = shutil.which("bash") or "/bin/bash"


def tool_dir(tmp_path: Path, *fake_tools: str) -> Path:
    """A PATH holding only the tools the script needs, plus fake builders that fail if ever run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "git", "sed", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for tool in fake_tools:
        fake = bin_dir / tool
        fake.write_text("#!/bin/sh\necho \"$0 must not run in --dry-run\" >&2\nexit 99\n")
        fake.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, args: list[str], env: dict[str, str], *tools: str) -> subprocess.CompletedProcess[str]:
    base = {"HOME": os.environ.get("HOME", "/root"), "PATH": str(tool_dir(tmp_path, *tools))}
    return subprocess.run([BASH, str(SCRIPT), *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)


PROJECT_ENV = {"HOOKSTREAM_GCP_PROJECT": "acme-analytics", "HOOKSTREAM_REGION": "europe-west3"}
IMAGE = "europe-west3-docker.pkg.dev/acme-analytics/hookstream/hookstream:v7"


def test_prefers_cloud_build_when_gcloud_is_installed(tmp_path: Path) -> None:
    result = run(tmp_path, ["--dry-run", "--tag", "v7"], PROJECT_ENV, "gcloud", "docker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"gcloud builds submit --project=acme-analytics --tag={IMAGE} {REPO}",
        IMAGE,
    ]


def test_falls_back_to_docker_build_and_push(tmp_path: Path) -> None:
    result = run(tmp_path, ["--dry-run", "--tag", "v7"], PROJECT_ENV, "docker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"docker build --platform=linux/amd64 --tag={IMAGE} {REPO}",
        f"docker push {IMAGE}",
        IMAGE,
    ]


def test_default_tag_is_the_current_commit(tmp_path: Path) -> None:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "Dockerfile", "pyproject.toml",
                            "service"], capture_output=True, text=True, check=True).stdout
    result = run(tmp_path, ["--dry-run"], PROJECT_ENV, "gcloud")
    if dirty:
        assert result.returncode != 0 and "uncommitted changes" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].endswith(f"/hookstream/hookstream:{commit}")


def test_explicit_image_wins(tmp_path: Path) -> None:
    image = "us-docker.pkg.dev/other-project/hookstream/hookstream:abc"
    result = run(tmp_path, ["--dry-run", "--builder", "docker"], {"HOOKSTREAM_IMAGE": image}, "gcloud", "docker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"docker build --platform=linux/amd64 --tag={image} {REPO}", f"docker push {image}", image]


@pytest.mark.parametrize(("env", "tools", "message"), [
    ({}, ("gcloud",), "set HOOKSTREAM_GCP_PROJECT and HOOKSTREAM_REGION"),
    (PROJECT_ENV, (), "neither gcloud nor docker is installed"),
])
def test_errors_say_what_to_do(tmp_path: Path, env: dict[str, str], tools: tuple[str, ...], message: str) -> None:
    result = run(tmp_path, ["--dry-run", "--tag", "v7"], env, *tools)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
