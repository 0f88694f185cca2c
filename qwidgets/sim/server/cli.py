"""Command line: ``python -m qwidgets.sim serve --host 127.0.0.1 --port 8765 --token T
--data-dir DIR`` runs a standalone simulator (e.g. one server for a classroom).

The token comes from ``--token`` (repeatable: one namespace each), else ``QCOG_API_TOKEN``,
else it is generated and printed once, so whoever started the server can hand it out.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DIR = Path.home() / ".cache" / "qwidgets" / "serve"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m qwidgets.sim",
                                  description="The qwidgets qcog-compatible simulator.")
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the qcog API over HTTP")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only; "
                       "0.0.0.0 exposes it to the network)")
    serve.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    serve.add_argument("--token", action="append", default=None,
                       help="accepted bearer token; repeat for several namespaces "
                       "(default: $QCOG_API_TOKEN, else a random one printed once)")
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DIR,
                       help=f"where the SQLite store lives (default {DEFAULT_DIR})")
    serve.add_argument("--max-body-mb", type=int, default=256,
                       help="largest request body in MiB (default 256)")
    serve.add_argument("--workers", type=int, default=None,
                       help="trainings run at once (default: half the CPUs)")
    serve.add_argument("--run-job-code", action="store_true",
                       help="let hybrid jobs run the sources their callers upload (each in a "
                       "sandboxed process, as this server's user: whoever holds a token can "
                       "run code); without it only the built-in source runs")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from aiohttp import web

    from qwidgets.sim.braket import job_routes
    from qwidgets.sim.server.app import make_app
    from qwidgets.sim.server.dirlock import DataDirInUseError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tokens: list[str] = args.token or []
    env = os.environ.get("QCOG_API_TOKEN", "").strip()
    generated = not tokens and not env
    if not tokens:
        tokens = [env] if env else [secrets.token_urlsafe(24)]
    try:
        app = make_app(args.data_dir, set(tokens), max_body_bytes=args.max_body_mb << 20,
                       training_workers=args.workers, run_job_code=args.run_job_code)
    except (DataDirInUseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # job code calls back on loopback, whichever address the server binds
    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(args.host, shown)
    app[job_routes.RUNNER].endpoint = f"http://{local}:{args.port}"
    print(f"qwidgets simulator: http://{shown}:{args.port}/api/v1/ (data in {args.data_dir})",
          flush=True)
    if generated:
        # printed once, on purpose: the person who started the server hands it out
        print(f"token (generated): {tokens[0]}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0
