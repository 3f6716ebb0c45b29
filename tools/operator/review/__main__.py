"""`scripts/review`: what a change to the streams does once deployed, per stream, before anyone deploys it.

Exit status: 0 nothing needs a decision; 1 a change destroys stored data (and is not allowed with
--allow-data-loss STREAM or ALLOW_DATA_LOSS in infra/streams.py) or could not deploy; 2 review could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.operator.review.findings import review
from tools.operator.review.report import render
from tools.operator.review.synth import (
    ReviewError,
    checked_out,
    default_base,
    environ_for_review,
    python_for,
    synthesize_tree,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/review", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="git ref to compare with (default: the merge base with main)")
    parser.add_argument("--env", help="environment of infra/environments.py to synthesize (when there are several)")
    parser.add_argument("--allow-data-loss", action="append", default=[], metavar="STREAM",
                        help="accept that this change destroys stored data of STREAM (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown (for a pull request comment)")
    parser.add_argument("--markdown-to", type=Path, metavar="FILE",
                        help="also append the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    python, environ = python_for(REPO_ROOT), environ_for_review(args.env)
    try:
        base_ref = args.base or default_base(REPO_ROOT)
        print(f"scripts/review: synthesizing the work tree and {base_ref[:12]} (~20 s each)...", file=sys.stderr)
        work = synthesize_tree(REPO_ROOT, python, environ)
        with checked_out(REPO_ROOT, base_ref) as base_tree:
            base = synthesize_tree(base_tree, python, environ)
    except ReviewError as error:
        print(f"scripts/review: {error}", file=sys.stderr)
        return 2
    result = review(base.stack, work.stack, frozenset(args.allow_data_loss) | frozenset(work.allow_data_loss))
    print(render(result, markdown=args.markdown), end="")
    if args.markdown_to is not None:
        with args.markdown_to.open("a") as summary:
            summary.write(render(result, markdown=True))
    return 1 if result.unallowed else 0


if __name__ == "__main__":
    sys.exit(main())
