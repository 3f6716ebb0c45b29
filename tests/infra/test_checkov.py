"""checkov on both synthesized stacks: every failure is fixed or accepted, with a reason, in
tools/operator/checkov_scan.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.naming import REGISTRY_STACK, STREAMS_STACK
from tests.infra.helpers import VARIED_STREAMS, synthesize_to_files
from tools.operator.checkov_scan import ACCEPTED_FINDINGS, CHECKOV, report_lines, scan

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(not CHECKOV.exists(), reason=f"checkov not installed at {CHECKOV}: scripts/test installs "
                                                    "it (scripts/lib.sh, ensure_checkov_venv)"),
]


def test_shipped_stacks_have_no_unaccepted_checkov_failure(tmp_path: Path) -> None:
    files = synthesize_to_files(None, tmp_path / "cdktf.out")
    assert set(files) == {REGISTRY_STACK, STREAMS_STACK}
    result = scan(files)
    print("\n".join(report_lines(result)))  # the figures for README / docs/deploy.md (pytest -s)
    assert result.parsing_errors == []
    assert result.passed > 0
    assert [str(finding) for finding in result.failed] == []
    # A skip that no longer matches any failure must go: it would silently cover a future one.
    assert [(entry.check_id, entry.resource_type, entry.which) for entry in result.unused] == []
    # Both stacks were scanned: the registry's accepted finding comes from the registry stack.
    assert {finding.stack for finding, _ in result.accepted} == {REGISTRY_STACK, STREAMS_STACK}


def test_a_skip_covers_only_the_resources_its_reason_is_about(tmp_path: Path) -> None:
    # shop-events turns deletion protection off on a real table: the views-only skip of CKV_GCP_121 must not
    # hide it, nor may the CMEK skips hide anything but encryption.
    (shop_events,) = [stream for stream in VARIED_STREAMS if stream.name == "shop-events"]
    assert shop_events.table_options.deletion_protection is False
    result = scan(synthesize_to_files(VARIED_STREAMS, tmp_path / "cdktf.out"))
    assert [(f.check_id, f.resource_type, f.logical_id.split("_")[1]) for f in result.failed] == [
        ("CKV_GCP_121", "google_bigquery_table", "shop-events-table")]


def test_every_accepted_finding_says_why() -> None:
    for entry in ACCEPTED_FINDINGS:
        assert entry.check_id.startswith("CKV") and len(entry.reason) > 60, entry
