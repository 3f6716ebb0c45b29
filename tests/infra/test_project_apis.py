"""A fresh project gets its APIs from the deploy itself, before any resource that calls them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.naming import REGISTRY_STACK, STREAMS_STACK
from infra.project_apis import BOOTSTRAP_APIS, MissingApi, api_of
from tests.infra.helpers import Synth

pytestmark = pytest.mark.synth

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
STREAMS_APIS = {"bigquery.googleapis.com", "cloudresourcemanager.googleapis.com", "cloudscheduler.googleapis.com",
                "iam.googleapis.com", "logging.googleapis.com", "monitoring.googleapis.com", "run.googleapis.com",
                "secretmanager.googleapis.com", "storage.googleapis.com"}
REGISTRY_APIS = {"artifactregistry.googleapis.com", "cloudbuild.googleapis.com"}
WAIT = "time_sleep.apis-propagated"


@pytest.mark.parametrize(("stack", "expected"), [(STREAMS_STACK, STREAMS_APIS), (REGISTRY_STACK, REGISTRY_APIS)])
def test_each_stack_enables_the_apis_its_resources_call_and_never_disables_them(
        shipped: Synth, stack: str, expected: set[str]) -> None:
    services = shipped.resources(stack, "google_project_service")
    assert {body["service"] for body in services.values()} == expected
    for body in services.values():
        assert body["disable_on_destroy"] is False
        assert body["disable_dependent_services"] is False
    wait = shipped.resource(stack, "time_sleep", "apis-propagated")
    assert wait["create_duration"] == "60s"
    assert sorted(wait["depends_on"]) == sorted(f"google_project_service.{body['_key']}" for body in services.values())


@pytest.mark.parametrize("which", ["shipped", "varied"])
def test_every_google_resource_waits_for_the_apis(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    checked = 0
    for stack in (STREAMS_STACK, REGISTRY_STACK):
        for resource_type, resources in synth.stacks[stack]["resource"].items():
            if not resource_type.startswith("google_") or resource_type == "google_project_service":
                continue
            for key, body in resources.items():
                assert WAIT in body.get("depends_on", []), f"{resource_type}.{key} does not wait for its API"
                checked += 1
    assert checked > 40


def test_a_resource_type_without_a_known_api_fails_at_synth_naming_the_type() -> None:
    with pytest.raises(MissingApi, match=r"google_pubsub_topic has no API in infra/project_apis\.py"):
        api_of("google_pubsub_topic")
    assert api_of("random_password") is None
    assert api_of("google_bigquery_table_iam_member") == "bigquery.googleapis.com"
    assert api_of("google_project_iam_custom_role") == "iam.googleapis.com"


def test_the_deploy_doc_asks_only_for_the_apis_the_provider_needs_to_enable_the_others() -> None:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    command = re.search(r"gcloud services enable ([^\n]*) --project \"\$PROJECT\"", text)
    assert command, "docs/deploy.md lost its bootstrap `gcloud services enable` command"
    assert set(command.group(1).split()) == set(BOOTSTRAP_APIS)
