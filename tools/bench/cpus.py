"""Which CPU the app under test runs on, and which ones the load generator and the BigQuery side use.

A Cloud Run instance of the stack has 1 vCPU. On a 2-core machine an unpinned gunicorn worker's 80
threads spread over both cores, beside wrk and the stand-in: each hand-off of the GIL between threads on
different cores cost a cross-core wake-up, the figures moved with whatever else the host ran (33 context
switches per hit in the bare app, CPU per hit 0.33-0.87 ms between runs), and the service was measured
on a machine it never runs on. So, where there are at least two CPUs, each app under test gets one CPU
of its own (as on Cloud Run) and everything else (wrk, the stand-in or the emulator, this script) the
others: pinned, the bare app made 1 context switch per hit and its CPU per hit moved by 3% between runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuPlan:
    service: frozenset[int] | None  # None: not pinned
    tools: frozenset[int] | None

    def describe(self) -> dict[str, list[int] | None]:
        return {"service_cpus": sorted(self.service) if self.service else None,
                "tool_cpus": sorted(self.tools) if self.tools else None}


def plan(pin: bool) -> CpuPlan:
    """The highest-numbered available CPU for the app under test, the rest for the tools."""
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return CpuPlan(None, None)
    return CpuPlan(frozenset(available[-1:]), frozenset(available[:-1]))


def pin_tools(cpus: CpuPlan) -> None:
    """This process, and every process it starts from now on (wrk, the stand-in, the emulator)."""
    if cpus.tools is not None:
        os.sched_setaffinity(0, cpus.tools)


def pin_service(cpus: CpuPlan, pid: int) -> None:
    """A gunicorn master just spawned: its worker, forked later, inherits the CPU."""
    if cpus.service is not None:
        os.sched_setaffinity(pid, cpus.service)
