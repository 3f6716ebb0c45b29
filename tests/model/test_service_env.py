"""The codec between the deploy and the service: every field survives the trip, and a bad env stops start-up."""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from service.model.auth_settings import Auth, HmacAuth, NoAuth, StandardWebhooksAuth, TokenAuth
from service.model.service_env import ServiceSpec, SettingsError, from_env, to_env
from service.model.stream import Stream

SPEC = ServiceSpec(
    stream="shop-events", project="my-project", dataset="shop", table="events", time_zone="America/New_York",
    max_body_bytes=65536, auth=HmacAuth(header="X-Shop-Signature", encoding="base64", prefix="v1=",
                                        signed="{timestamp}.{body}", timestamp_header="X-Shop-Time",
                                        tolerance_seconds=120),
    threads=40, write_deadline_seconds=2.5, read_timeout_seconds=7.0, answer_budget_seconds=1.5,
    keep_headers=("X-Shop-Topic",),
)
# A value for every field that differs from SPEC's: a field the codec dropped or mixed up cannot pass.
OTHER_VALUES: dict[str, Any] = {
    "stream": "billing", "project": "other-project", "dataset": "billing_ds", "table": "invoices",
    "time_zone": "+03:00", "max_body_bytes": 1024, "auth": StandardWebhooksAuth(tolerance_seconds=60),
    "threads": 3, "write_deadline_seconds": 0.5, "read_timeout_seconds": 30.0, "answer_budget_seconds": 4.0,
    "keep_headers": ("X-Event-Type", "X-Account-Id"),
}


def test_other_values_cover_every_field() -> None:
    assert set(OTHER_VALUES) == {f.name for f in dataclasses.fields(ServiceSpec) if f.init}


@pytest.mark.parametrize("name", sorted(OTHER_VALUES))
def test_every_field_round_trips(name: str) -> None:
    for spec in (SPEC, dataclasses.replace(SPEC, **{name: OTHER_VALUES[name]})):
        assert from_env(to_env(spec)) == spec


@pytest.mark.parametrize("auth", [TokenAuth(), NoAuth(), StandardWebhooksAuth(), HmacAuth()])
def test_every_auth_mode_round_trips(auth: Auth) -> None:
    spec = dataclasses.replace(SPEC, auth=auth)
    assert from_env(to_env(spec)).auth == auth


def test_the_deploy_writes_what_the_stream_declares() -> None:
    stream = Stream(name="crm-leads", dataset="crm", table="leads", time_zone="+03:00", max_body_bytes=262144)
    assert to_env(ServiceSpec.of(stream, "acme-prod")) == {
        "HOOKSTREAM_ENV_VERSION": "3",
        "HOOKSTREAM_STREAM": "crm-leads",
        "HOOKSTREAM_PROJECT": "acme-prod",
        "HOOKSTREAM_DATASET": "crm",
        "HOOKSTREAM_TABLE": "leads",
        "HOOKSTREAM_TIME_ZONE": "+03:00",
        "HOOKSTREAM_MAX_BODY_BYTES": "262144",
        "HOOKSTREAM_AUTH": '{"handshake": "none", "mode": "token"}',
        "HOOKSTREAM_THREADS": "80",
        "HOOKSTREAM_WRITE_DEADLINE_SECONDS": "10.0",
        "HOOKSTREAM_READ_TIMEOUT_SECONDS": "10.0",
        "HOOKSTREAM_ANSWER_BUDGET_SECONDS": "2.0",
        "HOOKSTREAM_KEEP_HEADERS": "[]",
    }


def test_the_time_zone_is_parsed_once_into_the_spec() -> None:
    assert from_env(to_env(SPEC)).zone == ZoneInfo("America/New_York")


@pytest.mark.parametrize("variable", sorted(to_env(SPEC)))
def test_a_missing_variable_stops_start_up_with_its_name(variable: str) -> None:
    env = to_env(SPEC)
    del env[variable]
    with pytest.raises(SettingsError, match=variable):
        from_env(env)


def test_an_unknown_variable_stops_start_up_with_its_name() -> None:
    env = {**to_env(SPEC), "HOOKSTREAM_SPOOL_BUCKET": "b", "PATH": "/usr/bin", "K_SERVICE": "x"}
    with pytest.raises(SettingsError, match=r"unknown setting.*HOOKSTREAM_SPOOL_BUCKET") as caught:
        from_env(env)
    assert "PATH" not in str(caught.value) and "K_SERVICE" not in str(caught.value)  # not ours: ignored


def test_runtime_only_variables_are_not_unknown() -> None:
    env = {**to_env(SPEC), "HOOKSTREAM_SECRETS": "a b", "HOOKSTREAM_METRICS_ENDPOINT": "1"}
    assert from_env(env) == SPEC


def test_an_env_of_another_version_is_refused() -> None:
    with pytest.raises(SettingsError, match="HOOKSTREAM_ENV_VERSION is '1'"):
        from_env({**to_env(SPEC), "HOOKSTREAM_ENV_VERSION": "1"})


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("HOOKSTREAM_THREADS", "0", "must be > 0"),
        ("HOOKSTREAM_THREADS", "eight", "whole number"),
        ("HOOKSTREAM_MAX_BODY_BYTES", "5000000", "1-1048576"),
        ("HOOKSTREAM_WRITE_DEADLINE_SECONDS", "-1", "must be > 0"),
        ("HOOKSTREAM_READ_TIMEOUT_SECONDS", "soon", "could not convert"),
        ("HOOKSTREAM_TIME_ZONE", "Europe/Berln", "IANA"),
        ("HOOKSTREAM_PROJECT", "My Project", "not a Google Cloud project id"),
        ("HOOKSTREAM_AUTH", '{"mode": "kerberos"}', "'mode' among token, hmac"),
        ("HOOKSTREAM_AUTH", '{"mode": "hmac", "algorithm": "md5"}', "auth.algorithm='md5'"),
        ("HOOKSTREAM_AUTH", '{"mode": "token", "header": "X"}', "unknown settings ['header']"),
        ("HOOKSTREAM_KEEP_HEADERS", '"X-Shop-Topic"', "a JSON list of header names"),
        # The stream's own signature header, whatever wrote the environment: the service does not start.
        ("HOOKSTREAM_KEEP_HEADERS", '["X-Shop-Signature"]',
         "'X-Shop-Signature' is invalid: never stored: the stream's auth reads it"),
        ("HOOKSTREAM_KEEP_HEADERS", '["Cookie"]', "'Cookie' is invalid: never stored: it carries credentials"),
    ],
)
def test_a_malformed_variable_stops_start_up_with_its_name(variable: str, value: str, hint: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_env({**to_env(SPEC), variable: value})
    assert variable in str(caught.value) and hint in str(caught.value)
