"""Running the simulator inside the current Python process: ``start()`` serves on a free
loopback port from a daemon thread with its own event loop, and ``default_server()`` is the
process-wide instance the client uses when no hostname is given.

The default server keeps its data in a persistent directory (``QWIDGETS_DATA_DIR``, else
``~/.cache/qwidgets/sim``) with a per-user token file (mode 0600) next to it, so a model
trained before a kernel restart is found again afterwards. If another kernel already serves
that directory, ``default_server()`` connects to it instead of starting a second server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from qwidgets.sim.braket import job_routes
from qwidgets.sim.server.app import ServerLimits, make_app, runner_options
from qwidgets.sim.server.dirlock import DataDirInUseError, DirLock
from qwidgets.sim.server.process_pool import ProcessPool

if TYPE_CHECKING:
    from distributed import Client

    from qwidgets.sim.server.backend import Backend

TOKEN_FILE = "token"
SERVER_FILE = "server.json"


class SimServer:
    """A running simulator: ``url`` (no ``/api`` suffix), ``token``, ``stop()``.

    ``owner`` is False for a handle on a server that another process runs (see
    ``default_server``); ``stop()`` on such a handle only forgets it.
    """

    def __init__(self, *, host: str, port: int, token: str, data_dir: Path,
                 owner: bool = True) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.data_dir = data_dir
        self.owner = owner
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._temp_dir = False
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        if not self.owner:
            return not DirLock(self.data_dir).is_free()
        return not self._stopped and self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:  # never the token
        state = "running" if self.running else "stopped"
        kind = "" if self.owner else ", attached"
        return f"<SimServer {self.url} data_dir={str(self.data_dir)!r} {state}{kind}>"

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self, timeout: float = 60.0) -> None:
        """Interrupt trainings (resumable later), close the store, end the thread."""
        if self._stopped:
            return
        self._stopped = True
        if self._loop is not None and self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                future.result(timeout)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout)
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / SERVER_FILE).unlink()
        if self._temp_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # ------------------------------------------------------------ starting

    def _serve(self, app: web.Application, started: threading.Event,
               failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                   **runner_options(app))
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            loop.run_until_complete(site.start())
            self._runner = runner
            self.port = _bound_port(runner, self.port)
        except BaseException as exc:
            failure.append(exc)
            started.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(app.cleanup())
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()


def training_backend(dask: str | Client | None, workers: int | None,
                     warm: bool = False) -> Backend | None:
    """The backend of ``start(dask=...)`` and ``serve --dask``: None for the default local
    pool (a pool whose workers start with the server if ``warm``); raises ``ValueError`` (a
    bad address) or ``ImportError`` naming the extra."""
    if dask is None:
        return ProcessPool(workers, warm=True) if warm else None
    from qwidgets.sim.server.dask_backend import DaskBackend

    return DaskBackend(dask, max_slots=workers)


def _bound_port(runner: web.AppRunner, fallback: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return fallback


def start(*, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
          data_dir: str | Path | None = None, max_body_bytes: int | None = None,
          training_workers: int | None = None, run_job_code: bool = False,
          limits: ServerLimits | None = None, dask: str | Client | None = None,
          warm_workers: bool = False, _local_token: bool = False) -> SimServer:
    """Serve the simulator from a daemon thread; ``port=0`` picks a free port.

    ``token=None``: a random token (read it from ``.token``). ``data_dir=None``: a fresh
    temporary directory, removed by ``stop()``. Raises ``DataDirInUseError`` if another server
    holds ``data_dir``. ``run_job_code=True``: hybrid jobs run uploaded sources, each in a
    sandboxed process (this kernel's user runs them: turn it on for your own code only).
    ``limits``: what one request and one token may cost (``qwidgets.sim.server.limits``).
    ``dask``: run the trainings on a Dask cluster instead of local worker processes: its
    scheduler's address (``"tcp://host:8786"``) or a ``distributed.Client``; needs
    ``pip install "qwidgets[dask]"`` (``training_workers`` then caps the trainings at once).
    ``warm_workers``: start the local training workers with the server rather than with the
    first training (which then waits a few seconds for their imports).
    """
    token = token if token is not None else secrets.token_urlsafe(32)
    backend = training_backend(dask, training_workers, warm_workers)
    temp = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="qwidgets-sim-") if data_dir is None else data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        app = make_app(directory, token, max_body_bytes=max_body_bytes, limits=limits,
                       training_workers=training_workers, run_job_code=run_job_code,
                       training_backend=backend)
    except BaseException:
        if backend is not None:
            backend.shutdown()
        if temp:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    server = SimServer(host=host, port=port, token=token, data_dir=directory)
    server._temp_dir = temp
    started = threading.Event()
    failure: list[BaseException] = []
    server._thread = threading.Thread(target=server._serve, args=(app, started, failure),
                                      name="qwidgets-sim-server", daemon=True)
    server._thread.start()
    started.wait()
    if failure:
        if backend is not None:  # the app never started it, so it never stops it either
            backend.shutdown()
        if temp:
            shutil.rmtree(directory, ignore_errors=True)
        raise failure[0]
    app[job_routes.RUNNER].endpoint = server.url  # what job code calls back
    _write_private(directory / SERVER_FILE, json.dumps(
        {"url": server.url, "host": server.host, "port": server.port, "pid": os.getpid(),
         "local_token": _local_token}))
    return server


# ---------------------------------------------------------------- the default server

_default: SimServer | None = None
_default_lock = threading.Lock()


def default_data_dir() -> Path:
    env = os.environ.get("QWIDGETS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qwidgets" / "sim"


def local_token(directory: Path) -> str:
    """The per-user token of ``directory``, created (mode 0600) on first use."""
    path = directory / TOKEN_FILE
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            return token
        path.unlink()  # an empty file left by a crash between create and write
        return local_token(directory)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def default_server() -> SimServer:
    """The process-wide simulator, started on first use and stopped at interpreter exit."""
    global _default
    with _default_lock:
        if _default is not None and _default.running:
            return _default
        directory = default_data_dir()
        token = local_token(directory)
        try:
            # warm: a notebook's first training should not wait for the workers' imports
            _default = start(token=token, data_dir=directory, warm_workers=True,
                             _local_token=True)
        except DataDirInUseError:
            _default = _attach(directory, token)
        return _default


def _attach(directory: Path, token: str) -> SimServer:
    """A handle on the server another process runs on ``directory`` with the local token."""
    try:
        info: dict[str, Any] = json.loads((directory / SERVER_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise DataDirInUseError(directory) from exc
    if not info.get("local_token"):
        raise DataDirInUseError(directory)
    return SimServer(host=str(info["host"]), port=int(info["port"]), token=token,
                     data_dir=directory, owner=False)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@atexit.register
def _stop_default() -> None:
    if _default is not None and _default.owner:
        _default.stop()
