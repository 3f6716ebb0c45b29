"""Memory per hit in flight stays within what the stream model assumes when it checks run.memory.

tracemalloc counts the service's Python allocations exactly (the BigQuery stand-in runs in another
process), so this is a measurement, not a timing: it does not depend on how busy the machine is.
"""

from __future__ import annotations

import pytest

from infra.sizing import MEMORY_PER_BODY_FACTOR
from tools.bench.memory import BODIES, measure

pytestmark = pytest.mark.integration


def test_peak_memory_per_hit_is_within_the_model_factor_for_every_kind_of_body() -> None:
    factors = measure(body_bytes=512 * 1024)
    assert set(factors) == set(BODIES)
    # Before the streamed insertAll body, control characters peaked at 13x and emoji at 7x.
    assert all(factor <= MEMORY_PER_BODY_FACTOR for factor in factors.values()), factors
