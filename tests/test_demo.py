"""The README's main command, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_headless_demo_trains_and_forecasts_better_than_the_mean(tmp_path: Path) -> None:
    env = {**os.environ, "QWIDGETS_DATA_DIR": str(tmp_path)}
    env.pop("QCOG_API_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "qwidgets", "demo", "--headless"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "completed in" in done.stdout
    forecasts = re.findall(r"forecast (\w+)\s*: rmse ([\d.]+) \(predicting the mean: ([\d.]+)\)",
                           done.stdout)
    assert [name for name, _, _ in forecasts] == ["linear", "product"]
    for _, rmse, baseline in forecasts:
        assert float(rmse) < 0.6 * float(baseline)
