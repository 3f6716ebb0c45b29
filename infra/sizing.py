"""Cloud Run sizing rules: what `Stream.run` may say, and whether its memory holds its concurrent hits.

Deploy-only: the service never sizes itself, so these rules live beside the stack that applies them.
"""

from __future__ import annotations

import re

from service.model.stream import RunOptions, Stream, StreamDefinitionError

# Peak memory of an instance per hit in flight, as a multiple of its body, on each path a hit can take
# (`scripts/bench-memory`: a whole gunicorn's peak RSS under `concurrency` concurrent worst-case bodies,
# control characters, quotes and non-ASCII, over its idle RSS; docs/benchmark.md). Measured: BigQuery up
# (insertAll, hedged by the spool past the answer budget) 3.4-3.8x, BigQuery down (every hit written to the
# spool) 1.3-3.6x (the high end with the machine loaded, the hits overlapping most); rounded up.
INSERT_PATH_MEMORY_FACTOR = 4
SPOOL_PATH_MEMORY_FACTOR = 4
# During an outage some hits are on each path, so an instance must hold the larger.
MEMORY_PER_BODY_FACTOR = max(INSERT_PATH_MEMORY_FACTOR, SPOOL_PATH_MEMORY_FACTOR)
# One gunicorn arbiter and worker with the app loaded and idle, rounded up from the bench's RSS figures.
BASE_PROCESS_MEMORY_MIB = 160
CPU_CHOICES = ("1", "2", "4", "6", "8")
MEMORY_SIZE = re.compile(r"^\d+(Mi|Gi)$")


def memory_mib(size: str) -> int:
    """'512Mi' -> 512, '2Gi' -> 2048 (the forms RunOptions.memory accepts)."""
    number, unit = int(size[:-2]), size[-2:]
    return number * 1024 if unit == "Gi" else number


def check_sizing(stream: Stream) -> None:
    """Raise StreamDefinitionError for the first Cloud Run setting of `stream` that cannot be deployed."""
    run = stream.run
    rules: list[tuple[str, object, bool, str]] = [
        ("run.min_instances", run.min_instances, 0 <= run.min_instances <= 100, "use 0-100"),
        ("run.max_instances", run.max_instances, max(1, run.min_instances) <= run.max_instances <= 1000,
         "use at least max(1, min_instances) and at most 1000"),
        ("run.concurrency", run.concurrency, 1 <= run.concurrency <= 1000,
         "Cloud Run allows 1-1000 concurrent requests per instance"),
        ("run.cpu", run.cpu, run.cpu in CPU_CHOICES, f"use one of {', '.join(map(repr, CPU_CHOICES))}"),
        ("run.memory", run.memory, bool(MEMORY_SIZE.match(run.memory)), "use a size such as '512Mi' or '1Gi'"),
        ("run.request_timeout_seconds", run.request_timeout_seconds, 5 <= run.request_timeout_seconds <= 3600,
         "use 5-3600 seconds"),
    ]
    for field_name, value, ok, rule in rules:
        if not ok:
            raise StreamDefinitionError(stream.name, field_name, value, rule)
    _check_memory_fits_concurrent_bodies(stream.name, run, stream.max_body_bytes)


def _check_memory_fits_concurrent_bodies(name: str, run: RunOptions, max_body_bytes: int) -> None:
    # Cloud Run kills an instance that exceeds its memory, failing every request in it: make sure
    # `concurrency` hits at the body limit fit.
    needed_mib = BASE_PROCESS_MEMORY_MIB + -(-run.concurrency * max_body_bytes * MEMORY_PER_BODY_FACTOR // 2**20)
    if memory_mib(run.memory) < needed_mib:
        raise StreamDefinitionError(
            name, "run.memory", run.memory,
            f"{run.concurrency} concurrent hits of up to {max_body_bytes} bytes need about {needed_mib}Mi, "
            "whether BigQuery takes them or they are spooled "
            f"({BASE_PROCESS_MEMORY_MIB}Mi for the process + concurrency x max_body_bytes x "
            f"{MEMORY_PER_BODY_FACTOR}); raise run.memory, or lower run.concurrency or max_body_bytes")
