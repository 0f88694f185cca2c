"""JupyterLab in a temporary home, and the page helpers the browser tests share
(recipe: shared/notes/browser-tests.md)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbformat.write(nb, self.root / name)
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# How each front end is started: JupyterLab and Notebook 7 serve a folder; Voila serves one
# notebook as an app (it executes the notebook for every page load, so it is polled by port).
FRONT_ENDS = ("lab", "notebook", "voila")


def _server_argv(app: str, port: int, token: str, root: Path, home: Path,
                 notebook: str | None) -> list[str]:
    common = ["--no-browser", f"--port={port}"]
    if app == "voila":
        if notebook is None:
            raise ValueError("Voila serves one notebook: pass notebook=")
        return [sys.executable, "-m", "voila", *common, "--Voila.ip=127.0.0.1", f"--token={token}",
                "--Voila.port_retries=0", str(root / notebook)]
    server = ["--allow-root", "--ip=127.0.0.1", "--ServerApp.port_retries=0",
              f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
              "--expose-app-in-browser"]
    if app == "notebook":
        return [sys.executable, "-m", "notebook", *common, *server]
    return [sys.executable, "-m", "jupyterlab", *common, *server, "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={home / 'ws'}"]


def _answers(app: str, url: str, token: str, port: int) -> bool:
    if app == "voila":
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
        return True


@contextmanager
def running_lab(tmp: Path, app: str = "lab", notebooks: list[Path] | None = None,
                serve: str | None = None) -> Iterator[Lab]:
    """A Jupyter front end (``app``: one of FRONT_ENDS) in a temporary home, serving a
    temporary root with copies of ``notebooks``; Voila serves ``serve``, one of them."""
    home, root = tmp / "home", tmp / "root"
    root.mkdir(parents=True)
    for path in notebooks or []:
        shutil.copy2(path, root / path.name)
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    # The kernels' embedded simulator keeps its data here, not in the user's cache.
    env["QWIDGETS_DATA_DIR"] = str(home / "sim")
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    log = (home / f"{app}.log").open("w")
    proc = subprocess.Popen(_server_argv(app, port, token, root, home, serve),
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _answers(app, url, token, port):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start:\n"
                                       + (home / f"{app}.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield Lab(url, token, root, home, env)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""


def open_and_run(page: Any, url: str, timeout_ms: int = 90_000) -> None:
    """Open a notebook, wait for its kernel, run every cell."""
    page.goto(url)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_ms)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def run_cell_text(page: Any, code: str, expect: str, timeout_ms: int = 60_000) -> None:
    """Append a cell running ``code`` in the kernel, run it, and wait for ``expect`` in an
    output: checks the kernel side of what the page shows."""
    page.evaluate("""async (code) => {
      const app = window.jupyterapp; const panel = app.shell.currentWidget;
      await app.commands.execute('notebook:insert-cell-below');
      const nb = panel.content; nb.activeCell.model.sharedModel.setSource(code);
      await app.commands.execute('notebook:run-cell');
    }""", code)
    page.get_by_text(expect, exact=False).first.wait_for(timeout=timeout_ms)


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium"
    if shutil.which("node") is None and False:
        return "node missing"
    return None


def console_errors(page: Any) -> list[str]:
    """Collect the page's ``console.error`` lines and uncaught errors from now on (the list
    fills as they come), each with the addresses it came from; see ``ours``."""
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            where = msg.location.get("url", "") if isinstance(msg.location, dict) else ""
            errors.append(f"{msg.text} [at {where}]")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught {exc} [at {exc.stack}]"))
    return errors


# Errors of the front ends and of other packages' extensions, seen with the versions the dev
# extra installs; never ours (the figure, the notebook and the app all work despite them).
FOREIGN = (
    # Notebook 7's shortcut reader, on a settings change of a plugin only JupyterLab loads
    "/static/notebook/",
    # plotly's renderer in Voila calls setData, which Voila's output model lacks
    "/labextensions/jupyterlab-plotly/",
    # Notebook 7's JupyterLab extension, loaded into Voila, needs @jupyterlab/docregistry
    "/labextensions/@jupyter-notebook/",
    # Voila's page links Font Awesome from a CDN: no network here
    "https://cdn.jsdelivr.net/",
)
_URL = re.compile(r"(?:https?|blob):[^\s)'\"\]]+")


def ours(errors: list[str]) -> list[str]:
    """The errors that may come from our bundles or the widget machinery: all but those that
    name a FOREIGN address and none of ours (anywidget runs our bundles from blob: URLs)."""
    def foreign(error: str) -> bool:
        text, _, where = error.partition(" [at ")
        urls = _URL.findall(text) or _URL.findall(where)
        mine = any(u.startswith("blob:") or "/anywidget/" in u for u in urls)
        return not mine and any(f in u for u in urls for f in FOREIGN)

    return [e for e in errors if not foreign(e)]


def quickstart_shows_its_forecast(page: Any, timeout_ms: int = 180_000) -> None:
    """notebooks/quickstart.ipynb ran to its end: the form, the completed training and the
    grid of forecasts beside the actual values, with numbers in it."""
    from playwright.sync_api import expect

    expect(page.locator(".qw-monitor .qw-badge").first).to_have_text("completed", timeout=timeout_ms)
    page.get_by_role("button", name="Train a model with these parameters").first.wait_for()
    grid = page.locator(".qw-grid").first
    expect(grid).to_contain_text("z_actual", timeout=60_000)
    row = grid.locator(".qw-grid-row:not(.qw-grid-loading)").first
    row.wait_for(timeout=60_000)
    expect(row).to_contain_text(re.compile(r"-?\d+\.\d+"))


def set_theme(page: Any, dark: bool, timeout_ms: int = 30_000) -> None:
    """Switch JupyterLab's theme as its menu does, and wait until the new theme's variables
    apply. The theme is a user setting: a test that switches to dark switches back."""
    name = "JupyterLab Dark" if dark else "JupyterLab Light"
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})",
                  name)
    page.wait_for_function("""(dark) => {
      if (document.body.dataset.jpThemeLight !== String(!dark)) return false;
      const probe = document.createElement('div');
      probe.style.background = 'var(--jp-layout-color1, rgb(1, 2, 3))';
      document.body.append(probe);
      const c = getComputedStyle(probe).backgroundColor.match(/\\d+/g).map(Number);
      probe.remove();
      return dark ? c[0] < 100 : c[0] > 150;
    }""", arg=dark, timeout=timeout_ms)


# WCAG 2.x contrast of each visible element matching `selector`: its text colour against its
# background, composited (alpha) over its ancestors' backgrounds, as the page renders them.
CONTRASTS = """(selector) => {
  const rgba = (s) => { const m = s.match(/[\\d.]+/g) || [0, 0, 0, 0];
    return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const over = (top, under) => { const a = top[3] + under[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    return [0, 1, 2].map((i) => (top[i] * top[3] + under[i] * under[3] * (1 - top[3])) / a).concat([a]); };
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) layers.push(rgba(getComputedStyle(e).backgroundColor));
    let c = [255, 255, 255, 1];
    for (const layer of layers.reverse()) c = over(layer, c);
    return c; };
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  return [...document.querySelectorAll(selector)].filter((el) => el.offsetParent !== null)
    .map((el) => { const bg = background(el); const fg = over(rgba(getComputedStyle(el).color), bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      return { text: el.textContent, state: el.dataset.state || el.dataset.tone || '',
               ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 }; });
}"""
