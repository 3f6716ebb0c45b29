"""The Google Cloud and BigQuery id rules, and the one place that joins them into a table path."""

from __future__ import annotations

import re

# Google Cloud project ids: 6-30 lowercase letters, digits and '-', starting with a letter and not
# ending with '-'; older projects may carry a domain prefix ("example.com:my-project").
PROJECT_ID = re.compile(r"^(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DATASET_OR_TABLE_ID = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
MAX_TABLE_ID_LENGTH = 1024


def table_path(project: str, dataset: str, table: str) -> str:
    """`project.dataset.table`, as the BigQuery client and SQL name a table."""
    return f"{project}.{dataset}.{table}"
