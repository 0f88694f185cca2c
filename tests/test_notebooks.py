"""The demo notebooks: committed clean, and each one executes offline on the embedded
simulator with nbclient, leaving no token in what it saves (outputs and widget state)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from qwidgets.sim.server.embedded import local_token

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_there_are_demo_notebooks() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"quickstart", "solvers"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_or_state(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state is saved in the metadata"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_offline_and_saves_no_token(path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "sim"
    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(data_dir))
    # Route anything that tries to leave loopback nowhere (AWS SDKs, proxies).
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    token = local_token(data_dir)  # the token the kernel's embedded simulator will use
    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    NotebookClient(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.monotonic() - started
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    saved = tmp_path / path.name
    nbformat.write(nb, saved)
    text = saved.read_text()
    assert token not in text, f"{path.name}: the simulator's token was saved in the notebook"
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {})
    assert token not in json.dumps(state)
    print(f"{path.name}: executed in {seconds:.1f} s on {os.cpu_count()} cores")
