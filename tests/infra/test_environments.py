"""Environments: the same reviewed streams in staging and production, each with its own state and settings."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, DeployConfig, Environment, load_config
from tests.infra.helpers import VARIED_STREAMS, Synth, synthesize

SHARED_BUCKET = "acme-shared-tfstate"  # one bucket for both: the case that used to share one state
STAGING = Environment(name="staging", project="acme-analytics-staging", region="europe-west3",
                      state_bucket=SHARED_BUCKET, min_instances=0)
PRODUCTION = Environment(name="production", project="acme-analytics-prod", region="europe-west1",
                         state_bucket=SHARED_BUCKET, alert_emails=("data-oncall@acme.example",))
IMAGE = "europe-west3-docker.pkg.dev/acme-analytics-staging/hookstream/hookstream:0123456789abcdef"
STREAM = VARIED_STREAMS[0]  # shop-events: min_instances=1 in its RunOptions


@pytest.fixture(scope="module")
def both() -> dict[str, Synth]:
    return {environment.name: synthesize((STREAM,), environment.config(IMAGE))
            for environment in (STAGING, PRODUCTION)}


@pytest.mark.synth
def test_each_environment_has_its_own_stacks_and_state(both: dict[str, Synth]) -> None:
    assert set(both["staging"].stacks) == {"hookstream-registry-staging", "hookstream-staging"}
    assert set(both["production"].stacks) == {"hookstream-registry-production", "hookstream-production"}
    prefixes = {name: stack["terraform"]["backend"]["gcs"]["prefix"]
                for synth in both.values() for name, stack in synth.stacks.items()}
    assert prefixes == {
        "hookstream-registry-staging": "hookstream/hookstream-registry-staging",
        "hookstream-staging": "hookstream/hookstream-staging",
        "hookstream-registry-production": "hookstream/hookstream-registry-production",
        "hookstream-production": "hookstream/hookstream-production",
    }
    buckets = {stack["terraform"]["backend"]["gcs"]["bucket"]
               for synth in both.values() for stack in synth.stacks.values()}
    assert buckets == {SHARED_BUCKET}


@pytest.mark.synth
def test_each_environment_deploys_to_its_own_project_and_region(both: dict[str, Synth]) -> None:
    providers = {env: synth.stacks[f"hookstream-{env}"]["provider"]["google"] for env, synth in both.items()}
    assert providers == {
        "staging": [{"project": "acme-analytics-staging", "region": "europe-west3"}],
        "production": [{"project": "acme-analytics-prod", "region": "europe-west1"}],
    }
    services = {env: synth.resource(f"hookstream-{env}", "google_cloud_run_v2_service",
                                    "shop-events/shop-events-service") for env, synth in both.items()}
    assert services["staging"]["location"] == "europe-west3"
    assert services["production"]["location"] == "europe-west1"


@pytest.mark.synth
def test_min_instances_follow_the_environment(both: dict[str, Synth]) -> None:
    def min_instances(env: str) -> int:
        service = both[env].resource(f"hookstream-{env}", "google_cloud_run_v2_service",
                                     "shop-events/shop-events-service")
        return int(service["template"]["scaling"]["min_instance_count"])

    assert min_instances("staging") == 0  # the environment's override
    assert min_instances("production") == 1  # the stream's own RunOptions


@pytest.mark.synth
def test_alerts_go_to_the_environments_recipients(both: dict[str, Synth]) -> None:
    assert "google_monitoring_alert_policy" not in both["staging"].stacks["hookstream-staging"].get("resource", {})
    production = both["production"]
    channels = production.resources("hookstream-production", "google_monitoring_notification_channel")
    assert [(c["type"], c["labels"]) for c in channels.values()] == [
        ("email", {"email_address": "data-oncall@acme.example"})]
    policy = production.resource("hookstream-production", "google_monitoring_alert_policy", "alert-5xx-shop-events")
    assert policy["notification_channels"] == [
        production.ref("hookstream-production", "google_monitoring_notification_channel", "alert-email-0", "name")]
    condition = policy["conditions"][0]["condition_threshold"]
    assert 'resource.labels.service_name = "hookstream-shop-events"' in condition["filter"]
    assert 'metric.labels.response_code_class = "5xx"' in condition["filter"]


# --- choosing the environment (no synth needed) ----------------------------------------------------

ENVIRONMENTS = (STAGING, PRODUCTION)


def test_synth_refuses_to_guess_between_environments() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"HOOKSTREAM_IMAGE": IMAGE}, None, ENVIRONMENTS)
    assert "2 environments are configured (staging, production): name the one to synthesize with " \
           "HOOKSTREAM_ENV" in str(error.value)


def test_the_named_environment_is_used() -> None:
    config = load_config({"HOOKSTREAM_ENV": "production", "HOOKSTREAM_IMAGE": IMAGE}, None, ENVIRONMENTS)
    assert config == DeployConfig(project="acme-analytics-prod", region="europe-west1", image=IMAGE,
                                  state_bucket=SHARED_BUCKET, environment="production",
                                  alert_emails=("data-oncall@acme.example",))
    assert config.stack_name("hookstream") == "hookstream-production"
    context = {"hookstream:env": "staging", "hookstream:image": IMAGE}
    assert load_config({}, context.get, ENVIRONMENTS).project == "acme-analytics-staging"


def test_a_single_environment_needs_no_name() -> None:
    assert load_config({"HOOKSTREAM_IMAGE": IMAGE}, None, (STAGING,)).environment == "staging"


def test_an_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as error:
        load_config({"HOOKSTREAM_ENV": "prod", "HOOKSTREAM_IMAGE": IMAGE}, None, ENVIRONMENTS)
    assert "HOOKSTREAM_ENV='prod' is not an environment in infra/environments.py; use one of: staging, " \
           "production" in str(error.value)


def test_a_project_exported_for_another_environment_is_refused() -> None:
    environ = {"HOOKSTREAM_ENV": "production", "HOOKSTREAM_IMAGE": IMAGE,
               "HOOKSTREAM_GCP_PROJECT": "acme-analytics-staging"}
    with pytest.raises(ConfigError) as error:
        load_config(environ, None, ENVIRONMENTS)
    assert "HOOKSTREAM_GCP_PROJECT='acme-analytics-staging' in the shell contradict environment 'production'" \
           in str(error.value)


def test_environment_settings_are_validated() -> None:
    with pytest.raises(ConfigError) as error:
        Environment(name="Prod", project="acme-analytics-prod", region="europe-west1", min_instances=-1,
                    alert_emails=("oncall",)).config(IMAGE)
    message = str(error.value)
    assert "environment name 'Prod' is invalid" in message
    assert "min_instances=-1 is invalid" in message
    assert "alert_emails ['oncall'] are not email addresses" in message


def test_without_environments_the_shell_settings_keep_todays_stack_names() -> None:
    config = load_config({"HOOKSTREAM_GCP_PROJECT": "acme-analytics", "HOOKSTREAM_REGION": "europe-west3",
                          "HOOKSTREAM_IMAGE": IMAGE}, None, ())
    assert config.environment is None
    assert config.stack_name("hookstream") == "hookstream"


def test_two_environments_in_one_project_are_refused_before_anything_collides() -> None:
    same_project = (STAGING, Environment(name="production", project="acme-analytics-staging", region="europe-west1",
                                         state_bucket=SHARED_BUCKET))
    with pytest.raises(ConfigError) as error:
        load_config({"HOOKSTREAM_ENV": "production", "HOOKSTREAM_IMAGE": IMAGE}, None, same_project)
    assert ("environments 'staging', 'production' in infra/environments.py share project 'acme-analytics-staging'"
            in str(error.value))
    assert "give each environment its own project" in str(error.value)
