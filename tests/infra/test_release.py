"""scripts/build-image and scripts/release in a throwaway git checkout of this repo.

No Google Cloud here: `gcloud`, `docker` and `npx` are stand-ins on PATH. In --dry-run they fail if run
at all; in the full-run test they only record their arguments (and print a digest, as
`gcloud artifacts docker images describe` does), because the point is what the scripts hand on:
which image is built, and that the deploy gets exactly that image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"
DIGEST = "sha256:" + "ab" * 32
PROJECT_ENV = {"HOOKSTREAM_GCP_PROJECT": "acme-analytics", "HOOKSTREAM_REGION": "europe-west3"}
REGISTRY = "europe-west3-docker.pkg.dev/acme-analytics/hookstream/hookstream"
TWO_ENVIRONMENTS = '''from infra.config import Environment

ENVIRONMENTS = (
    Environment(name="staging", project="acme-analytics-stg", region="europe-west3", min_instances=0),
    Environment(name="production", project="acme-analytics-prod", region="europe-west1"),
)
'''
FAILING_TOOL = "#!/bin/sh\necho \"$(basename \"$0\") must not run in --dry-run\" >&2\nexit 99\n"
RECORDING_TOOL = """#!/bin/sh
echo "$(basename "$0") $* IMAGE=${HOOKSTREAM_IMAGE:-} ENV=${HOOKSTREAM_ENV:-}" >> "$TOOL_LOG"
case "$*" in *"artifacts docker images describe"*) echo "DIGEST" ;; esac
""".replace("DIGEST", DIGEST)


def git(checkout: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository holding this repo's scripts, infra, service and build files, one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    for directory in ("scripts", "infra", "service"):
        shutil.copytree(REPO / directory, root / directory, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Dockerfile", "pyproject.toml", "package.json", "package-lock.json", ".gitignore"):
        shutil.copy2(REPO / name, root / name)  # copy2: package-lock.json keeps its time (npm ci not re-run)
    for shared in (".venv", "node_modules"):
        if (REPO / shared).exists():
            (root / shared).symlink_to(REPO / shared)
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    return root


def commit_all(checkout: Path, message: str) -> str:
    git(checkout, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", message)
    return git(checkout, "rev-parse", "HEAD")


def tool_path(tmp_path: Path, tool_body: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "dirname", "basename", "git", "sed", "cat", "tail", "env", "sha256sum", "cut", "printf"):
        found = shutil.which(tool)
        assert found, tool
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    for tool in ("gcloud", "docker", "npx", "npm", "node", "terraform"):
        (bin_dir / tool).write_text(tool_body)
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def run(checkout: Path, tmp_path: Path, script: str, args: list[str], env: dict[str, str],
        tool_body: str = FAILING_TOOL) -> subprocess.CompletedProcess[str]:
    base = {"HOME": os.environ.get("HOME", "/root"), "PATH": str(tool_path(tmp_path, tool_body)),
            "TOOL_LOG": str(tmp_path / "tools.log")}
    return subprocess.run([BASH, str(checkout / "scripts" / script), *args], env={**base, **env},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


# --- scripts/build-image ---------------------------------------------------------------------------

def test_every_commit_gets_its_own_tag(checkout: Path, tmp_path: Path) -> None:
    first = git(checkout, "rev-parse", "HEAD")
    result = run(checkout, tmp_path, "build-image", ["--dry-run"], PROJECT_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"gcloud builds submit --suppress-logs --project=acme-analytics --tag={REGISTRY}:{first} {checkout}",
        f"gcloud artifacts docker images describe {REGISTRY}:{first} --project=acme-analytics "
        "--format=value\\(image_summary.digest\\)",
        f"{REGISTRY}:{first}",
    ]
    app_py = checkout / "service" / "runtime" / "app.py"
    app_py.write_text(app_py.read_text() + "\n# v2\n")
    second = commit_all(checkout, "second")
    # The old image still exported in the shell (what the README told people to do) must not be reused.
    result = run(checkout, tmp_path, "build-image", ["--dry-run"],
                 {**PROJECT_ENV, "HOOKSTREAM_IMAGE": f"{REGISTRY}:{first}"})
    assert result.returncode == 1
    assert f"HOOKSTREAM_IMAGE={REGISTRY}:{first} is set, but this commit builds {REGISTRY}:{second}" in result.stderr
    result = run(checkout, tmp_path, "build-image", ["--dry-run"], PROJECT_ENV)
    assert result.stdout.splitlines()[-1] == f"{REGISTRY}:{second}"


def test_docker_builder_pushes_the_commit_tag(checkout: Path, tmp_path: Path) -> None:
    commit = git(checkout, "rev-parse", "HEAD")
    result = run(checkout, tmp_path, "build-image", ["--dry-run", "--builder", "docker"], PROJECT_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"docker build --platform=linux/amd64 --tag={REGISTRY}:{commit} {checkout}",
        f"docker push {REGISTRY}:{commit}",
        f"docker inspect --format={{{{index\\ .RepoDigests\\ 0}}}} {REGISTRY}:{commit}",
        f"{REGISTRY}:{commit}",
    ]


@pytest.mark.parametrize("exported_image", [False, True])
def test_uncommitted_changes_are_refused_even_with_an_image_exported(
        checkout: Path, tmp_path: Path, exported_image: bool) -> None:
    commit = git(checkout, "rev-parse", "HEAD")
    (checkout / "service" / "runtime" / "app.py").write_text("# local edit\n")
    env = {**PROJECT_ENV, **({"HOOKSTREAM_IMAGE": f"{REGISTRY}:{commit}"} if exported_image else {})}
    result = run(checkout, tmp_path, "build-image", ["--dry-run"], env)
    assert result.returncode == 1
    assert "uncommitted changes in tracked files" in result.stderr and "service/runtime/app.py" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--dry-run"], {}, "set HOOKSTREAM_GCP_PROJECT and HOOKSTREAM_REGION"),
    (["--dry-run", "--tag", "latest"], PROJECT_ENV, "--tag is gone"),
])
def test_build_image_errors_say_what_to_do(checkout: Path, tmp_path: Path, args: list[str], env: dict[str, str],
                                           message: str) -> None:
    result = run(checkout, tmp_path, "build-image", args, env)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""


# --- scripts/release -------------------------------------------------------------------------------

needs_venv = pytest.mark.skipif(not (REPO / ".venv" / "bin" / "python").exists(), reason="run scripts/test first")


@needs_venv
def test_release_dry_run_shows_build_and_deploy_of_one_image(checkout: Path, tmp_path: Path) -> None:
    commit = git(checkout, "rev-parse", "HEAD")
    result = run(checkout, tmp_path, "release", ["--dry-run", "--auto-approve"],
                 {**PROJECT_ENV, "HOOKSTREAM_IMAGE": f"{REGISTRY}:stale"})
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("+ ")]
    assert steps == [
        "+ scripts/deploy-tools",
        f"+ env HOOKSTREAM_IMAGE={REGISTRY}:{commit} npx cdktf deploy hookstream-registry --output cdktf.out "
        "--auto-approve",
        "+ scripts/build-image ",
        f"+ env HOOKSTREAM_IMAGE={REGISTRY}:{commit}@sha256:<digest printed by scripts/build-image> npx cdktf "
        "deploy hookstream --output cdktf.out --auto-approve",
    ]
    assert not (tmp_path / "tools.log").exists()  # nothing ran


@needs_venv
def test_release_deploys_exactly_the_image_it_built(checkout: Path, tmp_path: Path) -> None:
    commit = git(checkout, "rev-parse", "HEAD")
    result = run(checkout, tmp_path, "release", ["--auto-approve"],
                 {**PROJECT_ENV, "HOOKSTREAM_IMAGE": f"{REGISTRY}:stale"}, tool_body=RECORDING_TOOL)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "tools.log").read_text().splitlines()
    assert calls == [
        f"npx cdktf deploy hookstream-registry --output cdktf.out --auto-approve IMAGE={REGISTRY}:{commit} ENV=",
        f"gcloud builds submit --suppress-logs --project=acme-analytics --tag={REGISTRY}:{commit} {checkout} "
        "IMAGE= ENV=",
        f"gcloud artifacts docker images describe {REGISTRY}:{commit} --project=acme-analytics "
        "--format=value(image_summary.digest) IMAGE= ENV=",
        f"npx cdktf deploy hookstream --output cdktf.out --auto-approve IMAGE={REGISTRY}:{commit}@{DIGEST} ENV=",
    ]


@needs_venv
def test_release_refuses_uncommitted_changes(checkout: Path, tmp_path: Path) -> None:
    (checkout / "infra" / "streams.py").write_text((checkout / "infra" / "streams.py").read_text() + "\n# edit\n")
    result = run(checkout, tmp_path, "release", ["--dry-run"], PROJECT_ENV)
    assert result.returncode == 1
    assert "uncommitted changes; commit or stash them" in result.stderr and "infra/streams.py" in result.stderr
    assert "+ " not in result.stderr


@needs_venv
def test_release_with_environments_needs_the_name_and_keeps_them_apart(checkout: Path, tmp_path: Path) -> None:
    (checkout / "infra" / "environments.py").write_text(TWO_ENVIRONMENTS)
    commit = commit_all(checkout, "environments")
    result = run(checkout, tmp_path, "release", ["--dry-run"], {})
    assert result.returncode == 2
    assert "2 environments are configured (staging, production): name the one" in result.stderr

    result = run(checkout, tmp_path, "release", ["--dry-run", "--env", "production"], {})
    assert result.returncode == 0, result.stderr
    image = f"europe-west1-docker.pkg.dev/acme-analytics-prod/hookstream/hookstream:{commit}"
    steps = [line for line in result.stderr.splitlines() if line.startswith("+ env")]
    assert steps == [
        f"+ env HOOKSTREAM_IMAGE={image} npx cdktf deploy hookstream-registry-production "
        "--output cdktf.out/production",
        f"+ env HOOKSTREAM_IMAGE={image}@sha256:<digest printed by scripts/build-image> npx cdktf deploy "
        "hookstream-production --output cdktf.out/production",
    ]
