"""Everything one stream needs on Google Cloud: table, identity, secret, Cloud Run endpoint, outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct

from infra.attributed_views import AttributedViews
from infra.config import DeployConfig
from infra.engine import providers as gcp
from infra.engine.core import ITerraformDependable, TerraformOutput, TerraformResourceLifecycle
from infra.limits import CLOUD_RUN_DESCRIPTION_CHARS, SERVICE_ACCOUNT_DESCRIPTION_BYTES, fit_bytes, fit_chars
from infra.naming import StreamNames
from infra.propagation import IAM_PROPAGATION, wait_after
from infra.table_spec import table_spec
from infra.views.latest import latest_view_id, latest_view_sql
from service.model.auth_settings import HmacAuth
from service.model.endpoint import endpoint_url
from service.model.ids import table_path
from service.model.service_env import SECRETS, SPOOL_URL, ServiceSpec, to_env
from service.model.stream import Stream

# What the provider's table update sends as "partitions never expire" (docs/deploy.md, "Removing a setting").
NO_PARTITION_EXPIRY_MS = 0
# Cloud Run passes this as $PORT; service/runtime/gunicorn.conf.py binds whatever $PORT says.
CONTAINER_PORT = 8080
# Liveness only (service/runtime/app.py); not /healthz, a path Cloud Run reserves for itself.
HEALTH_PATH = "/health"
SECRET_READER_ROLE = "roles/secretmanager.secretAccessor"
INVOKER_ROLE = "roles/run.invoker"
# Token and HMAC secrets: 64 alphanumerics (~380 bits); no symbols, so a token survives any URL or CRM form.
TOKEN_SECRET_LENGTH = 64
# Standard Webhooks secrets are whsec_ + base64 of 24-64 random bytes.
STANDARD_WEBHOOKS_SECRET_BYTES = 32


@dataclass(frozen=True)
class StreamRoles:
    """The deployment's custom roles a stream's account is granted (built from infra/permissions.py)."""

    table_writer: gcp.ProjectIamCustomRole
    dataset_reader: gcp.ProjectIamCustomRole


@dataclass(frozen=True)
class EndpointSecret:
    """The stream's endpoint secret: its value (for the URL), the stored version and the account's read grant."""

    secret: gcp.SecretManagerSecret
    version: gcp.SecretManagerSecretVersion
    value: str
    reader: gcp.SecretManagerSecretIamMember


class StreamResources(Construct):
    """One stream's resources; child ids start with the stream name so plans read per stream.

    Outputs are attributes (`endpoint_url`, `table_id`, `service_account_email`) and Terraform outputs.
    """

    def __init__(self, scope: Construct, id: str, stream: Stream, config: DeployConfig,
                 dataset: gcp.BigqueryDataset, names: StreamNames, roles: StreamRoles,
                 spool_url: str | None = None) -> None:
        super().__init__(scope, id)
        self.stream, self.config, self.names = stream, config, names
        self.spool_url = spool_url
        self.labels = {"hookstream-stream": stream.name}
        self.service_account = self._service_account()
        self.table = self._table(dataset)
        self.latest_view = self._latest_view(dataset) if stream.latest is not None else None
        self.attributed_views = (
            AttributedViews(self, f"{stream.name}-ga4", stream, config.project, dataset, self.latest_view,
                            self.labels)
            if stream.stitch is not None and self.latest_view is not None else None)
        self.table_writer = self._table_writer(roles.table_writer)
        self.dataset_reader = self._dataset_reader(dataset, roles.dataset_reader)
        self.secret = self._endpoint_secret() if stream.auth.mode != "none" else None
        grants: list[ITerraformDependable] = [self.table_writer, self.dataset_reader]
        if self.secret is not None:
            grants.append(self.secret.reader)
        self.grants_propagated = wait_after(self, f"{stream.name}-grants-propagated", grants, IAM_PROPAGATION)
        self.service = self._cloud_run_service(self.secret, self.grants_propagated)
        self.public_invoker = self._public_invoker(self.service)

        self.endpoint_url = endpoint_url(self.service.uri, stream.auth,
                                         self.secret.value if self.secret is not None else None)
        self.table_id = table_path(config.project, self.table.dataset_id, self.table.table_id)
        self.service_account_email = self.service_account.email
        self._outputs()

    def _service_account(self) -> gcp.ServiceAccount:
        return gcp.ServiceAccount(
            self, f"{self.stream.name}-sa",
            account_id=self.names.service_account_id,
            display_name=f"hookstream {self.stream.name}"[:100],
            description=fit_bytes(f"Runs the hookstream endpoint of stream {self.stream.name}: writes "
                                  f"{self.stream.table_ref}, reads its endpoint secret.",
                                  SERVICE_ACCOUNT_DESCRIPTION_BYTES),
        )

    def _table(self, dataset: gcp.BigqueryDataset) -> gcp.BigqueryTable:
        spec = table_spec(self.stream)
        return gcp.BigqueryTable(
            self, f"{self.stream.name}-table",
            dataset_id=dataset.dataset_id,
            table_id=spec.table_id,
            description=spec.description,
            schema=json.dumps(spec.schema),
            time_partitioning=gcp.BigqueryTableTimePartitioning(
                type=spec.partition_type,
                field=spec.partition_field,
                # Optional+Computed in the provider: left out, Terraform keeps the old expiry and partitions
                # keep being deleted. 0 is sent as no expiry (the table update omits it).
                expiration_ms=NO_PARTITION_EXPIRY_MS if spec.partition_expiration_ms is None
                else spec.partition_expiration_ms,
            ),
            require_partition_filter=spec.require_partition_filter,
            clustering=list(spec.clustering) or None,
            deletion_protection=spec.deletion_protection,
            labels={**spec.labels, **self.labels},
        )

    def _latest_view(self, dataset: gcp.BigqueryDataset) -> gcp.BigqueryTable:
        # The same SQL the local stack creates (infra/views/latest.py), built from the stream definition.
        assert self.stream.latest is not None
        return gcp.BigqueryTable(
            self, f"{self.stream.name}-latest-view",
            dataset_id=dataset.dataset_id,
            table_id=latest_view_id(self.stream),
            description=f"Latest row per {self.stream.latest.key} of {self.stream.table_ref} (hookstream)",
            view=gcp.BigqueryTableView(query=latest_view_sql(self.stream, self.config.project), use_legacy_sql=False),
            deletion_protection=False,  # a view holds no data; dropping it loses nothing
            labels=self.labels,
            depends_on=[self.table],
        )

    def _table_writer(self, role: gcp.ProjectIamCustomRole) -> gcp.BigqueryTableIamMember:
        # Table-level, not dataset- or project-level, and a custom role (what insertAll needs, see
        # infra/permissions.py), not roles/bigquery.dataEditor: the stream can add rows to its own table and
        # can neither read them nor touch any other table.
        return gcp.BigqueryTableIamMember(
            self, f"{self.stream.name}-table-writer",
            project=self.config.project,
            dataset_id=self.table.dataset_id,
            table_id=self.table.table_id,
            role=role.name,
            member=self.service_account.member,
        )

    def _dataset_reader(self, dataset: gcp.BigqueryDataset,
                        role: gcp.ProjectIamCustomRole) -> gcp.BigqueryDatasetAccess:
        # insertAll also checks bigquery.datasets.get on the dataset, which no table-level grant can give.
        # An access entry (not google_bigquery_dataset_iam_member, which would drop the authorized views'
        # entries): dataset metadata only, no table's rows.
        return gcp.BigqueryDatasetAccess(
            self, f"{self.stream.name}-dataset-reader",
            dataset_id=dataset.dataset_id,
            role=role.name,
            user_by_email=self.service_account.email,
        )

    def _endpoint_secret(self) -> EndpointSecret:
        name = self.stream.name
        value: str
        if self.stream.auth.mode == "standard-webhooks":
            random_bytes = gcp.RandomBytes(self, f"{name}-secret-bytes",
                                           length=STANDARD_WEBHOOKS_SECRET_BYTES)
            value = f"whsec_{random_bytes.base64}"
        elif isinstance(self.stream.auth, HmacAuth) and self.stream.auth.key_encoding == "hex":
            # A hex key (Close): the service refuses to start on anything else. Close issues its own
            # signature_key; this placeholder holds until a secret version with that key is added.
            key_bytes = gcp.RandomBytes(self, f"{name}-secret-bytes", length=STANDARD_WEBHOOKS_SECRET_BYTES)
            value = key_bytes.hex
        else:
            password = gcp.RandomPassword(self, f"{name}-secret-value", length=TOKEN_SECRET_LENGTH,
                                          special=False)
            value = password.result
        secret = gcp.SecretManagerSecret(
            self, f"{name}-secret",
            secret_id=self.names.secret_id,
            replication=gcp.SecretManagerSecretReplication(auto=gcp.SecretManagerSecretReplicationAuto()),
            labels=self.labels,
        )
        version = gcp.SecretManagerSecretVersion(
            self, f"{name}-secret-version",
            secret=secret.id,
            secret_data=value,
            # Rotation (docs/deploy.md) adds versions and disables this one outside Terraform;
            # re-enabling it on the next deploy would bring a retired secret back.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["enabled"]),
        )
        reader = gcp.SecretManagerSecretIamMember(
            self, f"{name}-secret-reader",
            secret_id=secret.id,
            role=SECRET_READER_ROLE,
            member=self.service_account.member,
        )
        return EndpointSecret(secret, version, value, reader)

    def _environment(self, secret: EndpointSecret | None) -> list[gcp.CloudRunV2ServiceTemplateContainersEnv]:
        env = [gcp.CloudRunV2ServiceTemplateContainersEnv(name=key, value=value)
               for key, value in to_env(ServiceSpec.of(self.stream, self.config.project)).items()]
        if self.spool_url is not None:
            # Where hits go when BigQuery cannot take them (infra/spool_resources.py).
            env.append(gcp.CloudRunV2ServiceTemplateContainersEnv(name=SPOOL_URL, value=self.spool_url))
        if secret is not None:
            # "latest" so a rotation (a new secret version) reaches new instances without a deploy.
            env.append(gcp.CloudRunV2ServiceTemplateContainersEnv(
                name=SECRETS,
                value_source=gcp.CloudRunV2ServiceTemplateContainersEnvValueSource(
                    secret_key_ref=gcp.CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef(
                        secret=secret.secret.secret_id, version="latest"),
                ),
            ))
        return env

    def _cloud_run_service(self, secret: EndpointSecret | None,
                           grants_propagated: gcp.TimeSleep) -> gcp.CloudRunV2Service:
        run = self.stream.run
        # Cloud Run refuses a revision whose identity cannot read its secrets yet, and the first hits would
        # fail if the table grants were not in effect: create the service once the grants have propagated.
        needs: list[ITerraformDependable] = [grants_propagated]
        if secret is not None:
            needs.append(secret.version)
        return gcp.CloudRunV2Service(
            self, f"{self.stream.name}-service",
            name=self.names.cloud_run_service,
            location=self.config.region,
            description=fit_chars(f"hookstream endpoint of stream {self.stream.name} -> {self.stream.table_ref}",
                                  CLOUD_RUN_DESCRIPTION_CHARS),
            ingress="INGRESS_TRAFFIC_ALL",
            # Where the organisation refuses allUsers (domain-restricted sharing): no invoker check at all,
            # instead of the allUsers binding below. Either way the endpoint secret is the access control.
            invoker_iam_disabled=self.config.invoker_iam_disabled,
            # Stateless and rebuilt from code; protection would only block removing a stream.
            deletion_protection=False,
            labels=self.labels,
            template=gcp.CloudRunV2ServiceTemplate(
                service_account=self.service_account.email,
                max_instance_request_concurrency=run.concurrency,
                timeout=f"{run.request_timeout_seconds}s",
                scaling=gcp.CloudRunV2ServiceTemplateScaling(
                    min_instance_count=run.min_instances if self.config.min_instances is None
                    else self.config.min_instances,  # the environment's override (e.g. 0 in staging)
                    max_instance_count=run.max_instances),
                labels=self.labels,
                containers=[gcp.CloudRunV2ServiceTemplateContainers(
                    image=self.config.image,
                    ports=gcp.CloudRunV2ServiceTemplateContainersPorts(container_port=CONTAINER_PORT),
                    env=self._environment(secret),
                    resources=gcp.CloudRunV2ServiceTemplateContainersResources(
                        limits={"cpu": run.cpu, "memory": run.memory},
                        # Request-based billing: the service writes each row before answering.
                        cpu_idle=True,
                        startup_cpu_boost=True,
                    ),
                    startup_probe=gcp.CloudRunV2ServiceTemplateContainersStartupProbe(
                        http_get=gcp.CloudRunV2ServiceTemplateContainersStartupProbeHttpGet(
                            path=HEALTH_PATH, port=CONTAINER_PORT),
                        period_seconds=2, timeout_seconds=2, failure_threshold=15,
                    ),
                    liveness_probe=gcp.CloudRunV2ServiceTemplateContainersLivenessProbe(
                        http_get=gcp.CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet(
                            path=HEALTH_PATH, port=CONTAINER_PORT),
                        period_seconds=30, timeout_seconds=5, failure_threshold=3,
                    ),
                )],
            ),
            depends_on=needs,
        )

    def _public_invoker(self, service: gcp.CloudRunV2Service) -> gcp.CloudRunV2ServiceIamMember | None:
        # A CRM cannot present Google credentials: the endpoint secret is the access control.
        if self.config.invoker_iam_disabled:
            return None
        return gcp.CloudRunV2ServiceIamMember(
            self, f"{self.stream.name}-public-invoker",
            project=self.config.project,
            location=service.location,
            name=service.name,
            role=INVOKER_ROLE,
            member="allUsers",
        )

    def _outputs(self) -> None:
        outputs = (
            (self.names.endpoint_url_output, self.endpoint_url, True,
             f"URL to give the CRM for stream {self.stream.name}"),
            (self.names.table_id_output, self.table_id, False,
             f"BigQuery table of stream {self.stream.name}"),
            (self.names.service_account_output, self.service_account_email, False,
             f"Identity of stream {self.stream.name}'s Cloud Run service"),
        )
        for name, value, sensitive, description in outputs:
            output = TerraformOutput(self, name, value=value, sensitive=sensitive, description=description)
            # Stable names for `cdktf output` / `terraform output`, without cdktf's path hash.
            output.override_logical_id(name)
