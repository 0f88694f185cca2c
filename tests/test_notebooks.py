"""The demo notebooks: committed clean, and each one executes offline on the embedded
simulator with nbclient, twice in a row on the same simulator data (a learner's second Run
All), ending with its panels still on screen, showing what they teach, and leaving no token in
what it saves (outputs and widget state)."""

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
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


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


class _Client(NotebookClient):
    """Also remembers which widgets the kernel closed."""

    closed: set[str]

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        if msg["msg_type"] == "comm_close":
            self.closed.add(msg["content"]["comm_id"])
        super().handle_comm_msg(outs, msg, cell_index)


def _run(path: Path, cwd: Path) -> tuple[nbformat.NotebookNode, set[str]]:
    """Run All in a fresh kernel; the notebook as saved and the ids of the widgets closed."""
    nb = nbformat.read(path, as_version=4)
    client = _Client(nb, timeout=180, kernel_name="python3", store_widget_state=True,
                     resources={"metadata": {"path": str(cwd)}})
    client.closed = set()
    client.execute()
    return nb, client.closed


def _displayed_widgets(nb: nbformat.NotebookNode) -> list[str]:
    return [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells for o in c.get("outputs", [])
            if WIDGET_VIEW in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_twice_offline_and_saves_no_token(path: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded simulator persists between kernels, as it does in the user's cache dir:
    # whatever the first run leaves there (jobs, models, names) the second run meets.
    data_dir = tmp_path / "sim"
    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(data_dir))
    # Route anything that tries to leave loopback nowhere (AWS SDKs, proxies).
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    token = local_token(data_dir)  # the token the kernels' embedded simulator will use
    for run in ("first", "second"):
        started = time.monotonic()
        nb, closed = _run(path, tmp_path)
        seconds = time.monotonic() - started
        errors = [o for c in nb.cells for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, (f"{path.name}, {run} run: {errors[0].get('ename')}: "
                            f"{errors[0].get('evalue')}")
        # A closed widget's output goes blank in JupyterLab: the lesson erased at the end.
        gone = [m for m in _displayed_widgets(nb) if m in closed]
        assert not gone, f"{path.name}, {run} run: {len(gone)} displayed widget(s) closed"
        saved = tmp_path / path.name
        nbformat.write(nb, saved)
        assert token not in saved.read_text(), f"{path.name}: the token was saved"
        state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {})
        assert token not in json.dumps(state)
        _check_federated_panels(path, state)
        print(f"{path.name}: {run} run in {seconds:.1f} s on {os.cpu_count()} cores")


def _check_federated_panels(path: Path, state: dict) -> None:
    """A FederatedPanel at the end of a demo shows validation scores, not an empty chart."""
    panels = [s["state"] for s in state.get("state", {}).values()
              if "federated_model_id" in s.get("state", {})]
    for panel in panels:
        scored = [score for _, score in panel["scores"] if score is not None]
        assert scored, (f"{path.name}: the FederatedPanel shows no validation score "
                        f"(score_key {panel['info'].get('score_key')!r})")
