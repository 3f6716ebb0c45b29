"""The CI workflows users copy: pinned actions, no stored secrets, least privilege (actionlint itself runs
in scripts/test)."""

from __future__ import annotations

import re
from pathlib import Path

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*-?\s*uses:\s*(\S+)(.*)$", re.MULTILINE)


def test_there_are_a_pull_request_and_a_deploy_workflow() -> None:
    assert [path.name for path in WORKFLOWS] == ["deploy.yml", "pull-request.yml"]


def test_every_action_is_pinned_to_a_full_commit_sha() -> None:
    for path in WORKFLOWS:
        uses = USES.findall(path.read_text())
        assert uses, path
        for action, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{path.name}: {action}"
            assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), f"{path.name}: {action} names no version"


def test_no_stored_secrets_and_no_key_files() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        assert "secrets." not in text and "credentials_json" not in text, path.name
        assert "workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}" in text, path.name


def test_only_jobs_that_authenticate_may_ask_for_an_oidc_token() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        top = text.split("\njobs:", 1)[0]
        assert "permissions:\n  contents: read\n" in top and "id-token" not in top, path.name
        assert text.count("id-token: write") == text.count("google-github-actions/auth@"), path.name


def test_the_release_runs_in_a_github_environment_so_reviewers_approve_it() -> None:
    deploy = next(path for path in WORKFLOWS if path.name == "deploy.yml").read_text()
    release = deploy.split("\n  release:\n", 1)[1]
    assert "\n    environment: ${{ vars.HOOKSTREAM_ENV || 'production' }}\n" in release
    # The environment is set before the job authenticates, so no Google credential exists before approval.
    assert release.index("environment:") < release.index("google-github-actions/auth@")


def test_the_review_summary_reaches_the_pull_request_as_summary_and_comment() -> None:
    text = next(path for path in WORKFLOWS if path.name == "pull-request.yml").read_text()
    review = text.split("\n  review:\n", 1)[1].split("\n  diff:\n", 1)[0]
    assert 'scripts/review --base "$base" --markdown-to review.md' in review
    assert 'cat review.md >> "$GITHUB_STEP_SUMMARY"' in review
    assert 'gh pr comment "$PR_NUMBER" --body-file review.md' in review
    # The review's own verdict (an unallowed data loss fails the job) survives the commenting.
    assert review.rstrip().endswith('exit "$status"')
    # Only this job may write to the pull request.
    assert text.count("pull-requests: write") == 1 and "pull-requests: write" in review
