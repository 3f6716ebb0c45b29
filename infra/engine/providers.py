"""The one place that imports Terraform provider bindings (hashicorp/google, hashicorp/random, hashicorp/time).

Both engines' prebuilt bindings have the same module and class names, only the package prefix differs:
`cdktf_cdktf_provider_google` (cdktf, archived; hashicorp/google 6.50.0) or `cdktn_provider_google`
(CDK Terrain; hashicorp/google 8.7.0). The two import lists below mirror each other line for line
(tests/infra/test_engine_seam.py checks it); mypy checks the cdktf one, the Terrain synth tests the other.
Everything else in `infra/` names provider classes through this module.

Importing any google submodule loads the whole jsii assembly into a node process (~15 s, ~1 GB):
import this module once per process, never per stream.
"""

from typing import TYPE_CHECKING

from infra.engine.core import ENGINE

if TYPE_CHECKING or ENGINE.core == "cdktf":
    from cdktf_cdktf_provider_google.artifact_registry_repository import (
        ArtifactRegistryRepository,
        ArtifactRegistryRepositoryCleanupPolicies,
        ArtifactRegistryRepositoryCleanupPoliciesCondition,
        ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
    )
    from cdktf_cdktf_provider_google.bigquery_dataset import BigqueryDataset
    from cdktf_cdktf_provider_google.bigquery_dataset_access import BigqueryDatasetAccessA as BigqueryDatasetAccess
    from cdktf_cdktf_provider_google.bigquery_dataset_access import (
        BigqueryDatasetAccessViewA as BigqueryDatasetAccessView,
    )
    from cdktf_cdktf_provider_google.bigquery_table import (
        BigqueryTable,
        BigqueryTableTimePartitioning,
        BigqueryTableView,
    )
    from cdktf_cdktf_provider_google.bigquery_table_iam_member import BigqueryTableIamMember
    from cdktf_cdktf_provider_google.cloud_run_v2_job import (
        CloudRunV2Job,
        CloudRunV2JobTemplate,
        CloudRunV2JobTemplateTemplate,
        CloudRunV2JobTemplateTemplateContainers,
        CloudRunV2JobTemplateTemplateContainersEnv,
        CloudRunV2JobTemplateTemplateContainersEnvValueSource,
        CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef,
        CloudRunV2JobTemplateTemplateContainersResources,
    )
    from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
    from cdktf_cdktf_provider_google.cloud_run_v2_service import (
        CloudRunV2Service,
        CloudRunV2ServiceTemplate,
        CloudRunV2ServiceTemplateContainers,
        CloudRunV2ServiceTemplateContainersEnv,
        CloudRunV2ServiceTemplateContainersEnvValueSource,
        CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
        CloudRunV2ServiceTemplateContainersLivenessProbe,
        CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet,
        CloudRunV2ServiceTemplateContainersPorts,
        CloudRunV2ServiceTemplateContainersResources,
        CloudRunV2ServiceTemplateContainersStartupProbe,
        CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
        CloudRunV2ServiceTemplateScaling,
    )
    from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
    from cdktf_cdktf_provider_google.cloud_scheduler_job import (
        CloudSchedulerJob,
        CloudSchedulerJobHttpTarget,
        CloudSchedulerJobHttpTargetOauthToken,
        CloudSchedulerJobRetryConfig,
    )
    from cdktf_cdktf_provider_google.logging_metric import (
        LoggingMetric,
        LoggingMetricBucketOptions,
        LoggingMetricBucketOptionsExponentialBuckets,
        LoggingMetricMetricDescriptor,
        LoggingMetricMetricDescriptorLabels,
    )
    from cdktf_cdktf_provider_google.monitoring_alert_policy import (
        MonitoringAlertPolicy,
        MonitoringAlertPolicyConditions,
        MonitoringAlertPolicyConditionsConditionAbsent,
        MonitoringAlertPolicyConditionsConditionAbsentAggregations,
        MonitoringAlertPolicyConditionsConditionThreshold,
        MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        MonitoringAlertPolicyDocumentation,
    )
    from cdktf_cdktf_provider_google.monitoring_dashboard import MonitoringDashboard
    from cdktf_cdktf_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
    from cdktf_cdktf_provider_google.project_iam_custom_role import ProjectIamCustomRole
    from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
    from cdktf_cdktf_provider_google.project_service import ProjectService
    from cdktf_cdktf_provider_google.provider import GoogleProvider
    from cdktf_cdktf_provider_google.secret_manager_secret import (
        SecretManagerSecret,
        SecretManagerSecretReplication,
        SecretManagerSecretReplicationAuto,
    )
    from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
    from cdktf_cdktf_provider_google.secret_manager_secret_version import SecretManagerSecretVersion
    from cdktf_cdktf_provider_google.service_account import ServiceAccount
    from cdktf_cdktf_provider_google.storage_bucket import (
        StorageBucket,
        StorageBucketLifecycleRule,
        StorageBucketLifecycleRuleAction,
        StorageBucketLifecycleRuleCondition,
        StorageBucketSoftDeletePolicy,
    )
    from cdktf_cdktf_provider_google.storage_bucket_iam_member import (
        StorageBucketIamMember,
        StorageBucketIamMemberCondition,
    )
    from cdktf_cdktf_provider_random.bytes import Bytes as RandomBytes
    from cdktf_cdktf_provider_random.password import Password as RandomPassword
    from cdktf_cdktf_provider_random.provider import RandomProvider
    from cdktf_cdktf_provider_time.provider import TimeProvider
    from cdktf_cdktf_provider_time.sleep import Sleep as TimeSleep
else:
    from cdktn_provider_google.artifact_registry_repository import (
        ArtifactRegistryRepository,
        ArtifactRegistryRepositoryCleanupPolicies,
        ArtifactRegistryRepositoryCleanupPoliciesCondition,
        ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
    )
    from cdktn_provider_google.bigquery_dataset import BigqueryDataset
    from cdktn_provider_google.bigquery_dataset_access import BigqueryDatasetAccessA as BigqueryDatasetAccess
    from cdktn_provider_google.bigquery_dataset_access import (
        BigqueryDatasetAccessViewA as BigqueryDatasetAccessView,
    )
    from cdktn_provider_google.bigquery_table import (
        BigqueryTable,
        BigqueryTableTimePartitioning,
        BigqueryTableView,
    )
    from cdktn_provider_google.bigquery_table_iam_member import BigqueryTableIamMember
    from cdktn_provider_google.cloud_run_v2_job import (
        CloudRunV2Job,
        CloudRunV2JobTemplate,
        CloudRunV2JobTemplateTemplate,
        CloudRunV2JobTemplateTemplateContainers,
        CloudRunV2JobTemplateTemplateContainersEnv,
        CloudRunV2JobTemplateTemplateContainersEnvValueSource,
        CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef,
        CloudRunV2JobTemplateTemplateContainersResources,
    )
    from cdktn_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
    from cdktn_provider_google.cloud_run_v2_service import (
        CloudRunV2Service,
        CloudRunV2ServiceTemplate,
        CloudRunV2ServiceTemplateContainers,
        CloudRunV2ServiceTemplateContainersEnv,
        CloudRunV2ServiceTemplateContainersEnvValueSource,
        CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef,
        CloudRunV2ServiceTemplateContainersLivenessProbe,
        CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet,
        CloudRunV2ServiceTemplateContainersPorts,
        CloudRunV2ServiceTemplateContainersResources,
        CloudRunV2ServiceTemplateContainersStartupProbe,
        CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
        CloudRunV2ServiceTemplateScaling,
    )
    from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
    from cdktn_provider_google.cloud_scheduler_job import (
        CloudSchedulerJob,
        CloudSchedulerJobHttpTarget,
        CloudSchedulerJobHttpTargetOauthToken,
        CloudSchedulerJobRetryConfig,
    )
    from cdktn_provider_google.logging_metric import (
        LoggingMetric,
        LoggingMetricBucketOptions,
        LoggingMetricBucketOptionsExponentialBuckets,
        LoggingMetricMetricDescriptor,
        LoggingMetricMetricDescriptorLabels,
    )
    from cdktn_provider_google.monitoring_alert_policy import (
        MonitoringAlertPolicy,
        MonitoringAlertPolicyConditions,
        MonitoringAlertPolicyConditionsConditionAbsent,
        MonitoringAlertPolicyConditionsConditionAbsentAggregations,
        MonitoringAlertPolicyConditionsConditionThreshold,
        MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        MonitoringAlertPolicyDocumentation,
    )
    from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard
    from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
    from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
    from cdktn_provider_google.project_iam_member import ProjectIamMember
    from cdktn_provider_google.project_service import ProjectService
    from cdktn_provider_google.provider import GoogleProvider
    from cdktn_provider_google.secret_manager_secret import (
        SecretManagerSecret,
        SecretManagerSecretReplication,
        SecretManagerSecretReplicationAuto,
    )
    from cdktn_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
    from cdktn_provider_google.secret_manager_secret_version import SecretManagerSecretVersion
    from cdktn_provider_google.service_account import ServiceAccount
    from cdktn_provider_google.storage_bucket import (
        StorageBucket,
        StorageBucketLifecycleRule,
        StorageBucketLifecycleRuleAction,
        StorageBucketLifecycleRuleCondition,
        StorageBucketSoftDeletePolicy,
    )
    from cdktn_provider_google.storage_bucket_iam_member import (
        StorageBucketIamMember,
        StorageBucketIamMemberCondition,
    )
    from cdktn_provider_random.bytes import Bytes as RandomBytes
    from cdktn_provider_random.password import Password as RandomPassword
    from cdktn_provider_random.provider import RandomProvider
    from cdktn_provider_time.provider import TimeProvider
    from cdktn_provider_time.sleep import Sleep as TimeSleep

__all__ = [
    "ArtifactRegistryRepository",
    "ArtifactRegistryRepositoryCleanupPolicies",
    "ArtifactRegistryRepositoryCleanupPoliciesCondition",
    "ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions",
    "BigqueryDataset",
    "BigqueryDatasetAccess",
    "BigqueryDatasetAccessView",
    "BigqueryTable",
    "BigqueryTableIamMember",
    "BigqueryTableTimePartitioning",
    "BigqueryTableView",
    "CloudRunV2Job",
    "CloudRunV2JobIamMember",
    "CloudRunV2JobTemplate",
    "CloudRunV2JobTemplateTemplate",
    "CloudRunV2JobTemplateTemplateContainers",
    "CloudRunV2JobTemplateTemplateContainersEnv",
    "CloudRunV2JobTemplateTemplateContainersEnvValueSource",
    "CloudRunV2JobTemplateTemplateContainersEnvValueSourceSecretKeyRef",
    "CloudRunV2JobTemplateTemplateContainersResources",
    "CloudRunV2Service",
    "CloudRunV2ServiceIamMember",
    "CloudRunV2ServiceTemplate",
    "CloudRunV2ServiceTemplateContainers",
    "CloudRunV2ServiceTemplateContainersEnv",
    "CloudRunV2ServiceTemplateContainersEnvValueSource",
    "CloudRunV2ServiceTemplateContainersEnvValueSourceSecretKeyRef",
    "CloudRunV2ServiceTemplateContainersLivenessProbe",
    "CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet",
    "CloudRunV2ServiceTemplateContainersPorts",
    "CloudRunV2ServiceTemplateContainersResources",
    "CloudRunV2ServiceTemplateContainersStartupProbe",
    "CloudRunV2ServiceTemplateContainersStartupProbeHttpGet",
    "CloudRunV2ServiceTemplateScaling",
    "CloudSchedulerJob",
    "CloudSchedulerJobHttpTarget",
    "CloudSchedulerJobHttpTargetOauthToken",
    "CloudSchedulerJobRetryConfig",
    "GoogleProvider",
    "LoggingMetric",
    "LoggingMetricBucketOptions",
    "LoggingMetricBucketOptionsExponentialBuckets",
    "LoggingMetricMetricDescriptor",
    "LoggingMetricMetricDescriptorLabels",
    "MonitoringAlertPolicy",
    "MonitoringAlertPolicyConditions",
    "MonitoringAlertPolicyConditionsConditionAbsent",
    "MonitoringAlertPolicyConditionsConditionAbsentAggregations",
    "MonitoringAlertPolicyConditionsConditionThreshold",
    "MonitoringAlertPolicyConditionsConditionThresholdAggregations",
    "MonitoringAlertPolicyDocumentation",
    "MonitoringDashboard",
    "MonitoringNotificationChannel",
    "ProjectIamCustomRole",
    "ProjectIamMember",
    "ProjectService",
    "RandomBytes",
    "RandomPassword",
    "RandomProvider",
    "SecretManagerSecret",
    "SecretManagerSecretIamMember",
    "SecretManagerSecretReplication",
    "SecretManagerSecretReplicationAuto",
    "SecretManagerSecretVersion",
    "ServiceAccount",
    "StorageBucket",
    "StorageBucketIamMember",
    "StorageBucketIamMemberCondition",
    "StorageBucketLifecycleRule",
    "StorageBucketLifecycleRuleAction",
    "StorageBucketLifecycleRuleCondition",
    "StorageBucketSoftDeletePolicy",
    "TimeProvider",
    "TimeSleep",
]
