"""Helpers for the synth tests: a test deployment config, extra streams, and JSON lookups.

`shipped` is the app built from infra/streams.py; `varied` covers what the shipped streams do not use
(HMAC, Standard Webhooks and no auth, clustering, partition expiry, sizing, a second dataset).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.config import DeployConfig
from service.model.ads import AdsConsent, GoogleAdsConversions
from service.model.auth_settings import HmacAuth, NoAuth, StandardWebhooksAuth
from service.model.latest import LatestView, PayloadField
from service.model.stitch import GA4Export
from service.model.stream import RunOptions, Stream, TableOptions

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

CONFIG = DeployConfig(
    project="hookstream-ci-test",
    region="europe-west3",
    image="europe-west3-docker.pkg.dev/hookstream-ci-test/hookstream/hookstream:test-tag",
)

VARIED_STREAMS: tuple[Stream, ...] = (
    Stream(
        name="shop-events", dataset="shop", table="events", time_zone="America/New_York",
        auth=HmacAuth(header="X-Shop-Signature", encoding="base64"),
        table_options=TableOptions(location="europe-west3", labels=(("team", "growth"),),
                                   partition_expiration_days=400, require_partition_filter=True,
                                   clustering=("hit_id",), deletion_protection=False),
        run=RunOptions(min_instances=1, max_instances=3, concurrency=40, cpu="2", memory="1Gi",
                       request_timeout_seconds=60),
    ),
    Stream(name="billing", dataset="shop", table="billing", auth=StandardWebhooksAuth(),
           table_options=TableOptions(location="europe-west3", labels=(("cost-center", "b1"),))),
    Stream(name="open-pings", dataset="pings", table="pings", auth=NoAuth()),
)

# A stream sending its final orders to Google Ads (docs/ads.md): its job, schedule, account, grants and
# ledger are compared across the engines too (tests/infra/test_engine_parity.py).
ADS_STREAMS: tuple[Stream, ...] = (
    Stream(name="orders", dataset="crm", table="orders",
           latest=LatestView(fields=(PayloadField("orderId"), PayloadField("status"), PayloadField("total", "NUMERIC"),
                                     PayloadField("currency"), PayloadField("email")), key="orderId"),
           stitch=GA4Export(dataset="analytics_42", created_field=None, user_id_field=None),
           ads=GoogleAdsConversions(operating_account="1234567890", conversion_destination="42",
                                    consent=AdsConsent(ad_user_data="granted", ad_personalization="granted"),
                                    email_field="email")),
)


@dataclass
class Synth:
    """One synthesized app: each stack's Terraform JSON, plus what build_app warned about."""

    stacks: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resources of one type, keyed by construct path below the stack (e.g. 'crm-orders/crm-orders-sa')."""
        found = self.stacks[stack].get("resource", {}).get(resource_type, {})
        return {construct_path(key): {**body, "_key": key} for key, body in found.items()}

    def resource(self, stack: str, resource_type: str, path: str) -> dict[str, Any]:
        return self.resources(stack, resource_type)[path]

    def ref(self, stack: str, resource_type: str, path: str, attribute: str) -> str:
        """The Terraform expression that reads `attribute` of the resource at `path`."""
        return f"${{{resource_type}.{self.resource(stack, resource_type, path)['_key']}.{attribute}}}"


def construct_path(logical_id: str) -> str:
    """'crm-orders_crm-orders-sa_0B09381B' -> 'crm-orders/crm-orders-sa' (Testing.synth drops the metadata).

    Nested constructs get `<parent>_<id>_<hash>` ('a_b_c_<hash>' is 'a/b/c'); stream names and their
    child ids have no '_'.
    """
    parts = logical_id.split("_")
    if len(parts) >= 3 and re.fullmatch(r"[0-9A-F]{8}", parts[-1]):
        return "/".join(parts[:-1])
    return logical_id


def synthesize(streams: tuple[Stream, ...] | None, config: DeployConfig = CONFIG) -> Synth:
    from infra.app import build_app
    from infra.engine.core import TerraformStack, Testing

    warnings: list[str] = []
    app = build_app(streams, config, warn=warnings.append)
    stacks = {}
    for child in app.node.children:
        if isinstance(child, TerraformStack):
            stacks[child.node.id] = json.loads(Testing.synth(child))
    return Synth(stacks, warnings)


def synthesize_to_files(streams: tuple[Stream, ...] | None, outdir: Path,
                        config: DeployConfig = CONFIG) -> dict[str, Path]:
    """What `cdktf synth` writes (with cdktf's "//" metadata): stack name -> its cdk.tf.json."""
    from infra.app import build_app

    build_app(streams, config, outdir=str(outdir), warn=lambda message: None).synth()
    return {path.parent.name: path for path in sorted(outdir.glob("stacks/*/cdk.tf.json"))}


# The engine comparison's deployment: a state bucket (the gcs backend block) and alert recipients (the
# alert policies and notification channel), so every resource type the app can create is compared.
PARITY_CONFIG = DeployConfig(
    project="hookstream-ci-test",
    region="europe-west3",
    image="europe-west3-docker.pkg.dev/hookstream-ci-test/hookstream/hookstream:test-tag",
    state_bucket="acme-tfstate",
    alert_emails=("oncall@example.com",),
)
