"""scripts/synth-bench: synth wall time and peak memory, shipped streams vs generated ones, in one run.

Both engines by default (cdktf from .venv, CDK Terrain from .venv-terrain; --engine picks one). Each
measurement is a fresh process (python + its jsii node child), so the import of the provider bindings is
counted every time, as it is for `cdktf synth`. Memory is the peak of the summed RSS of the whole process
tree, sampled from /proc; figures drift between machines and runs, so only compare the figures of one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from infra.config import DeployConfig
from infra.engine.setting import ENGINE_ENV, ENGINES, Engine
from service.model.auth_settings import Auth, HmacAuth, StandardWebhooksAuth, TokenAuth
from service.model.stream import Stream, TableOptions

BENCH_CONFIG = DeployConfig(project="hookstream-bench", region="europe-west3",
                            image="europe-west3-docker.pkg.dev/hookstream-bench/hookstream/hookstream:bench")
SAMPLE_SECONDS = 0.05
GOAL_RATIO = 1.3
REPO = Path(__file__).resolve().parents[2]


def generated_streams(count: int) -> tuple[Stream, ...]:
    """`count` streams cycling through the auth modes that create resources, over a few shared datasets."""
    modes: tuple[Auth, ...] = (TokenAuth(), HmacAuth(), StandardWebhooksAuth())
    return tuple(
        Stream(name=f"bench-{i:03d}", dataset=f"bench_{i % 5}", table=f"events_{i:03d}", auth=modes[i % 3],
               table_options=TableOptions(location="EU", clustering=("hit_id",) if i % 2 else ()))
        for i in range(count)
    )


def synth_once(scenario: str, outdir: str) -> None:
    """The child: build and write the app for one scenario ('shipped' or 'generated:N')."""
    from infra.app import build_app

    if scenario == "shipped":
        from infra.streams import STREAMS

        streams = STREAMS
    else:
        streams = generated_streams(int(scenario.split(":", 1)[1]))
    build_app(streams, BENCH_CONFIG, outdir=outdir).synth()


def _tree_rss_kib(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is the parent pid
        rss[pid] = int(fields[21]) * (resource.getpagesize() // 1024)  # fields[21] is RSS in pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


@dataclass(frozen=True)
class Measurement:
    engine: str
    scenario: str
    streams: int
    seconds: float
    peak_tree_mib: float


def measure(engine: Engine, scenario: str, streams: int) -> Measurement:
    python = REPO / engine.venv / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as outdir:
        env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", ENGINE_ENV: engine.name}
        started = time.perf_counter()
        child = subprocess.Popen([str(python), "-m", "tools.bench.synth", "--child", scenario, "--outdir", outdir],
                                 env=env, cwd=REPO)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss_kib(child.pid))
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"synth-bench: the {engine.name} {scenario} synth failed (exit {child.returncode})")
        if not any(Path(outdir, "stacks").glob("*/cdk.tf.json")):
            raise SystemExit(f"synth-bench: the {engine.name} {scenario} synth wrote no stack")
    return Measurement(engine.name, scenario, streams, seconds, peak / 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/synth-bench", description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=50, help="how many generated streams (default 50)")
    parser.add_argument("--engine", choices=("both", *ENGINES), default="both",
                        help="which engine to measure (default both, each from its own venv)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--outdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        synth_once(args.child, args.outdir)
        return 0

    from infra.streams import STREAMS

    engines = list(ENGINES.values()) if args.engine == "both" else [ENGINES[args.engine]]
    print(f"{'engine':<9}{'scenario':<16}{'streams':>8}{'wall s':>9}{'peak MiB':>10}")
    for engine in engines:
        runs = [measure(engine, "generated:1", 1), measure(engine, "shipped", len(STREAMS)),
                measure(engine, f"generated:{args.streams}", args.streams)]
        for run in runs:
            print(f"{run.engine:<9}{run.scenario:<16}{run.streams:>8}{run.seconds:>9.1f}{run.peak_tree_mib:>10.0f}")
        one, many = runs[0], runs[-1]
        time_ratio, memory_ratio = many.seconds / one.seconds, many.peak_tree_mib / one.peak_tree_mib
        verdict = "within" if time_ratio <= GOAL_RATIO else "OVER"
        print(f"{engine.name}: {many.streams} streams vs 1: time x{time_ratio:.2f} ({verdict} the x{GOAL_RATIO} goal), "
              f"peak memory x{memory_ratio:.2f}; vs shipped ({len(STREAMS)}): time "
              f"x{many.seconds / runs[1].seconds:.2f}, peak memory x{many.peak_tree_mib / runs[1].peak_tree_mib:.2f}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
