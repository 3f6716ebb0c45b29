"""Deploy details found by reading the synthesized Terraform against the google provider's source."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.config import ConfigError, load_config
from infra.limits import fit_bytes
from infra.naming import STREAMS_STACK
from service.model.stream import Stream
from tests.infra.helpers import CONFIG, Synth, synthesize

LONG = Stream(name="long-ids", dataset="d" * 600, table="t" * 600)


@pytest.fixture(scope="module")
def invoker_check_off() -> Synth:
    return synthesize((LONG,), replace(CONFIG, invoker_iam_disabled=True))


@pytest.mark.synth
def test_by_default_allusers_may_invoke_and_the_check_stays_on(shipped: Synth) -> None:
    members = shipped.resources(STREAMS_STACK, "google_cloud_run_v2_service_iam_member")
    assert {body["member"] for body in members.values()} == {"allUsers"}
    for service in shipped.resources(STREAMS_STACK, "google_cloud_run_v2_service").values():
        assert service["invoker_iam_disabled"] is False


@pytest.mark.synth
def test_invoker_iam_disabled_replaces_the_allusers_binding(invoker_check_off: Synth) -> None:
    assert "google_cloud_run_v2_service_iam_member" not in invoker_check_off.stacks[STREAMS_STACK]["resource"]
    (service,) = invoker_check_off.resources(STREAMS_STACK, "google_cloud_run_v2_service").values()
    assert service["invoker_iam_disabled"] is True


@pytest.mark.synth
def test_descriptions_fit_the_api_limits_for_long_ids(invoker_check_off: Synth) -> None:
    account = invoker_check_off.resource(STREAMS_STACK, "google_service_account", "long-ids/long-ids-sa")
    assert len(account["description"].encode()) <= 256 and account["description"].endswith("...")
    assert account["description"].startswith("Runs the hookstream endpoint of stream long-ids: writes ddd")
    (service,) = invoker_check_off.resources(STREAMS_STACK, "google_cloud_run_v2_service").values()
    assert len(service["description"]) == 512 and service["description"].endswith("...")


def test_a_cut_never_splits_a_character() -> None:
    cut = fit_bytes("é" * 200, 256)  # 2 bytes each
    assert cut == "é" * 126 + "..." and len(cut.encode()) == 255


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("", False)])
def test_the_shell_setting(value: str, expected: bool) -> None:
    environ = {"HOOKSTREAM_GCP_PROJECT": "acme-analytics", "HOOKSTREAM_REGION": "europe-west3",
               "HOOKSTREAM_IMAGE": CONFIG.image, "HOOKSTREAM_INVOKER_IAM_DISABLED": value}
    assert load_config(environ).invoker_iam_disabled is expected


def test_a_misspelt_shell_setting_is_refused() -> None:
    environ = {"HOOKSTREAM_GCP_PROJECT": "acme-analytics", "HOOKSTREAM_REGION": "europe-west3",
               "HOOKSTREAM_IMAGE": CONFIG.image, "HOOKSTREAM_INVOKER_IAM_DISABLED": "yes"}
    with pytest.raises(ConfigError, match="HOOKSTREAM_INVOKER_IAM_DISABLED='yes' is invalid: use true or false"):
        load_config(environ)


def test_a_stream_cannot_be_active_and_retired() -> None:
    from infra.app import build_app
    from infra.retired import RetiredStream
    from service.model.stream import StreamDefinitionError

    with pytest.raises(StreamDefinitionError, match="cannot be in STREAMS and RETIRED_STREAMS at once"):
        build_app((LONG,), CONFIG, retired=(RetiredStream(name="long-ids", dataset="d", table="t"),))
