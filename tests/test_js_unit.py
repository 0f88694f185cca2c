"""The frontend's pure logic (decimation, window cache, formatting), tested by node --test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent.parent / "js"


def test_js_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to run the JS unit tests (it also builds the widgets)")
    run = subprocess.run([npm, "test"], cwd=JS, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "# fail 0" in run.stdout
