"""``python -m qwidgets demo [--headless] [--dir DIR]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qwidgets")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="open the quickstart in JupyterLab on the embedded simulator")
    demo.add_argument("--headless", action="store_true",
                      help="no browser: run the same loop in this terminal and print what it did")
    demo.add_argument("--dir", type=Path, default=Path("qwidgets-demo"),
                      help="folder the demo notebooks are copied to (default: ./qwidgets-demo); "
                           "copies already there are kept")
    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        if args.headless:
            from qwidgets.demo import run_headless

            asyncio.run(run_headless())
            return 0
        from qwidgets.lab_demo import open_quickstart

        return open_quickstart(args.dir, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
