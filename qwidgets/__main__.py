"""``python -m qwidgets demo [--headless]``."""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qwidgets")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train and query a model on the embedded simulator")
    demo.add_argument("--headless", action="store_true",
                      help="run the demo in this terminal and print what it did")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if not args.headless:
            print("The JupyterLab quickstart is not built yet; running the headless demo.",
                  file=sys.stderr)
        from qwidgets.demo import run_headless

        asyncio.run(run_headless())
    return 0


if __name__ == "__main__":
    sys.exit(main())
