"""What a million hits cost on Google Cloud, from the CPU per hit `scripts/bench` measured.

List prices read on 2026-11-29 (docs/benchmark.md says where). Cloud Run in request-based billing (the stack
deploys `cpu_idle=True`) bills an instance's vCPU and memory while it serves at least one request, rounded up
to 100 ms, plus a fee per request. europe-west3 (infra/environments.py) is a Tier 2 region. Free tiers are
left out: they are per billing account, shared with everything else on it.
"""

from __future__ import annotations

from typing import Any

from infra.sizing import memory_mib
from service.model.stream import RunOptions

PRICES_READ_ON = "2026-11-29"
CLOUD_RUN_TIER2_VCPU_SECOND = 0.0000336
CLOUD_RUN_TIER2_GIB_SECOND = 0.0000035
CLOUD_RUN_PER_MILLION_REQUESTS = 0.40
CLOUD_RUN_BILLING_GRANULARITY_SECONDS = 0.1
# insertAll: $0.01 per 200 MB, each row counted as at least 1 KB.
INSERT_ALL_PER_GIB = 0.05
INSERT_ALL_MIN_ROW_BYTES = 1024
# Storage Write API: $0.025 per GiB, the first 2 TiB per month free (per billing account).
WRITE_API_PER_GIB = 0.025
WRITE_API_FREE_GIB_PER_MONTH = 2048
HITS = 1_000_000
GIB = 2**30


def bigquery_row_bytes(payload_bytes: int, delivery_id_bytes: int = 0) -> int:
    """A hit row's size as BigQuery counts it: STRING = 2 + UTF-8 bytes, INT64 and DATE = 8 bytes each
    (hit_id is a 36-character uuid; a NULL delivery_id counts 0)."""
    return (2 + 36) + (2 + payload_bytes) + 8 + 8 + (2 + delivery_id_bytes if delivery_id_bytes else 0)


def per_million_hits(cpu_ms_per_hit: float, payload_bytes: int, run: RunOptions | None = None) -> dict[str, Any]:
    """USD for 1,000,000 hits: Cloud Run when the instance is kept busy (billed time = CPU time, as measured
    at saturation) and when every hit arrives alone (billed time = 100 ms per hit, Cloud Run's rounding),
    and BigQuery ingestion by insertAll and by the Storage Write API."""
    run = run or RunOptions()
    vcpus = float(run.cpu)
    memory_gib = memory_mib(run.memory) / 1024
    requests = HITS / 1e6 * CLOUD_RUN_PER_MILLION_REQUESTS

    def cloud_run(billed_seconds: float) -> float:
        return billed_seconds * (vcpus * CLOUD_RUN_TIER2_VCPU_SECOND + memory_gib * CLOUD_RUN_TIER2_GIB_SECOND)

    # A busy instance runs one worker on its vCPU(s): billed seconds = CPU seconds / vCPUs.
    busy = cloud_run(HITS * cpu_ms_per_hit / 1000 / vcpus)
    alone = cloud_run(HITS * CLOUD_RUN_BILLING_GRANULARITY_SECONDS)
    row_bytes = bigquery_row_bytes(payload_bytes)
    insert_all = HITS * max(row_bytes, INSERT_ALL_MIN_ROW_BYTES) / GIB * INSERT_ALL_PER_GIB
    write_api = HITS * row_bytes / GIB * WRITE_API_PER_GIB
    return {
        "prices_read_on": PRICES_READ_ON,
        "settings": f"{run.cpu} vCPU, {run.memory}, concurrency {run.concurrency}, Tier 2 (europe-west3)",
        "cloud_run_busy_usd": round(busy + requests, 4),
        "cloud_run_each_hit_alone_usd": round(alone + requests, 4),
        "of_which_request_fees_usd": round(requests, 4),
        "bigquery_row_bytes": row_bytes,
        "bigquery_insert_all_usd": round(insert_all, 4),
        "bigquery_write_api_usd_beyond_free_tier": round(write_api, 4),
    }
