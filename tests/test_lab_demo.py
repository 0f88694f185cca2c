"""``python -m qwidgets demo`` opens the quickstart in a real JupyterLab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.lab import _free_port


@pytest.mark.slow
def test_demo_opens_the_quickstart_in_jupyterlab(tmp_path: Path) -> None:
    port, token = _free_port(), "t" * 32
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / "home" / var.lower())
    env["QWIDGETS_DATA_DIR"] = str(tmp_path / "sim")
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwidgets", "demo", "--dir", str(workdir), "--no-browser",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         "--allow-root"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/contents/quickstart.ipynb?token={token}"
                with urllib.request.urlopen(url, timeout=2) as answer:
                    body = json.load(answer)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "JupyterLab did not answer in 90 s"
                time.sleep(0.5)
        assert body["type"] == "notebook"
        sources = "".join(c["source"] for c in body["content"]["cells"])
        assert "qwidgets.dashboard(df)" in sources
        assert (workdir / "quickstart.ipynb").exists()
    finally:
        proc.terminate()
        proc.wait(15)
