"""Compare two synthesized streams stacks (cdk.tf.json) and say, per stream, what a deploy would do to it.

Resources are matched by Terraform address (`type.logical_id`, stable while a construct's path is); a
resource present on one side only is added or removed; one on both sides is changed, or replaced when a
changed attribute is force-new at the pinned provider version (tools/operator/review/force_new.py), or when a
force-new attribute reads from a resource that is replaced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tools.operator.review.force_new import forces_replacement, table_schema_forces_replacement

# What is not a setting of the remote object: construct metadata and Terraform meta-arguments.
IGNORED_KEYS = frozenset({"//", "depends_on", "lifecycle", "provider", "provisioner", "connection", "timeouts"})
STREAM_LABEL = "hookstream-stream"
REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")
WHOLE_REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}")
MS_PER_DAY = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Resource:
    type: str
    logical_id: str
    path: str
    body: dict[str, Any]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.logical_id}"

    @property
    def is_view(self) -> bool:
        return self.type == "google_bigquery_table" and "view" in self.body

    @property
    def name(self) -> str:
        """The construct id, e.g. 'crm-orders-table' or 'dataset-crm'."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Setting:
    path: str
    before: Any
    after: Any


@dataclass
class ResourceChange:
    kind: str  # added | removed | changed | replaced | forgotten (leaves Terraform state, object kept)
    resource: Resource
    settings: list[Setting] = field(default_factory=list)
    because: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    """Something a reviewer must decide on. kind: data (stored rows destroyed), endpoint (what a CRM uses
    changes), blocked (the deploy would fail part-way), kept (a table leaves Terraform but keeps its rows)."""

    kind: str
    stream: str | None
    message: str


@dataclass
class StreamReport:
    name: str | None  # None: resources shared by all streams (datasets, the writer role, the dashboard)
    status: str  # added | removed | changed | unchanged | shared
    changes: list[ResourceChange] = field(default_factory=list)
    removal_path: str | None = None


@dataclass
class Review:
    streams: list[StreamReport]
    findings: list[Finding]
    allowed: frozenset[str] = frozenset()
    stale_allowances: tuple[str, ...] = ()

    @property
    def unallowed(self) -> list[Finding]:
        """What makes review fail: data loss not explicitly allowed, and changes that cannot deploy."""
        return [finding for finding in self.findings
                if finding.kind == "blocked" or (finding.kind == "data" and finding.stream not in self.allowed)]


def load_stack(text: str) -> dict[str, Any]:
    stack: dict[str, Any] = json.loads(text)
    return stack


def resources_of(stack: dict[str, Any]) -> dict[str, Resource]:
    found = {}
    for resource_type, by_id in stack.get("resource", {}).items():
        for logical_id, body in by_id.items():
            path = body.get("//", {}).get("metadata", {}).get("path", logical_id)
            resource = Resource(resource_type, logical_id, path, body)
            found[resource.address] = resource
    return found


def forgotten_addresses(stack: dict[str, Any]) -> frozenset[str]:
    """Addresses in `removed` blocks with destroy = false: Terraform forgets them, the object stays."""
    blocks = stack.get("removed", [])
    return frozenset(block["from"] for block in blocks
                     if not _lifecycle(block).get("destroy", True))


def _lifecycle(block: dict[str, Any]) -> dict[str, Any]:
    lifecycle = block.get("lifecycle", {})
    if isinstance(lifecycle, list):
        lifecycle = lifecycle[0] if lifecycle else {}
    return dict(lifecycle)


def stream_names(resources: dict[str, Resource]) -> set[str]:
    """Streams are the constructs one level below the stack: '<stack>/<stream>/<resource>'."""
    return {parts[1] for parts in (r.path.split("/") for r in resources.values()) if len(parts) >= 3}


def stream_of(resource: Resource, streams: set[str]) -> str | None:
    parts = resource.path.split("/")
    if len(parts) >= 3 and parts[1] in streams:
        return parts[1]
    for labels_key in ("labels", "user_labels"):
        labels = resource.body.get(labels_key)
        if isinstance(labels, dict) and labels.get(STREAM_LABEL) in streams:
            return str(labels[STREAM_LABEL])
    return None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': [{'b': 1}]} -> {'a[0].b': 1}; meta-arguments dropped."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            if not prefix and key in IGNORED_KEYS:
                continue
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat or ({prefix: {}} if prefix else {})
    if isinstance(value, list):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{index}]"))
        return flat or {prefix: []}
    return {prefix: value}


def resolve(value: Any, resources: dict[str, Resource]) -> Any:
    """'${google_bigquery_dataset.dataset-crm.dataset_id}' -> 'crm' when that attribute is a literal there."""
    if not isinstance(value, str):
        return value
    match = WHOLE_REFERENCE.fullmatch(value)
    if match is None:
        return value
    target = resources.get(f"{match.group(1)}.{match.group(2)}")
    literal = target.body.get(match.group(3)) if target is not None else None
    return literal if isinstance(literal, str) and "${" not in literal else value


def changed_settings(before: Resource, after: Resource) -> list[Setting]:
    old, new = flatten(before.body), flatten(after.body)
    return [Setting(path, old.get(path), new.get(path))
            for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)]


def _replacement_reasons(before: Resource, settings: list[Setting]) -> list[str]:
    reasons = []
    for setting in settings:
        rule = forces_replacement(before.type, setting.path)
        if rule is not None:
            reasons.append(f"{setting.path} changes (force-new: {rule})")
    new_schema = next((s.after for s in settings if s.path == "schema"), None)
    if before.type == "google_bigquery_table" and new_schema is not None and table_schema_forces_replacement(
            str(before.body.get("schema", "[]")), str(new_schema)):
        reasons.append("schema changes in a way BigQuery cannot apply in place (a column renamed, retyped, "
                       "made REQUIRED, or dropped while another is added)")
    return reasons


def _force_new_references(resource: Resource) -> set[str]:
    """Addresses read by the resource's force-new attributes: when one is replaced, so is this resource."""
    referenced: set[str] = set()
    for path, value in flatten(resource.body).items():
        if isinstance(value, str) and forces_replacement(resource.type, path) is not None:
            referenced.update(f"{kind}.{logical_id}" for kind, logical_id in REFERENCE.findall(value))
    return referenced


def compare(base: dict[str, Any], work: dict[str, Any]) -> list[ResourceChange]:
    before, after = resources_of(base), resources_of(work)
    forgotten = forgotten_addresses(work)
    changes: dict[str, ResourceChange] = {}
    for address in sorted(set(before) | set(after)):
        if address not in after:
            kind = "forgotten" if address in forgotten else "removed"
            changes[address] = ResourceChange(kind, before[address])
        elif address not in before:
            changes[address] = ResourceChange("added", after[address])
        else:
            settings = changed_settings(before[address], after[address])
            reasons = _replacement_reasons(before[address], settings)
            if settings:
                changes[address] = ResourceChange("replaced" if reasons else "changed", after[address],
                                                  settings, reasons)
    # Replacement travels along references: a service account re-created under a new id takes its IAM
    # grants with it. Repeat until nothing new is replaced.
    while True:
        replaced = {address for address, change in changes.items() if change.kind in ("replaced", "removed")}
        spread = False
        for address, resource in after.items():
            if address not in before or changes.get(address, ResourceChange("x", resource)).kind in (
                    "replaced", "added"):
                continue
            followed = sorted(_force_new_references(resource) & replaced)
            if followed:
                change = changes.setdefault(address, ResourceChange("changed", resource))
                change.kind = "replaced"
                change.because += [f"follows {address_of} (replaced)" for address_of in followed]
                spread = True
        if not spread:
            return list(changes.values())
