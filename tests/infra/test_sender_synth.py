"""What the deploy gives sender presets: Salesforce's endpoint URL carries the token like token mode's, a Close
stream's placeholder secret is hex (the service refuses anything else), and the preset reaches the service."""

from __future__ import annotations

import pytest

from infra.naming import STREAMS_STACK, StreamNames
from service.model.senders import Close, HubSpot, Salesforce
from service.model.service_env import from_env
from service.model.stream import Stream
from tests.infra.helpers import Synth, synthesize

pytestmark = pytest.mark.synth

SALESFORCE = Stream(name="sf-opps", dataset="crm", table="sf_opps", auth=Salesforce(("00D7Q000006hT3bUAE",)))
CLOSE = Stream(name="close-leads", dataset="crm", table="close_leads", auth=Close())
HUBSPOT = Stream(name="hubspot-deals", dataset="crm", table="hubspot_deals", auth=HubSpot())


@pytest.fixture(scope="module")
def senders() -> Synth:
    return synthesize((SALESFORCE, CLOSE, HUBSPOT))


def path(stream: Stream, part: str) -> str:
    return f"{stream.name}/{stream.name}-{part}"


def test_salesforce_endpoint_url_carries_the_token_and_hubspot_does_not(senders: Synth) -> None:
    outputs = senders.stacks[STREAMS_STACK]["output"]
    for stream, with_token in ((SALESFORCE, True), (HUBSPOT, False)):
        uri = senders.ref(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"), "uri")
        url = outputs[StreamNames.of(stream).endpoint_url_output]["value"]
        if with_token:
            password = senders.ref(STREAMS_STACK, "random_password", path(stream, "secret-value"), "result")
            assert url == f"{uri}/hooks/{password}"
        else:
            assert url == f"{uri}/hooks"


def test_close_gets_a_hex_placeholder_key(senders: Synth) -> None:
    version = senders.resource(STREAMS_STACK, "google_secret_manager_secret_version", path(CLOSE, "secret-version"))
    assert senders.resource(STREAMS_STACK, "random_bytes", path(CLOSE, "secret-bytes"))["length"] == 32
    assert version["secret_data"] == senders.ref(STREAMS_STACK, "random_bytes", path(CLOSE, "secret-bytes"), "hex")


def test_the_service_reads_back_each_preset(senders: Synth) -> None:
    for stream in (SALESFORCE, CLOSE, HUBSPOT):
        service = senders.resource(STREAMS_STACK, "google_cloud_run_v2_service", path(stream, "service"))
        env = {item["name"]: item["value"] for item in service["template"]["containers"][0]["env"] if "value" in item}
        assert from_env(env).auth == stream.auth
    salesforce = senders.resource(STREAMS_STACK, "google_cloud_run_v2_service", path(SALESFORCE, "service"))
    env = {item["name"]: item.get("value") for item in salesforce["template"]["containers"][0]["env"]}
    assert env["HOOKSTREAM_AUTH"] == '{"mode": "salesforce", "organization_ids": ["00D7Q000006hT3bUAE"]}'
