"""Command line: ``python -m featcf demo`` (also installed as ``featcf demo``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from featcf.demo import run_demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featcf", description="Feature-based collaborative filtering."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="build a synthetic insurance shop and show what featcf does with it"
    )
    demo.add_argument("--customers", type=int, default=2000, help="number of customers")
    demo.add_argument("--seed", type=int, default=0, help="random seed (results repeat per seed)")
    demo.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        if args.customers < 10:
            parser.error(f"--customers must be at least 10, got {args.customers}")
        return run_demo(n_customers=args.customers, random_state=args.seed, as_json=args.json)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
