"""checkov on the synthesized Terraform JSON, with every finding we accept written down with its reason.

checkov 3.3.30 reads no skip comments in Terraform JSON (its terraform_json runner passes no skips to
the checks) and `--skip-check` would silence a check for every resource. So checkov runs with all its
checks, and each failure is then either matched by one entry of ACCEPTED_FINDINGS (check id, resource
type, which resources, why) or counted as failed. An entry that matches nothing is stale and reported.

`scripts/checkov [DIR]` scans `DIR/stacks/*/cdk.tf.json` (default `cdktf.out`, written by `npx cdktf synth`);
tests/infra/test_checkov.py scans both stacks of the shipped streams and fails on any unaccepted failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# scripts/lib.sh (ensure_checkov_venv) installs the pinned checkov here, apart from the project's .venv.
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

Body = Mapping[str, Any]


def any_resource(body: Body) -> bool:
    return True


def is_view(body: Body) -> bool:
    return "view" in body


def is_not_view(body: Body) -> bool:
    return "view" not in body


CMEK_REASON = (
    "encrypted at rest with Google-managed keys. Customer-managed keys need a Cloud KMS key ring and key "
    "in the same location, grants to the service agent, and key rotation and recovery procedures: an "
    "organisation's policy decision, not something a webhook kit should create on its own")


@dataclass(frozen=True)
class AcceptedFinding:
    """A checkov failure we keep on purpose; `applies_to` narrows it to the resources the reason covers."""

    check_id: str
    resource_type: str
    reason: str
    applies_to: Callable[[Body], bool] = any_resource
    which: str = "all"

    def matches(self, finding: Finding) -> bool:
        return (finding.check_id == self.check_id and finding.resource_type == self.resource_type
                and self.applies_to(finding.body))


ACCEPTED_FINDINGS: tuple[AcceptedFinding, ...] = (
    AcceptedFinding("CKV_GCP_84", "google_artifact_registry_repository",
                    f"The repository holds only the webhook service image (code from this repository, no rows, "
                    f"no secrets); it is {CMEK_REASON}."),
    AcceptedFinding("CKV_GCP_81", "google_bigquery_dataset", f"Datasets are {CMEK_REASON}."),
    AcceptedFinding("CKV_GCP_80", "google_bigquery_table", f"Tables are {CMEK_REASON}.",
                    applies_to=is_not_view, which="tables"),
    AcceptedFinding("CKV_GCP_80", "google_bigquery_table",
                    "A view stores no data, so there is nothing of its own to encrypt; its query reads the "
                    "stream's table, which keeps its own encryption.",
                    applies_to=is_view, which="views"),
    AcceptedFinding("CKV_GCP_121", "google_bigquery_table",
                    "A view holds no data: dropping it loses nothing and a deploy recreates it from "
                    "infra/streams.py. Deletion protection would only block removing a stream's view "
                    "(tables keep theirs, from TableOptions.deletion_protection).",
                    applies_to=is_view, which="views"),
    # The spool bucket (infra/spool_resources.py, docs/spool.md).
    AcceptedFinding("CKV_GCP_78", "google_storage_bucket",
                    "The spool's objects are never overwritten (each is created once with "
                    "if_generation_match=0, and no account holds an overwrite grant on a stream's prefix); a "
                    "delete, the only way to lose one, stays recoverable for 7 days through the bucket's soft "
                    "delete policy, which covers what versioning would here without keeping stale versions."),
    AcceptedFinding("CKV_GCP_62", "google_storage_bucket",
                    "Usage logs of the spool would record each spooled hit's object name (its hit_id) once more; "
                    "who may write, read or delete is fixed by IAM in this stack, and Cloud Audit Logs (admin "
                    "activity, and data access where the organisation enables it) record changes to it."),
)


@dataclass(frozen=True)
class Finding:
    """One failed checkov check on one resource of one stack."""

    check_id: str
    check_name: str
    stack: str
    resource_type: str
    logical_id: str
    body: Body = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.check_id} ({self.check_name}) on {self.resource_type}.{self.logical_id} in {self.stack}"


@dataclass
class ScanResult:
    passed: int
    accepted: list[tuple[Finding, AcceptedFinding]]
    failed: list[Finding]
    parsing_errors: list[str]
    unused: list[AcceptedFinding]

    def figures(self) -> str:
        return (f"checkov: {self.passed} passed, {len(self.accepted)} skipped with a written reason "
                f"({len({(a.check_id, a.which) for _, a in self.accepted})} accepted findings), "
                f"{len(self.failed)} failed")


class CheckovError(RuntimeError):
    """checkov did not run or did not produce a report."""


def run_checkov(stack_files: Sequence[Path], checkov: Path = CHECKOV) -> dict[str, Any]:
    """checkov's JSON report for these `cdk.tf.json` files, every check run, offline."""
    if not checkov.exists():
        raise CheckovError(f"{checkov} not found: scripts/test and scripts/checkov install it (.venv-checkov)")
    command = [str(checkov), "--framework", "terraform_json", "--skip-download", "--output", "json",
               "--soft-fail"]  # the verdict is ours (ACCEPTED_FINDINGS), not checkov's exit code
    for path in stack_files:
        command += ["--file", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise CheckovError(f"checkov exited {result.returncode} without a JSON report:\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}") from None
    if isinstance(report, list):  # several frameworks ran: keep ours
        report = next((r for r in report if r.get("check_type") == "terraform_json"), {})
    if not isinstance(report, dict):
        raise CheckovError(f"unexpected checkov report: {str(report)[:500]}")
    return report


def _without_required_version(stack_file: Path, folder: Path) -> Path:
    """A copy of the stack for checkov: its terraform_json parser fails on the whole file when the terraform
    block holds `required_version` (a string where it expects blocks), and scans nothing. The constraint
    concerns Terraform, not any resource checkov checks."""
    stack = json.loads(stack_file.read_text())
    stack.get("terraform", {}).pop("required_version", None)
    folder.mkdir(parents=True)
    copy = folder / stack_file.name
    copy.write_text(json.dumps(stack))
    return copy


def _resources_by_logical_id(stack: Mapping[str, Any]) -> dict[str, tuple[str, Body]]:
    return {logical_id: (resource_type, body)
            for resource_type, bodies in stack.get("resource", {}).items()
            for logical_id, body in bodies.items()}


def scan(stacks: Mapping[str, Path], accepted: Sequence[AcceptedFinding] = ACCEPTED_FINDINGS,
         checkov: Path = CHECKOV) -> ScanResult:
    """Scan each stack's `cdk.tf.json` (stack name -> path) and sort every failure into accepted or failed."""
    with tempfile.TemporaryDirectory(prefix="hookstream-checkov-") as scratch:
        readable = {name: _without_required_version(path, Path(scratch) / name) for name, path in stacks.items()}
        report = run_checkov(list(readable.values()), checkov)
    results = report.get("results", {})
    summary = report.get("summary", {})
    by_file = {path.resolve(): name for name, path in readable.items()}
    resources = {name: _resources_by_logical_id(json.loads(path.read_text())) for name, path in stacks.items()}
    result = ScanResult(passed=int(summary.get("passed", len(results.get("passed_checks", [])))),
                        accepted=[], failed=[], parsing_errors=list(results.get("parsing_errors", [])),
                        unused=[])
    if summary.get("parsing_errors"):
        result.parsing_errors.append(f"{summary['parsing_errors']} file(s) checkov could not parse")
    for record in results.get("failed_checks", []):
        stack = by_file.get(Path(record["file_abs_path"]).resolve(), record["file_abs_path"])
        logical_id = record["resource"].removeprefix("resource.")
        resource_type, body = resources.get(stack, {}).get(logical_id, ("?", {}))
        finding = Finding(record["check_id"], record["check_name"], stack, resource_type, logical_id, body)
        entry = next((a for a in accepted if a.matches(finding)), None)
        if entry is None:
            result.failed.append(finding)
        else:
            result.accepted.append((finding, entry))
    used = {id(entry) for _, entry in result.accepted}
    result.unused = [entry for entry in accepted if id(entry) not in used]
    return result


def report_lines(result: ScanResult) -> list[str]:
    lines = [result.figures()]
    entries: list[AcceptedFinding] = []
    for _, entry in result.accepted:
        if entry not in entries:
            entries.append(entry)
    for entry in entries:
        count = sum(1 for _, used in result.accepted if used is entry)
        lines.append(f"  skipped {entry.check_id} on {count} {entry.resource_type} ({entry.which}): {entry.reason}")
    lines += [f"  FAILED {finding}" for finding in result.failed]
    lines += [f"  PARSING ERROR {error}" for error in result.parsing_errors]
    lines += [f"  stale skip (matched nothing): {entry.check_id} on {entry.resource_type} ({entry.which})"
              for entry in result.unused]
    return lines


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0] if argv else REPO / "cdktf.out")
    stacks = {path.parent.name: path for path in sorted(out.glob("stacks/*/cdk.tf.json"))}
    if not stacks:
        print(f"no {out}/stacks/*/cdk.tf.json: run `npx cdktf synth` first", file=sys.stderr)
        return 2
    try:
        result = scan(stacks)
    except CheckovError as error:
        print(f"scripts/checkov: {error}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(result)))
    return 1 if result.failed or result.parsing_errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
