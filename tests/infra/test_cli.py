"""The real entry points: `npx cdktf synth` (CLI from package-lock.json) and terraform on the output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.config import IMAGE_ENV, PROJECT_ENV, REGION_ENV
from infra.naming import REGISTRY_STACK, STREAMS_STACK, StreamNames
from infra.streams import STREAMS
from tests.infra.helpers import Synth

REPO = Path(__file__).resolve().parents[2]
CDKTF = REPO / "node_modules" / ".bin" / "cdktf"
DEPLOY_ENV = {
    PROJECT_ENV: "acme-analytics",
    REGION_ENV: "europe-west3",
    IMAGE_ENV: "europe-west3-docker.pkg.dev/acme-analytics/hookstream/hookstream:v1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    # A laptop's synth, local state allowed, also when the suite itself runs in CI (CI=true); the refusal
    # of local state in CI is tested in test_config.
    "CI": "",
    "CHECKPOINT_DISABLE": "1",  # no telemetry call from the CLI
}


@pytest.mark.integration
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed: run `npm ci` at the repo root")
def test_cdktf_synth_builds_every_shipped_stream(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    result = subprocess.run([str(CDKTF), "synth", "--output", str(out)], cwd=REPO,
                            env={**os.environ, **DEPLOY_ENV}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    registry = json.loads((out / "stacks" / REGISTRY_STACK / "cdk.tf.json").read_text())
    assert "google_artifact_registry_repository" in registry["resource"]
    streams = json.loads((out / "stacks" / STREAMS_STACK / "cdk.tf.json").read_text())
    services = {body["name"] for body in streams["resource"]["google_cloud_run_v2_service"].values()}
    assert services == {StreamNames.of(stream).cloud_run_service for stream in STREAMS}
    assert {body["project"] for body in streams["provider"]["google"]} == {"acme-analytics"}


@pytest.mark.integration
@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf CLI not installed: run `npm ci` at the repo root")
def test_cdktf_synth_of_a_stream_with_ads_shows_its_upload(tmp_path: Path) -> None:
    # The shipped streams declare no ads (they need a real GA4 export and Google Ads account), so the CLI
    # runs the app on tests.infra.helpers:ADS_STREAMS instead of infra/streams.py.
    out = tmp_path / "cdktf.out"
    app = (f"{REPO / '.venv' / 'bin' / 'python'} -m tools.operator.engine_synth --engine cdktf --outdir {out} "
           "--config tests.infra.helpers:CONFIG --streams tests.infra.helpers:ADS_STREAMS")
    result = subprocess.run([str(CDKTF), "synth", "--app", app, "--output", str(out)], cwd=REPO,
                            env={**os.environ, **DEPLOY_ENV}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    resources = json.loads((out / "stacks" / STREAMS_STACK / "cdk.tf.json").read_text())["resource"]
    assert sorted(body["name"] for body in resources["google_cloud_run_v2_job"].values()) == [
        "hookstream-ads-orders", "hookstream-replay-orders"]
    assert [body["schedule"] for body in resources["google_cloud_scheduler_job"].values()
            if body["name"] == "hookstream-ads-orders"] == ["17 * * * *"]
    assert sorted(body["account_id"] for body in resources["google_service_account"].values()) == [
        "gads-orders", "hooks-orders", "replay-orders"]
    ads_member = "${google_service_account.orders_orders-ads-sa_"
    assert sorted(str(body["role"]) for kind in ("google_bigquery_table_iam_member", "google_project_iam_member")
                  for body in resources[kind].values() if str(body["member"]).startswith(ads_member)) == [
        "${google_project_iam_custom_role.ads-view-role.name}",
        "${google_project_iam_custom_role.replay-table-role.name}", "roles/bigquery.jobUser"]
    assert "datamanager.googleapis.com" in {body["service"] for body in resources["google_project_service"].values()}


def _provider_mirror() -> Path | None:
    """A local directory holding hashicorp/google and hashicorp/random in Terraform's mirror layout."""
    candidates = [os.environ.get("HOOKSTREAM_TF_PLUGIN_DIR", ""), "/opt/tf-plugins",
                  str(Path.home() / ".terraform.d" / "plugins"),
                  str(Path.home() / ".local" / "share" / "terraform" / "plugins"),
                  "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins"]
    for candidate in filter(None, candidates):
        base = Path(candidate) / "registry.terraform.io" / "hashicorp"
        if all(any((base / name).glob("*/linux_amd64/terraform-provider-*")) for name in ("google", "random")):
            return Path(candidate)
    return None


@pytest.mark.synth
def test_terraform_validates_the_synthesized_json(shipped: Synth, tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    mirror = _provider_mirror()
    if terraform is None or mirror is None:
        pytest.skip("terraform validate needs terraform and the hashicorp/google + hashicorp/random providers "
                    "in a local mirror (none found; set HOOKSTREAM_TF_PLUGIN_DIR to one): these machines "
                    "cannot reach the Terraform registry")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(f'provider_installation {{\n  filesystem_mirror {{ path = "{mirror}" }}\n}}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1"}
    for name, stack in shipped.stacks.items():
        work = tmp_path / name
        work.mkdir()
        (work / "cdk.tf.json").write_text(json.dumps(stack))
        for command in (["init", "-backend=false", "-input=false"], ["validate", "-no-color"]):
            result = subprocess.run([terraform, *command], cwd=work, env=env, capture_output=True, text=True,
                                    timeout=300)
            assert result.returncode == 0, f"{name}: terraform {command[0]}\n{result.stdout}\n{result.stderr}"
