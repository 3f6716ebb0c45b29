"""Where a gunicorn worker spends its CPU: py-spy (a dev dependency) samples the thread holding the GIL.

`scripts/bench --profile DIR` records the stand-in run's worker into DIR/standin.raw (py-spy's "raw" format:
one line per distinct stack with its sample count); then

    .venv/bin/python -m tools.bench.profile DIR/standin.raw      # share of samples per function

prints the share of samples that include each function (inclusive) and that end in it (self).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def start_recording(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on `pid` for `seconds`, GIL holders only, 100 samples a second, without pausing the process."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--gil",
            "--nonblocking", "--format", "raw", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"].split("site-packages/")[-1]
    for root in ("/service/", "/tools/"):
        if root in path:
            path = root.strip("/") + "/" + path.split(root, 1)[1]
    return f"{match['function']} ({path})"


def summarize(raw: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, inclusive counts per function, self counts per function)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_short(frame) for frame in stack.split(";")]
        for function in set(frames):
            inclusive[function] += count
        own[frames[-1]] += count
    return samples, inclusive, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="a py-spy --format raw file")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args(argv)
    samples, inclusive, own = summarize(args.raw)
    print(f"{samples} samples (GIL holder)")
    print("-- inclusive")
    for function, count in inclusive.most_common(args.top):
        print(f"{100 * count / max(samples, 1):6.1f}%  {function}")
    print("-- self")
    for function, count in own.most_common(args.top // 2):
        print(f"{100 * count / max(samples, 1):6.1f}%  {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
