"""The frontend type-checks: tsc --noEmit over js/src and js/test, strict (js/tsconfig.json)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent.parent / "js"


def test_typescript_has_no_errors() -> None:
    tsc = JS / "node_modules" / ".bin" / "tsc"
    if not (JS / "node_modules" / "typescript").is_dir() or not tsc.exists():
        # pip install runs npm install (hatch-jupyter-builder), so a missing compiler is a
        # broken checkout, not an optional tool
        pytest.fail("TypeScript is not installed: run `npm --prefix js install`")
    if shutil.which("node") is None:
        pytest.fail("node is needed to type-check the frontend")
    run = subprocess.run([str(tsc), "--noEmit", "-p", str(JS)], cwd=JS, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"tsc found errors:\n{run.stdout[-6000:]}{run.stderr[-2000:]}"
