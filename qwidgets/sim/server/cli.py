"""Command line: ``python -m qwidgets.sim serve --host 127.0.0.1 --port 8765 --token T
--data-dir DIR`` runs a standalone simulator (e.g. one server for a classroom).

Tokens come from ``--token-file PATH`` (one token a line: one namespace each), else
``--token`` (repeatable; other users can read it in the process list, so prefer the file or
the environment), else ``QCOG_API_TOKEN``, else one is generated and printed once, so whoever
started the server can hand it out. ``--max-*`` options bound what one request and one token
may cost (``qwidgets.sim.server.limits``). ``--dask tcp://HOST:8786`` runs the trainings on
a Dask cluster (``docs/dask.md``) instead of local worker processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from qwidgets.sim.server import limits

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
    serve.add_argument("--token-file", type=Path, default=None,
                       help="file of accepted bearer tokens, one a line (keep it 0600); "
                       "the safe way to pass tokens")
    serve.add_argument("--token", action="append", default=None,
                       help="accepted bearer token; repeat for several namespaces (visible "
                       "to other users in the process list: prefer --token-file or "
                       "$QCOG_API_TOKEN; default: a random one printed once)")
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DIR,
                       help=f"where the SQLite store lives (default {DEFAULT_DIR})")
    serve.add_argument("--max-body-mb", type=int, default=256,
                       help="largest request body in MiB (default 256)")
    serve.add_argument("--workers", type=int, default=None,
                       help="trainings run at once (default: one per core; with --dask, one "
                       "per worker thread of the cluster)")
    serve.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="run trainings on the Dask cluster whose scheduler is at ADDRESS "
                       "(tcp://HOST:8786) instead of local worker processes; needs "
                       'pip install "qwidgets[dask]"')
    serve.add_argument("--run-job-code", action="store_true",
                       help="let hybrid jobs run the sources their callers upload (each in a "
                       "sandboxed process, as this server's user: whoever holds a token can "
                       "run code); without it only the built-in source runs")
    limits.add_arguments(serve)
    return top


def read_tokens(path: Path) -> list[str]:
    """The tokens of a token file: one a line; blank lines and ``#`` comments are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tokens = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not tokens:
        raise ValueError(f"{path} holds no token (one a line)")
    if path.stat().st_mode & 0o077:
        print(f"warning: {path} is readable by other users; chmod 600 it", file=sys.stderr)
    return tokens


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from aiohttp import web

    from qwidgets.sim.braket import job_routes
    from qwidgets.sim.server import logs
    from qwidgets.sim.server.app import make_app, runner_options
    from qwidgets.sim.server.dirlock import DataDirInUseError
    from qwidgets.sim.server.embedded import training_backend

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:  # this process's own log: no token in it
        logs.add_filter(handler)
    if args.token:
        print("warning: --token is visible to other users in the process list; prefer "
              "--token-file or QCOG_API_TOKEN", file=sys.stderr)
    env = os.environ.get("QCOG_API_TOKEN", "").strip()
    try:
        tokens: list[str] = (read_tokens(args.token_file) if args.token_file
                             else args.token or ([env] if env else []))
    except (OSError, ValueError) as exc:
        print(f"error: --token-file: {exc}", file=sys.stderr)
        return 2
    generated = not tokens
    if not tokens:
        tokens = [secrets.token_urlsafe(24)]
    try:
        backend = training_backend(args.dask, args.workers, warm=True)
    except (ImportError, ValueError) as exc:
        print(f"error: {'--dask' if args.dask else '--workers'}: {exc}", file=sys.stderr)
        return 2
    try:
        app = make_app(args.data_dir, set(tokens), training_workers=args.workers,
                       limits=limits.from_arguments(args, args.max_body_mb << 20),
                       run_job_code=args.run_job_code, training_backend=backend)
    except (DataDirInUseError, ValueError) as exc:
        if backend is not None:
            backend.shutdown()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # job code calls back on loopback, whichever address the server binds
    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(args.host, shown)
    app[job_routes.RUNNER].endpoint = f"http://{local}:{args.port}"
    where = f", trainings on the Dask cluster at {args.dask}" if args.dask else ""
    print(f"qwidgets simulator: http://{shown}:{args.port}/api/v1/ (data in {args.data_dir}"
          f"{where})", flush=True)
    if generated:
        # printed once, on purpose: the person who started the server hands it out
        print(f"token (generated): {tokens[0]}", flush=True)
    web.run_app(app, host=args.host, port=args.port, print=None, **runner_options(app))
    return 0
