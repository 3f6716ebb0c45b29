"""Where the reviewed streams are deployed: one entry per environment (e.g. staging and production).

Empty: a single deployment configured from the shell (HOOKSTREAM_GCP_PROJECT, HOOKSTREAM_REGION,
HOOKSTREAM_STATE_BUCKET), with the stacks `hookstream-registry` and `hookstream`. With entries, each
environment gets its own stacks (`hookstream-staging`, `hookstream-registry-staging`, ...), so its own
Terraform state: a local file per stack, or the bucket prefix `hookstream/<stack>`. Set
HOOKSTREAM_ENV to the one to deploy (`scripts/release --env staging` does); with more than one entry
synth refuses to run without it. Example (docs/deploy.md walks through it):

    ENVIRONMENTS = (
        Environment(name="staging", project="acme-analytics-staging", region="europe-west3",
                    state_bucket="acme-analytics-staging-tfstate", min_instances=0),
        Environment(name="production", project="acme-analytics", region="europe-west3",
                    state_bucket="acme-analytics-tfstate", alert_emails=("data-oncall@acme.example",)),
    )
"""

from infra.config import Environment

ENVIRONMENTS: tuple[Environment, ...] = ()
