"""``python -m qwidgets demo``: open the quickstart notebook in JupyterLab, on the embedded
simulator. The notebook is copied into a working folder first, so the user's edits and the
files it writes never land inside the installed package."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from qwidgets.errors import QwidgetsError

QUICKSTART = "quickstart.ipynb"


def notebooks_dir() -> Path:
    """The demo notebooks: the clone's ``notebooks/`` or the copy shipped in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "_notebooks"):
        if (candidate / QUICKSTART).exists():
            return candidate
    raise QwidgetsError("the demo notebooks are missing from this installation; reinstall "
                        "qwidgets or clone its repository")


def prepare(workdir: Path) -> Path:
    """Copy the demo notebooks into ``workdir`` (existing copies are kept: they are the
    user's); return the quickstart's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    for notebook in notebooks_dir().glob("*.ipynb"):
        target = workdir / notebook.name
        if not target.exists():
            shutil.copy2(notebook, target)
    return workdir / QUICKSTART


def lab_command(quickstart: Path, extra: list[str]) -> list[str]:
    if importlib.util.find_spec("jupyterlab") is None:
        raise QwidgetsError('JupyterLab is not installed: pip install "qwidgets[lab]" '
                            "(or run the terminal demo: python -m qwidgets demo --headless)")
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={quickstart.parent}",
            # Lab binds loopback by default; say it, since the simulator does too.
            "--ServerApp.ip=127.0.0.1", str(quickstart.name), *extra]


def open_quickstart(workdir: Path, extra: list[str] | None = None) -> int:
    quickstart = prepare(workdir)
    print(f"Opening {quickstart} in JupyterLab (Ctrl-C to stop).")
    return subprocess.call(lab_command(quickstart, extra or []), cwd=quickstart.parent)
