"""Every way the cdktf and the CDK Terrain synth of the same app may differ, each with its reason: one place.

tests/infra/test_engine_parity.py synthesizes the same streams with both engines and compares the two
`cdk.tf.json` of each stack resource by resource, leaf by leaf; any difference not listed in ALLOWED
fails it, and so does an entry of ALLOWED that no longer occurs (a pin moved: re-read the guides).

The engines themselves write the same JSON for the same constructs. What differs is the provider versions
their prebuilt bindings pin: cdktf-cdktf-provider-google 16.12.1 = hashicorp/google 6.50.0, cdktn-provider-
google 21.1.0 = hashicorp/google 8.7.0 (two major upgrades), random 3.7.2 -> 3.9.1, time 0.13.1 -> 0.14.2.
Google's upgrade guides list what a major version changes:
https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/version_7_upgrade and
https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/version_8_upgrade
(website/docs/guides/version_{7,8}_upgrade.html.markdown in hashicorp/terraform-provider-google).
UPGRADE_NOTES names each item of those guides that touches a resource type this stack creates, and the
check that keeps the stack meaning the same on both providers; the test runs the checks on both outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ABSENT = "<absent>"  # a key one side has and the other does not


@dataclass(frozen=True)
class AllowedDifference:
    path: str  # dotted path in cdk.tf.json, the same in every stack it occurs in
    cdktf: Any
    terrain: Any
    reason: str


ALLOWED: tuple[AllowedDifference, ...] = (
    AllowedDifference(
        "//.metadata.version", "0.21.0", "0.24.0",
        "the engine's own version in its '//' comment block; Terraform ignores '//' keys "
        "(https://developer.hashicorp.com/terraform/language/syntax/json#comment-properties)"),
    AllowedDifference(
        "terraform.required_providers.google.source", "google", "hashicorp/google",
        "the same provider written two ways: a source without a namespace means hashicorp/ on "
        "registry.terraform.io, so both name registry.terraform.io/hashicorp/google "
        "(https://developer.hashicorp.com/terraform/language/providers/requirements#source-addresses); "
        "state records the full address, so `terraform plan` sees no provider change"),
    AllowedDifference(
        "terraform.required_providers.google.version", "6.50.0", "8.7.0",
        "the versions the prebuilt bindings are generated from; the 7.0 and 8.0 upgrade guides' items for "
        "our resource types are handled in UPGRADE_NOTES below"),
    AllowedDifference(
        "terraform.required_providers.random.version", "3.7.2", "3.9.1",
        "bindings' pin; random's CHANGELOG 3.8.0-3.9.0 adds resources and fixes override_special UTF-8 "
        "counting (we set no override_special): nothing we use changes"),
    AllowedDifference(
        "terraform.required_providers.time.version", "0.13.1", "0.14.2",
        "bindings' pin; time's CHANGELOG 0.14.0 only adds a build target: time_sleep is unchanged"),
)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON value with its dotted path (list items as .0, .1, ...)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    else:
        yield path, value


def differences(cdktf: dict[str, Any], terrain: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Leaf path -> (cdktf value, terrain value) for every leaf that differs or exists on one side only."""
    left, right = dict(_leaves(cdktf, "")), dict(_leaves(terrain, ""))
    return {path: (left.get(path, ABSENT), right.get(path, ABSENT))
            for path in sorted(left.keys() | right.keys())
            if left.get(path, ABSENT) != right.get(path, ABSENT)}


@dataclass(frozen=True)
class Comparison:
    unlisted: list[str]  # "stack: path: cdktf=... terrain=..." for each difference ALLOWED does not list
    used: set[str]  # the ALLOWED paths that occurred


def compare(cdktf_stacks: dict[str, dict[str, Any]], terrain_stacks: dict[str, dict[str, Any]]) -> Comparison:
    """Compare each stack's cdk.tf.json of the two engines (stack name -> parsed JSON)."""
    allowed = {entry.path: entry for entry in ALLOWED}
    unlisted: list[str] = []
    used: set[str] = set()
    if set(cdktf_stacks) != set(terrain_stacks):
        unlisted.append(f"stacks: cdktf={sorted(cdktf_stacks)} terrain={sorted(terrain_stacks)}")
    for stack in sorted(cdktf_stacks.keys() & terrain_stacks.keys()):
        for path, (left, right) in differences(cdktf_stacks[stack], terrain_stacks[stack]).items():
            entry = allowed.get(path)
            if entry is not None and (entry.cdktf, entry.terrain) == (left, right):
                used.add(path)
            else:
                unlisted.append(f"{stack}: {path}: cdktf={left!r} terrain={right!r}")
    return Comparison(unlisted, used)


@dataclass(frozen=True)
class UpgradeNote:
    resource_type: str
    guide: str  # which guide, which item
    keeps_meaning: str  # why the stack means the same on both providers
    # Addresses of resources of this type whose configuration would mean something else on 8.7.0.
    offenders: Callable[[str, dict[str, Any]], list[str]]


def _views_without_dialect(address: str, body: dict[str, Any]) -> list[str]:
    views = body.get("view") or []
    views = views if isinstance(views, list) else [views]
    return [address for view in views if "use_legacy_sql" not in view]


def _without(key: str) -> Callable[[str, dict[str, Any]], list[str]]:
    def offenders(address: str, body: dict[str, Any]) -> list[str]:
        return [] if key in body else [address]
    return offenders


def _has(*keys: str) -> Callable[[str, dict[str, Any]], list[str]]:
    def offenders(address: str, body: dict[str, Any]) -> list[str]:
        return [f"{address}.{path}" for path, _ in _leaves(body, "") if any(key in path.split(".") for key in keys)]
    return offenders


UPGRADE_NOTES: tuple[UpgradeNote, ...] = (
    UpgradeNote("google_bigquery_table", "7.0: view.use_legacy_sql no longer defaults to true",
                "every view sets use_legacy_sql = false itself (GoogleSQL), so the default is never used",
                _views_without_dialect),
    UpgradeNote("google_artifact_registry_repository", "7.0: public_repository fields lost their defaults",
                "our repository is a standard DOCKER repository: no remote_repository_config at all",
                _has("remote_repository_config")),
    UpgradeNote("google_storage_bucket", "7.0: retention_period became a string",
                "the spool bucket sets no retention_policy (soft delete and lifecycle rules only)",
                _has("retention_policy", "retention_period")),
    UpgradeNote("google_project_service", "7.0: disable_on_destroy no longer defaults to true",
                "every API the stacks enable sets disable_on_destroy = false itself (infra/project_apis.py), "
                "so destroying a stack leaves the project's APIs on with either provider",
                _without("disable_on_destroy")),
    UpgradeNote("google_bigquery_dataset", "8.0: default_collation is no longer computed",
                "no dataset sets default_collation; datasets we create have none, so nothing to clear",
                _has("default_collation")),
    UpgradeNote("google_secret_manager_secret_version",
                "8.0: secret_data_wo_version became a string and is required with secret_data_wo",
                "the endpoint secret is written with secret_data, which 8.0 leaves unchanged",
                _has("secret_data_wo", "secret_data_wo_version")),
)


def upgrade_offenders(stack: dict[str, Any]) -> list[str]:
    """Resources of one synthesized stack that an UPGRADE_NOTES item says would change meaning."""
    found: list[str] = []
    for note in UPGRADE_NOTES:
        for name, body in stack.get("resource", {}).get(note.resource_type, {}).items():
            found += [f"{item} ({note.guide})" for item in note.offenders(f"{note.resource_type}.{name}", body)]
    return found
