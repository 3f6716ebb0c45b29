"""The Google APIs a stack calls, enabled by the stack itself, and waited for by every resource that calls them.

A fresh project has few APIs on; a resource whose API is off fails the apply with "API has not been used in
project ... or it is disabled. If you enabled this API recently, wait a few minutes for the action to propagate
to our systems and retry" (Google's own error text). So each stack enables the APIs of the resource types it
holds (derived from the resources, so a new resource type without an API here fails at synth, not at
apply), and every resource depends on a short wait after them.

Two APIs must be on before any of this can run, because the provider calls them to enable the others:
Service Usage and Cloud Resource Manager (docs/deploy.md, "Before the first deploy").
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.engine import providers as gcp
from infra.engine.core import TerraformResource, TerraformStack
from infra.propagation import wait_after

# Terraform resource type prefix -> the API the provider calls to manage it. Longest prefix wins.
API_OF_RESOURCE_TYPE: dict[str, str] = {
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_bigquery_": "bigquery.googleapis.com",
    "google_cloud_run_v2_": "run.googleapis.com",
    "google_cloud_scheduler_": "cloudscheduler.googleapis.com",
    "google_logging_": "logging.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_project_iam_member": "cloudresourcemanager.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_storage_": "storage.googleapis.com",
}
# On before the first apply (the provider needs them to enable the rest); never enabled by the stack.
BOOTSTRAP_APIS = ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com")
# Google documents no bound for an enabled API to reach every front end; the error text says "a few
# minutes" for the rare case. Waited once, on the apply that enables; a later apply finds the wait in state.
API_PROPAGATION = "60s"


class MissingApi(ValueError):
    """A resource type whose API this module does not know: say which API it needs before it can deploy."""


def api_of(resource_type: str) -> str | None:
    """The API a google_* resource type needs, None for other providers' resources (random, time)."""
    if not resource_type.startswith("google_") or resource_type == "google_project_service":
        return None
    matches = [prefix for prefix in API_OF_RESOURCE_TYPE if resource_type.startswith(prefix)]
    if not matches:
        raise MissingApi(f"{resource_type} has no API in infra/project_apis.py API_OF_RESOURCE_TYPE: add the "
                         "Google API the provider calls for it, or the first deploy in a fresh project fails")
    return API_OF_RESOURCE_TYPE[max(matches, key=len)]


def enable_apis(stack: TerraformStack, project: str, extra: Iterable[str] = ()) -> gcp.TimeSleep:
    """Enable every API the stack's resources need (plus `extra`, for calls made outside Terraform).

    Call it last in the stack's constructor: it reads the resources already defined and makes each depend
    on the returned wait. Never disables an API on destroy: another environment in the same project, or
    something else entirely, may use it.
    """
    resources = [node for node in stack.node.find_all() if isinstance(node, TerraformResource)]
    apis = sorted({api for node in resources if (api := api_of(node.terraform_resource_type))} | set(extra))
    enabled = [gcp.ProjectService(stack, f"api-{api.split('.')[0]}", project=project, service=api,
                                  disable_on_destroy=False, disable_dependent_services=False)
               for api in apis]
    apis_ready = wait_after(stack, "apis-propagated", enabled, API_PROPAGATION)
    # The bare address, as depends_on takes it (the constructor's depends_on renders the same; `fqn` is a
    # "${...}" expression, which Terraform refuses there).
    address = f"{apis_ready.terraform_resource_type}.{apis_ready.friendly_unique_id}"
    for node in resources:
        if api_of(node.terraform_resource_type):
            node.depends_on = [*(node.depends_on or []), address]
    return apis_ready
