"""scripts/rotate-secret, run for real with `gcloud` replaced by a recorder (gcloud cannot reach Google here).

The recorder keeps every argument list and what arrived on stdin, so the tests check the exact gcloud
calls (each with --project), that a secret never appears on a command line, and that anything unexpected
stops before a version is added.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Qw3r7y" * 10 + "AbCd"  # 64 alphanumerics, like the secret generated at deploy time
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
NEW_HEX = re.compile(r"^[0-9a-f]{64}$")
PROJECT, REGION = "acme-analytics", "europe-west3"
SECRET, SERVICE = "hookstream-crm-orders-endpoint", "hookstream-crm-orders"

FAKE_GCLOUD = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_DIR/calls"
case "$1 $2 $3" in
  "secrets versions access")
    [ -z "${FAKE_ACCESS_FAILS:-}" ] || { echo "ERROR: (gcloud.secrets.versions.access) PERMISSION_DENIED" >&2; exit 1; }
    printf '%s' "$FAKE_LATEST" ;;
  "secrets versions add")
    n=$(( $(ls "$FAKE_DIR" | grep -c '^added-') + 8 ))
    cat > "$FAKE_DIR/added-$n"; echo "projects/123/secrets/$4/versions/$n" ;;
  "secrets versions list") printf 'projects/123/secrets/%s/versions/%s\\n' "$4" 7 "$4" 6 "$4" 8 ;;
esac
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]
    added: list[str]


def rotate(tmp_path: Path, latest: str, *args: str, access_fails: bool = False) -> Run:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "gcloud").write_text(FAKE_GCLOUD)
    (fake / "gcloud").chmod(0o755)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOOKSTREAM_")},
           "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path), "FAKE_LATEST": latest,
           "HOOKSTREAM_GCP_PROJECT": PROJECT, "HOOKSTREAM_REGION": REGION,
           **({"FAKE_ACCESS_FAILS": "1"} if access_fails else {})}
    result = subprocess.run([sys.executable, "-m", "tools.operator.rotate_secret", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    calls_file = tmp_path / "calls"
    return Run(result.returncode, result.stdout, result.stderr,
               calls_file.read_text().splitlines() if calls_file.exists() else [],
               [path.read_text() for path in sorted(tmp_path.glob("added-*"))])


LABEL = re.compile(r"--update-labels=secret-rotated=\d{12}$")


def test_start_stores_old_and_a_strong_new_token_with_exact_gcloud_calls(tmp_path: Path) -> None:
    run = rotate(tmp_path, TOKEN, "--stream", "crm-orders")
    assert run.returncode == 0, run.stderr
    (added,) = run.added
    old, new = added.split(" ")
    assert old == TOKEN and NEW_HEX.match(new)
    assert run.stdout == f"{new}\n"  # stdout: the new secret only
    assert run.calls[:2] == [
        f"secrets versions access latest --secret {SECRET} --project {PROJECT}",
        f"secrets versions add {SECRET} --data-file=- --project {PROJECT} --format=value(name)",
    ]
    assert run.calls[2].startswith(f"run services update {SERVICE} --region {REGION} --project {PROJECT} ")
    assert LABEL.search(run.calls[2]) and len(run.calls) == 3
    assert not any(TOKEN in call or new in call for call in run.calls)  # secrets only on stdin


def test_start_keeps_the_standard_webhooks_form(tmp_path: Path) -> None:
    run = rotate(tmp_path, WHSEC, "--stream", "crm-orders")
    assert run.returncode == 0, run.stderr
    old, new = run.added[0].split(" ")
    assert old == WHSEC and new.startswith("whsec_")
    assert len(base64.b64decode(new.removeprefix("whsec_"), validate=True)) == 32


@pytest.mark.parametrize(("latest", "access_fails"), [
    (f"{TOKEN} {'a' * 64}", False),  # a rotation already under way
    ("", False),
    ("short", False),
    (TOKEN, True),  # gcloud cannot read the secret
], ids=["pair", "empty", "short", "gcloud-fails"])
def test_start_refuses_an_unexpected_current_secret(tmp_path: Path, latest: str, access_fails: bool) -> None:
    run = rotate(tmp_path, latest, "--stream", "crm-orders", access_fails=access_fails)
    assert run.returncode == 1
    assert run.calls and run.calls[0].startswith("secrets versions access")  # it did look
    assert run.added == [] and not any("update" in call for call in run.calls)
    assert "nothing changed" in run.stderr or "PERMISSION_DENIED" in run.stderr


def test_finish_keeps_only_the_new_secret_and_disables_the_older_versions(tmp_path: Path) -> None:
    new = "0123456789abcdef" * 4
    run = rotate(tmp_path, f"{TOKEN} {new}", "--stream", "crm-orders", "--finish")
    assert run.returncode == 0, run.stderr
    assert run.added == [new]
    assert run.calls[3:] == [
        f"secrets versions list {SECRET} --project {PROJECT} --filter=state:ENABLED --format=value(name)",
        f"secrets versions disable 7 --secret {SECRET} --project {PROJECT}",
        f"secrets versions disable 6 --secret {SECRET} --project {PROJECT}",
    ]  # version 8 is the one just added, and stays
    assert run.calls[2].startswith(f"run services update {SERVICE} --region {REGION} --project {PROJECT} ")


@pytest.mark.parametrize("latest", [TOKEN, "", f"{TOKEN} whsec_", f"{TOKEN} {'a' * 64} {'b' * 64}", f"{TOKEN} abc"],
                         ids=["single", "empty", "weak-whsec", "three", "short"])
def test_finish_refuses_anything_but_the_pair_of_start(tmp_path: Path, latest: str) -> None:
    run = rotate(tmp_path, latest, "--stream", "crm-orders", "--finish")
    assert run.returncode == 1
    assert run.added == [] and not any("update" in call or "disable" in call for call in run.calls)
    assert "nothing changed" in run.stderr


def test_an_unknown_stream_is_named(tmp_path: Path) -> None:
    run = rotate(tmp_path, TOKEN, "--stream", "nope")
    assert run.returncode == 1 and "no stream 'nope' in infra/streams.py" in run.stderr and run.calls == []


def test_the_docs_use_the_command_not_hand_typed_gcloud() -> None:
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    section = text.split("## Rotate the secret without downtime", 1)[1].split("\n## ", 1)[0]
    assert "scripts/rotate-secret --stream crm-orders --finish" in section
    assert "gcloud secrets versions add" not in section
