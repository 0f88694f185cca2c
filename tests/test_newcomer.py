"""The safety nets of a newcomer's first hour: CI runs the README's command itself, and the
suite fails when a test leaves a process running."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readmes_first_command_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    printed = subprocess.run(["bash", str(ROOT / ".ci" / "newcomer"), "--print-command"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    assert printed == block.splitlines()[0] + "\n"
    assert printed.startswith('pip install -e ".[dev]" && python -m qwidgets demo')
    assert "bash .ci/newcomer" in (ROOT / ".ci" / "run").read_text()


def test_a_session_that_leaks_a_process_fails_and_the_process_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import _no_leftover_processes  # noqa: F401\n")
    (tmp_path / "test_leak.py").write_text(textwrap.dedent("""
        import subprocess


        def test_leaks_a_child():
            subprocess.Popen(["sleep", "301"])


        def test_leaks_an_orphan():
            subprocess.run(["sh", "-c", "sleep 302 &"], check=True)
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0, done.stdout
    assert "2 process(es) left running at the end of the session" in done.stdout, done.stdout
    assert "sleep 301" in done.stdout
    assert "sleep 302" in done.stdout
    left = [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] in (["sleep", "301"], ["sleep", "302"])]
    assert left == []
