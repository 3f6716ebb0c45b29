"""Waits where Google documents a delay between a change and its effect, so a first apply needs no re-run.

`depends_on` only orders API calls; a grant is stored at once but checked by Google's services only after
it propagates. docs/deploy.md ("First deploy") gives the timeline and the source for each wait.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import Construct

from infra.engine import providers as gcp
from infra.engine.core import ITerraformDependable

# IAM: "usually within 2 minutes", occasionally up to 7 (https://cloud.google.com/iam/docs/access-change-propagation).
# Two minutes covers the usual case; the rare longer one fails the apply, and a re-run then succeeds.
IAM_PROPAGATION = "120s"
# A new log-based metric's descriptor reaches Monitoring after the metric is created; an alert policy naming
# it before then is refused ("Cannot find metric"). Google documents no bound: one minute is our choice.
METRIC_PROPAGATION = "60s"


def wait_after(scope: Construct, id: str, changes: Sequence[ITerraformDependable], duration: str) -> gcp.TimeSleep:
    """A time_sleep created `duration` after every one of `changes`; what needs them depends on it."""
    return gcp.TimeSleep(scope, id, create_duration=duration, depends_on=list(changes))
