"""A small app whose deployment tests/infra/test_engine_switch.py moves from cdktf to CDK Terrain and back.

The google provider cannot run on these machines, the AWS one can (against moto), so this app holds AWS
resources; what the switch depends on is the engine's part, and it is the same as in hookstream's stacks:
construct ids rendered into resource addresses, references and `depends_on` between resources, an output,
and a remote backend holding the one state object both engines' output reads (S3 here, GCS there).
Run by each engine's own Python (`python -m tests.infra.switch_app ...`), with HOOKSTREAM_ENGINE set.
"""

from __future__ import annotations

import argparse
import sys

from infra.engine.core import App, S3Backend, TerraformOutput, TerraformResource, TerraformStack

STACK = "switch"
STATE_KEY = "switch/default.tfstate"
AWS_PROVIDER = {"source": "hashicorp/aws", "version": "5.100.0"}
# moto takes any credentials; these are its documented test values, not a secret.
MOTO_CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}
MOTO_ACCESS_KEY, MOTO_SECRET_KEY = MOTO_CREDENTIALS["access_key"], MOTO_CREDENTIALS["secret_key"]


def _aws_endpoint_settings(endpoint: str) -> dict[str, object]:
    return {"region": "us-east-1", **MOTO_CREDENTIALS, "skip_credentials_validation": True,
            "skip_requesting_account_id": True, "skip_metadata_api_check": True, "s3_use_path_style": True,
            "endpoints": [{"s3": endpoint}]}


def build(outdir: str, endpoint: str, state_bucket: str, bucket_id: str) -> App:
    app = App(outdir=outdir)
    stack = TerraformStack(app, STACK)
    stack.add_override("terraform.required_providers.aws", AWS_PROVIDER)
    stack.add_override("provider.aws", [_aws_endpoint_settings(endpoint)])
    S3Backend(stack, bucket=state_bucket, key=STATE_KEY, region="us-east-1", endpoints={"s3": endpoint},
              use_path_style=True, skip_credentials_validation=True, skip_requesting_account_id=True,
              skip_metadata_api_check=True, skip_region_validation=True, access_key=MOTO_ACCESS_KEY,
              secret_key=MOTO_SECRET_KEY)

    bucket = TerraformResource(stack, bucket_id, terraform_resource_type="aws_s3_bucket")
    bucket.add_override("bucket", "hookstream-switch-spool")
    versioning = TerraformResource(stack, "spool-versioning", terraform_resource_type="aws_s3_bucket_versioning")
    versioning.add_override("bucket", bucket.get_string_attribute("id"))
    versioning.add_override("versioning_configuration", {"status": "Enabled"})
    marker = TerraformResource(stack, "spool-marker", terraform_resource_type="aws_s3_object",
                               depends_on=[versioning])
    marker.add_override("bucket", bucket.get_string_attribute("id"))
    marker.add_override("key", "README")
    marker.add_override("content", "hookstream spool\n")
    TerraformOutput(stack, "spool-arn", value=bucket.get_string_attribute("arn"))
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.infra.switch_app")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--endpoint", required=True, help="the S3 endpoint (moto)")
    parser.add_argument("--state-bucket", required=True)
    parser.add_argument("--bucket-id", default="spool", help="the bucket's construct id (its address)")
    args = parser.parse_args(argv)
    build(args.outdir, args.endpoint, args.state_bucket, args.bucket_id).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
