"""Memory per hit in flight stays within what the stream model assumes when it checks run.memory, and a
burst of the shipped concurrency's worst-case hits during a BigQuery outage stays within the instance's limit.

tracemalloc counts the service's Python allocations exactly (the BigQuery stand-in runs in another
process), so this is a measurement, not a timing: it does not depend on how busy the machine is.
"""

from __future__ import annotations

import pytest

from infra.sizing import MEMORY_PER_BODY_FACTOR, SPOOL_PATH_MEMORY_FACTOR
from infra.streams import STREAMS
from tools.bench.memory import BODIES, measure
from tools.bench.memory_burst import measure_burst

pytestmark = pytest.mark.integration


def test_peak_memory_per_hit_is_within_the_model_factor_for_every_kind_of_body() -> None:
    factors = measure(body_bytes=512 * 1024)
    assert set(factors) == set(BODIES)
    # Before the streamed insertAll body, control characters peaked at 13x and emoji at 7x.
    assert all(factor <= MEMORY_PER_BODY_FACTOR for factor in factors.values()), factors


def test_a_burst_of_worst_case_hits_during_a_bigquery_outage_is_all_spooled_within_the_memory_limit() -> None:
    stream = next(s for s in STREAMS if s.name == "crm-orders")
    # The shipped settings this must hold for: 80 concurrent hits of up to 1 MiB in 512 MiB.
    assert (stream.run.concurrency, stream.max_body_bytes, stream.run.memory) == (80, 1024 * 1024, "512Mi")
    burst = measure_burst(stream, bigquery_up=False)
    assert burst.answers == {"spooled": 80}, burst
    # Before the spool document kept the body unescaped and the allocator returned freed bodies: 1.3 GiB.
    assert burst.peak_mib < 512, burst
    assert burst.per_body_factor <= SPOOL_PATH_MEMORY_FACTOR, burst
