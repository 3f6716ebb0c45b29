"""The secret rotation commands of docs/deploy.md, run as written, with `gcloud` replaced by a recorder.

gcloud cannot reach Google Cloud here, and the point is the commands' own checks: a failing or broken
`openssl`, or an unexpected secret version, must stop a step before anything is stored. `openssl` is the
real one except where a test breaks it on purpose.
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
TOKEN = "Qw3r7y" * 10 + "AbCd"  # 64 alphanumerics, like the secret generated at deploy time
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
NEW_HEX = re.compile(r"^[0-9a-f]{64}$")

FAKE_GCLOUD = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_DIR/calls"
case "$1 $2 $3" in
  "secrets versions access")
    [ -z "${FAKE_ACCESS_FAILS:-}" ] || { echo "ERROR: (gcloud) permission denied" >&2; exit 1; }
    printf '%s' "$FAKE_LATEST" ;;
  "secrets versions add") cat > "$FAKE_DIR/added" ;;
esac
"""


def doc_block(step: str) -> str:
    match = re.search(rf"<!-- {step} [^>]*-->\n```sh\n(.*?)```", DEPLOY_DOC.read_text(), re.DOTALL)
    assert match, f"docs/deploy.md has no block marked {step}"
    return match.group(1)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]
    added: str | None


def run_step(step: str, tmp_path: Path, latest: str, openssl: str | None = None,
             access_fails: bool = False) -> Run:
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "gcloud").write_text(FAKE_GCLOUD)
    (fake / "gcloud").chmod(0o755)
    if openssl is not None:
        (fake / "openssl").write_text(f"#!/usr/bin/env bash\n{openssl}\n")
        (fake / "openssl").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "FAKE_DIR": str(tmp_path), "FAKE_LATEST": latest,
           "SECRET": "hookstream-crm-orders-endpoint", "SERVICE": "hookstream-crm-orders",
           "HOOKSTREAM_REGION": "europe-west3", **({"FAKE_ACCESS_FAILS": "1"} if access_fails else {})}
    result = subprocess.run(["bash", "-c", doc_block(step)], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    calls_file, added_file = tmp_path / "calls", tmp_path / "added"
    return Run(result.returncode, result.stdout, result.stderr,
               calls_file.read_text().splitlines() if calls_file.exists() else [],
               added_file.read_text() if added_file.exists() else None)


def test_step_1_stores_old_and_a_strong_new_token(tmp_path: Path) -> None:
    run = run_step("rotation-step-1", tmp_path, latest=TOKEN)
    assert run.returncode == 0, run.stderr
    assert run.added is not None
    old, new = run.added.split(" ")
    assert old == TOKEN and NEW_HEX.match(new), run.added
    assert any(call.startswith("run services update hookstream-crm-orders") for call in run.calls)
    assert new in run.stdout


def test_step_1_keeps_the_standard_webhooks_form(tmp_path: Path) -> None:
    run = run_step("rotation-step-1", tmp_path, latest=WHSEC)
    assert run.returncode == 0, run.stderr
    assert run.added is not None
    old, new = run.added.split(" ")
    assert old == WHSEC and new.startswith("whsec_")
    assert len(base64.b64decode(new.removeprefix("whsec_"), validate=True)) == 32


@pytest.mark.parametrize("openssl", ["exit 1", "exit 0", "echo abc", "echo -n ''"],
                         ids=["fails", "prints-nothing", "prints-a-short-value", "prints-empty"])
@pytest.mark.parametrize("latest", [TOKEN, WHSEC], ids=["token", "standard-webhooks"])
def test_step_1_stores_nothing_when_openssl_is_broken(tmp_path: Path, openssl: str, latest: str) -> None:
    run = run_step("rotation-step-1", tmp_path, latest=latest, openssl=openssl)
    assert run.returncode != 0
    assert any(call.startswith("secrets versions access") for call in run.calls)  # it got as far as openssl
    assert run.added is None
    assert not any(call.startswith(("secrets versions add", "run services update")) for call in run.calls)


@pytest.mark.parametrize(("latest", "access_fails"), [
    (f"{TOKEN} {'a' * 64}", False),  # a rotation already under way
    ("", False),
    ("short", False),
    (TOKEN, True),  # gcloud cannot read the secret
], ids=["pair", "empty", "short", "gcloud-fails"])
def test_step_1_refuses_an_unexpected_current_secret(tmp_path: Path, latest: str, access_fails: bool) -> None:
    run = run_step("rotation-step-1", tmp_path, latest=latest, access_fails=access_fails)
    assert run.returncode != 0
    assert run.added is None and not any("update" in call for call in run.calls)


def test_step_3_keeps_only_the_new_secret(tmp_path: Path) -> None:
    new = "0123456789abcdef" * 4
    run = run_step("rotation-step-3", tmp_path, latest=f"{TOKEN} {new}")
    assert run.returncode == 0, run.stderr
    assert run.added == new
    assert any(call.startswith("run services update") for call in run.calls)


@pytest.mark.parametrize("latest", [TOKEN, "", f"{TOKEN} whsec_", f"{TOKEN} {'a' * 64} {'b' * 64}", f"{TOKEN} abc"],
                         ids=["single", "empty", "weak-whsec", "three", "short"])
def test_step_3_refuses_anything_but_the_pair_of_step_1(tmp_path: Path, latest: str) -> None:
    run = run_step("rotation-step-3", tmp_path, latest=latest)
    assert run.returncode != 0
    assert run.added is None and not any("update" in call for call in run.calls)
    assert "nothing changed" in run.stderr
