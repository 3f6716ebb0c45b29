"""The deployment's custom IAM roles: one project-level definition each, granted elsewhere per resource."""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from infra.config import DeployConfig
from infra.engine import providers as gcp


def custom_role(scope: Construct, construct_id: str, config: DeployConfig, suffix: str, title: str,
                description: str, permissions: Sequence[str]) -> gcp.ProjectIamCustomRole:
    """A GA custom role `<writer_role_id><suffix>` (suffix from config.ROLE_ID_SUFFIXES) holding `permissions`.

    A definition grants nobody anything; creating it needs roles/iam.roleAdmin for the deployer.
    """
    return gcp.ProjectIamCustomRole(
        scope, construct_id,
        project=config.project,
        role_id=config.role_id(suffix),
        title=title,
        description=description,
        permissions=list(permissions),
        stage="GA",
    )
