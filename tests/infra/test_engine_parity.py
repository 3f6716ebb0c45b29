"""cdktf and CDK Terrain synthesize the same streams into the same Terraform, except what is listed.

The cdktf side is built in this process (.venv); the Terrain side by .venv-terrain's Python
(tools/operator/engine_synth.py), since the two engines cannot share one virtual environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.engine.differences import ALLOWED, compare, upgrade_offenders
from infra.engine.setting import TERRAIN, selected_engine
from infra.naming import REGISTRY_STACK, STREAMS_STACK
from tests.infra.helpers import ADS_STREAMS, PARITY_CONFIG, VARIED_STREAMS, synthesize_to_files
from tools.operator.engine_synth import engine_python, synth_with

pytestmark = [
    pytest.mark.synth,
    # Once per suite, from the cdktf run (scripts/test runs the synth tests again on Terrain).
    pytest.mark.skipif(selected_engine().name != "cdktf", reason="the comparison runs from the cdktf run"),
    pytest.mark.skipif(not engine_python(TERRAIN).exists(),
                       reason=f"{engine_python(TERRAIN)} missing: scripts/test creates it (ensure_terrain_venv)"),
]

Stacks = dict[str, dict[str, Any]]
SCENARIOS = ("shipped", "varied", "ads")


def _read(files: dict[str, Path]) -> Stacks:
    return {name: json.loads(path.read_text()) for name, path in files.items()}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Stacks, Stacks]]:
    """scenario -> (cdktf stacks, terrain stacks), each from `cdktf synth`-style files with metadata."""
    out: dict[str, tuple[Stacks, Stacks]] = {}
    for scenario, streams, spec in (("shipped", None, None),
                                    ("varied", VARIED_STREAMS, "tests.infra.helpers:VARIED_STREAMS"),
                                    ("ads", ADS_STREAMS, "tests.infra.helpers:ADS_STREAMS")):
        base = tmp_path_factory.mktemp(scenario)
        cdktf = _read(synthesize_to_files(streams, base / "cdktf", PARITY_CONFIG))
        synth_with(TERRAIN, base / "terrain", "tests.infra.helpers:PARITY_CONFIG", spec)
        terrain = _read({path.parent.name: path for path in (base / "terrain").glob("stacks/*/cdk.tf.json")})
        out[scenario] = (cdktf, terrain)
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_engines_differ_only_as_listed(both: dict[str, tuple[Stacks, Stacks]], scenario: str) -> None:
    cdktf, terrain = both[scenario]
    result = compare(cdktf, terrain)
    assert result.unlisted == []
    # Every listed difference still occurs: a stale entry would silently allow a future one.
    assert result.used == {entry.path for entry in ALLOWED}


def test_same_stacks_same_resource_addresses_same_backend(both: dict[str, tuple[Stacks, Stacks]]) -> None:
    for cdktf, terrain in both.values():
        assert set(cdktf) == set(terrain) == {REGISTRY_STACK, STREAMS_STACK}
        for stack in cdktf:
            addresses = [{(kind, name) for kind, group in side[stack]["resource"].items() for name in group}
                         for side in (cdktf, terrain)]
            assert addresses[0] == addresses[1]
            # Same state, found in the same place: the gcs backend block is identical.
            for side in (cdktf, terrain):
                assert side[stack]["terraform"]["backend"] == {
                    "gcs": {"bucket": "acme-tfstate", "prefix": f"hookstream/{stack}"}}
    cdktf_streams = both["shipped"][0][STREAMS_STACK]["resource"]
    assert "crm-orders_crm-orders-service_72788490" in cdktf_streams["google_cloud_run_v2_service"]
    assert "google_monitoring_alert_policy" in cdktf_streams  # alert_emails: those are compared too


def test_no_resource_relies_on_a_default_the_provider_upgrades_changed(
        both: dict[str, tuple[Stacks, Stacks]]) -> None:
    for cdktf, terrain in both.values():
        for side in (cdktf, terrain):
            for stack in side.values():
                assert upgrade_offenders(stack) == []


def test_upgrade_checks_catch_a_view_without_a_dialect_an_api_without_destroy_choice_and_a_write_only_secret() -> None:
    stack = {"resource": {
        "google_bigquery_table": {"v": {"view": {"query": "SELECT 1"}}, "ok": {"view": {"query": "SELECT 1",
                                                                                     "use_legacy_sql": False}}},
        "google_secret_manager_secret_version": {"s": {"secret": "x", "secret_data_wo": "y"}},
        "google_project_service": {"bare": {"service": "run.googleapis.com"},
                                   "ok": {"service": "run.googleapis.com", "disable_on_destroy": False}},
    }}
    assert upgrade_offenders(stack) == [
        "google_bigquery_table.v (7.0: view.use_legacy_sql no longer defaults to true)",
        "google_project_service.bare (7.0: disable_on_destroy no longer defaults to true)",
        "google_secret_manager_secret_version.s.secret_data_wo (8.0: secret_data_wo_version became a string "
        "and is required with secret_data_wo)",
    ]


def test_an_unlisted_or_changed_difference_is_reported() -> None:
    cdktf = {"s": {"terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
                   "resource": {"google_storage_bucket": {"b": {"location": "EU"}}}}}
    terrain = {"s": {"terraform": {"required_providers": {"google": {"source": "hashicorp/google",
                                                                     "version": "8.8.0"}}},
                     "resource": {"google_storage_bucket": {"b": {"location": "US"}}}}}
    result = compare(cdktf, terrain)
    assert result.unlisted == [
        "s: resource.google_storage_bucket.b.location: cdktf='EU' terrain='US'",
        "s: terraform.required_providers.google.version: cdktf='6.50.0' terrain='8.8.0'",
    ]
    assert result.used == {"terraform.required_providers.google.source"}


def test_terraform_reads_both_as_the_same_providers(both: dict[str, tuple[Stacks, Stacks]],
                                                    tmp_path: Path) -> None:
    """Real terraform, offline: `terraform providers` resolves each configuration's provider addresses."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")  # no registry, no mirror: nothing is downloaded
    seen = {}
    for engine, stacks in zip(("cdktf", "terrain"), both["shipped"], strict=True):
        work = tmp_path / engine
        work.mkdir()
        stack = json.loads(json.dumps(stacks[STREAMS_STACK]))
        del stack["terraform"]["backend"]  # `providers` would want `init` of the gcs backend first
        (work / "cdk.tf.json").write_text(json.dumps(stack))
        result = subprocess.run([terraform, "providers", "-no-color"], cwd=work, capture_output=True, text=True,
                                env={"TF_CLI_CONFIG_FILE": str(cli_config), "PATH": "/usr/bin:/bin"},
                                timeout=120)
        assert result.returncode == 0, result.stderr
        seen[engine] = sorted(line.split("── ", 1)[1] for line in result.stdout.splitlines() if "── " in line)
    assert seen == {
        "cdktf": ["provider[registry.terraform.io/hashicorp/google] 6.50.0",
                  "provider[registry.terraform.io/hashicorp/random] 3.7.2",
                  "provider[registry.terraform.io/hashicorp/time] 0.13.1"],
        "terrain": ["provider[registry.terraform.io/hashicorp/google] 8.7.0",
                    "provider[registry.terraform.io/hashicorp/random] 3.9.1",
                    "provider[registry.terraform.io/hashicorp/time] 0.14.2"],
    }
