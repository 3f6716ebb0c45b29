"""Moving a deployed stack from cdktf to CDK Terrain and back, with real Terraform on one remote state.

docs/deploy.md, "Moving an existing deployment to CDK Terrain, and back", run as far as these machines allow:
the google provider cannot be had here, the AWS provider can (a local mirror) and runs against moto. So the
deployed app is tests/infra/switch_app.py: AWS resources built exactly as hookstream's stacks build theirs
(construct ids as addresses, references, depends_on, an output, a remote backend). What the switch depends on
is the engines' part: that Terraform, given the other engine's output, finds the deployed state matching it.
The google provider's own 6.50 -> 8.7 upgrade is not exercised here (infra/engine/differences.py covers it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.engine.setting import CDKTF, ENGINE_ENV, TERRAIN, Engine, selected_engine
from tests.infra.switch_app import MOTO_ACCESS_KEY, MOTO_SECRET_KEY, STACK
from tools.local.processes import free_port
from tools.operator.engine_synth import engine_python

REPO = Path(__file__).resolve().parents[2]
AWS_MIRROR = Path(os.environ.get("HOOKSTREAM_TF_PLUGIN_DIR") or "/opt/tf-plugins")
STATE_BUCKET = "hookstream-state"
TERRAFORM = shutil.which("terraform")
PLAN_NO_CHANGES, PLAN_HAS_CHANGES = 0, 2  # terraform plan -detailed-exitcode


def _aws_provider_present() -> bool:
    return any((AWS_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").glob(
        "5.100.0/linux_amd64/terraform-provider-aws*"))


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(selected_engine().name != "cdktf", reason="runs once, from the cdktf run"),
    pytest.mark.skipif(not engine_python(TERRAIN).exists(),
                       reason=f"{engine_python(TERRAIN)} missing: scripts/test creates it (ensure_terrain_venv)"),
    pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH"),
    pytest.mark.skipif(not _aws_provider_present(),
                       reason=f"hashicorp/aws 5.100.0 not in the provider mirror {AWS_MIRROR} "
                              "(set HOOKSTREAM_TF_PLUGIN_DIR)"),
]


def _s3(endpoint: str) -> Any:
    import boto3  # here: .venv-terrain (which collects this module for its synth run) has no boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=MOTO_ACCESS_KEY,
                        aws_secret_access_key=MOTO_SECRET_KEY)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on loopback, with the bucket that holds the one state object both engines share."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    _s3(endpoint).create_bucket(Bucket=STATE_BUCKET)
    yield endpoint
    server.stop()


class Deployer:
    """Synthesizes the switch app with one engine and runs terraform in its stack directory."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.root, self.endpoint = root, endpoint
        cli_config = root / "terraformrc"
        cli_config.write_text(f'provider_installation {{\n  filesystem_mirror {{ path = "{AWS_MIRROR}" }}\n}}\n')
        self.env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1",
                    "CHECKPOINT_DISABLE": "1"}

    def synth(self, engine: Engine, name: str, bucket_id: str = "spool") -> Path:
        outdir = self.root / name
        outdir.mkdir()
        result = subprocess.run(
            [str(engine_python(engine)), "-m", "tests.infra.switch_app", "--outdir", str(outdir),
             "--endpoint", self.endpoint, "--state-bucket", STATE_BUCKET, "--bucket-id", bucket_id],
            cwd=REPO,
            env={**os.environ, ENGINE_ENV: engine.name, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        stack = outdir / "stacks" / STACK
        self.terraform(stack, "init", "-input=false")
        return stack

    def terraform(self, stack: Path, *args: str) -> subprocess.CompletedProcess[str]:
        assert TERRAFORM is not None
        result = subprocess.run([TERRAFORM, *args, "-no-color"], cwd=stack, env=self.env, capture_output=True,
                                text=True, timeout=300)
        if args[0] != "plan":
            assert result.returncode == 0, f"terraform {args[0]}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def plan(self, stack: Path) -> subprocess.CompletedProcess[str]:
        result = self.terraform(stack, "plan", "-detailed-exitcode", "-input=false")
        assert result.returncode in (PLAN_NO_CHANGES, PLAN_HAS_CHANGES), result.stderr[-3000:]
        return result


def test_a_cdktf_deployment_moves_to_terrain_and_back_with_nothing_to_change(
        s3_endpoint: str, tmp_path: Path) -> None:
    deployer = Deployer(tmp_path, s3_endpoint)
    on_cdktf = deployer.synth(CDKTF, "cdktf")
    deployed = deployer.terraform(on_cdktf, "apply", "-auto-approve", "-input=false")
    assert "Resources: 3 added, 0 changed, 0 destroyed" in deployed.stdout
    s3 = _s3(s3_endpoint)
    assert s3.get_object(Bucket="hookstream-switch-spool", Key="README")["Body"].read() == b"hookstream spool\n"

    # The fault the switch must not have, made on purpose first: one resource's construct id changed
    # (its address) is seen by the same plan as a destroy and a create, so "no changes" below means something.
    renamed = deployer.synth(TERRAIN, "terrain-renamed", bucket_id="spool-bucket")
    faulty = deployer.plan(renamed)
    assert faulty.returncode == PLAN_HAS_CHANGES
    assert "aws_s3_bucket.spool will be destroyed" in faulty.stdout
    assert "aws_s3_bucket.spool-bucket will be created" in faulty.stdout

    on_terrain = deployer.synth(TERRAIN, "terrain")
    switched = deployer.plan(on_terrain)
    assert switched.returncode == PLAN_NO_CHANGES, switched.stdout[-3000:]
    assert "No changes. Your infrastructure matches the configuration." in switched.stdout
    applied = deployer.terraform(on_terrain, "apply", "-auto-approve", "-input=false")
    assert "Resources: 0 added, 0 changed, 0 destroyed" in applied.stdout

    back = deployer.plan(on_cdktf)
    assert back.returncode == PLAN_NO_CHANGES, back.stdout[-3000:]
    assert s3.list_objects_v2(Bucket=STATE_BUCKET)["KeyCount"] == 1  # one state object, read by both
