"""Deployment settings: from the environment or cdktf context, never hard-coded; clear errors when missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import (
    IMAGE_ENV,
    PROJECT_ENV,
    REGION_ENV,
    STATE_BUCKET_ENV,
    WRITER_ROLE_ID_ENV,
    ConfigError,
    load_config,
)

REPO = Path(__file__).resolve().parents[2]
IMAGE = "europe-west3-docker.pkg.dev/acme-analytics/hookstream/hookstream:3f2c1ab"
ENV = {PROJECT_ENV: "acme-analytics", REGION_ENV: "europe-west3", IMAGE_ENV: IMAGE}


def test_reads_the_environment() -> None:
    config = load_config(ENV)
    assert (config.project, config.region, config.image, config.state_bucket) == (
        "acme-analytics", "europe-west3", IMAGE, None)
    assert load_config({**ENV, STATE_BUCKET_ENV: "acme-tfstate"}).state_bucket == "acme-tfstate"


def test_writer_role_id_has_a_stable_default_and_can_be_moved() -> None:
    # Every deploy must update the same role; another id is only for a redeploy while the old one is reserved.
    assert load_config(ENV).writer_role_id == "hookstreamRowWriter"
    assert load_config({**ENV, WRITER_ROLE_ID_ENV: "hookstreamRowWriter2"}).writer_role_id == "hookstreamRowWriter2"
    assert load_config(ENV, {"hookstream:writerRoleId": "hooksWriterB"}.get).writer_role_id == "hooksWriterB"


def test_falls_back_to_cdktf_context_and_environment_wins() -> None:
    context = {"hookstream:project": "context-project", "hookstream:region": "us-central1",
               "hookstream:image": "us-docker.pkg.dev/context-project/hookstream/hookstream:v1"}
    from_context = load_config({}, context.get)
    assert (from_context.project, from_context.region) == ("context-project", "us-central1")
    mixed = load_config({PROJECT_ENV: "env-project"}, context.get)
    assert (mixed.project, mixed.region) == ("env-project", "us-central1")


def test_missing_settings_are_all_named() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({REGION_ENV: "europe-west3"})
    message = str(error.value)
    assert PROJECT_ENV in message and IMAGE_ENV in message and "hookstream:project" in message
    assert REGION_ENV not in message


@pytest.mark.parametrize(("name", "value", "hint"), [
    (PROJECT_ENV, "Acme_Prod", "project id"),
    (REGION_ENV, "europe west3", "region"),
    (IMAGE_ENV, "hookstream latest", "image reference"),
    (STATE_BUCKET_ENV, "A", "bucket"),
    (WRITER_ROLE_ID_ENV, "hookstream-row-writer", "custom role id"),
])
def test_malformed_settings_name_the_variable_and_the_rule(name: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({**ENV, name: value})
    assert name in str(error.value) and repr(value) in str(error.value) and hint in str(error.value)


def test_entry_point_fails_fast_with_the_missing_settings() -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in (PROJECT_ENV, REGION_ENV, IMAGE_ENV, "CDKTF_CONTEXT_JSON")}
    # Run the entry point as `python -m infra` would, and report whether the provider bindings were loaded.
    probe = ("import runpy, sys\n"
             "try:\n"
             "    runpy.run_module('infra', run_name='__main__', alter_sys=True)\n"
             "finally:\n"
             "    loaded = any(name.startswith('cdktf_cdktf_provider_google') for name in sys.modules)\n"
             "    print(f'provider bindings loaded: {loaded}', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert f"hookstream infra: cannot synth: missing deployment settings; set {PROJECT_ENV}" in result.stderr
    assert "Traceback" not in result.stderr
    # Settings are checked before the provider bindings load (~15 s): a typo costs seconds, not a coffee.
    assert "provider bindings loaded: False" in result.stderr


def test_ci_refuses_local_state() -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match=r"running in CI \(CI=true\) without a Terraform state bucket: "
                                          r"set HOOKSTREAM_STATE_BUCKET"):
        load_config({**ENV, "CI": "true"})
    with_bucket = load_config({**ENV, "CI": "true", "HOOKSTREAM_STATE_BUCKET": "acme-tfstate"})
    assert with_bucket.state_bucket == "acme-tfstate"
    assert load_config(ENV).state_bucket is None  # on a laptop local state stays allowed


def test_role_ids_over_64_characters_are_refused_at_synth() -> None:
    from infra.config import ConfigError

    # 51 characters + "ReplayObjects" (13) = 64: the longest id Google accepts.
    assert load_config({**ENV, "HOOKSTREAM_WRITER_ROLE_ID": "r" * 51}).role_id("ReplayObjects") == "r" * 51 + (
        "ReplayObjects")
    with pytest.raises(ConfigError, match=r"would have 65 characters, Google allows 64; use at most 51"):
        load_config({**ENV, "HOOKSTREAM_WRITER_ROLE_ID": "r" * 52})
