"""The wheel carries the built widget bundles, and Python and JS agree on the version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import qwidgets

ROOT = Path(__file__).resolve().parent.parent


def test_python_and_js_versions_agree() -> None:
    package = json.loads((ROOT / "js" / "package.json").read_text())
    assert package["version"] == qwidgets.__version__


@pytest.mark.slow
def test_wheel_carries_every_widget_bundle(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to build the widget bundles")
    # A copy without the built files: the wheel build itself must run esbuild.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", "node_modules", "static", "__pycache__", ".pytest_cache",
                                    "*.egg-info", "artifacts", ".test-build", "build", "dist")
    shutil.copytree(ROOT, src, ignore=ignore)
    (src / "qwidgets" / "static").mkdir()
    # Reuse the installed node_modules (the registry is reachable, but not needed twice).
    (src / "js" / "node_modules").symlink_to(ROOT / "js" / "node_modules")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("qwidgets-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    entries = sorted(p.stem for p in (ROOT / "js" / "src" / "widgets").glob("*.ts"))
    assert entries, "no widget entry points in js/src/widgets"
    for name in entries:
        assert f"qwidgets/static/{name}.js" in names, f"{name}.js missing from the wheel"
    for name in entries:
        data = zipfile.ZipFile(wheel).read(f"qwidgets/static/{name}.js")
        assert len(data) <= 150 * 1024, f"{name}.js is {len(data)} bytes, over the 150 KB budget"
