"""What every widget gets from QWidget: anywidget's display metadata kept beside the static
form, a missing bundle reported with its fix, and saved widget state switched on for the
JupyterLab of the environment qwidgets is installed in."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import anywidget._util
import pytest

from qwidgets.errors import QwidgetsError
from qwidgets.widgets import base
from qwidgets.widgets.base import QWidget

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What anywidget's metadata looks like in Colab: the address of Colab's widget manager.
COLAB = {WIDGET_VIEW: {"colab": {"custom_widget_manager": {"url": "https://example.test/wm.js"}}}}


class Probe(QWidget):
    _esm: ClassVar[Any] = "export default { render({ el }) { el.textContent = 'probe'; } };"

    def static_html(self) -> str:
        return "<div class='qw-static'>probe at rest</div>"

    def static_text(self) -> str:
        return "probe at rest"


def test_mimebundle_is_anywidgets_pair_with_the_static_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anywidget._util, "get_repr_metadata", lambda: COLAB)
    probe = Probe()
    data, metadata = probe._repr_mimebundle_()
    assert metadata == COLAB
    assert data[WIDGET_VIEW]["model_id"] == probe.model_id
    assert data["text/html"] == "<div class='qw-static'>probe at rest</div>"
    assert data["text/plain"] == "probe at rest"
    probe.close()


def test_display_and_refresh_publish_the_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anywidget._util, "get_repr_metadata", lambda: COLAB)
    shown: list[dict[str, Any]] = []

    def record(data: dict[str, Any], **kwargs: Any) -> None:
        shown.append({"data": data, **kwargs})

    monkeypatch.setattr(base, "display", record)
    monkeypatch.setattr(base, "update_display", record)
    probe = Probe()
    probe._ipython_display_()
    probe.refresh_static()
    assert len(shown) == 2
    for call in shown:
        assert call["metadata"] == COLAB
        assert call["raw"] is True
        assert call["display_id"] == shown[0]["display_id"]
        assert WIDGET_VIEW in call["data"]
    probe.close()


def test_a_missing_bundle_names_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "ghost.js"

    # Creating the class must not fail: anywidget alone raises a bare FileNotFoundError here.
    class Ghost(QWidget):
        _esm = missing

    with pytest.raises(QwidgetsError) as caught:
        Ghost()
    message = str(caught.value)
    assert str(missing) in message
    assert "npm --prefix js run build" in message
    assert "reinstall" in message


def test_an_installation_without_bundles_imports_and_explains(tmp_path: Path) -> None:
    """A copy of the package with no built JavaScript, as a clone looks before its first
    build: the client and simulator still import, and the first widget says what to do."""
    shutil.copytree(ROOT / "qwidgets", tmp_path / "qwidgets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.js"))
    script = f"""
import pandas as pd
import qwidgets, qwidgets.client, qwidgets.widgets
from qwidgets.errors import QwidgetsError
assert qwidgets.__file__.startswith({str(tmp_path)!r}), qwidgets.__file__
try:
    qwidgets.widgets.InferenceGrid(pd.DataFrame({{"a": [1.0]}}))
except QwidgetsError as e:
    print("FRIENDLY", e)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(tmp_path),
                                                      "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "FRIENDLY" in run.stdout, run.stdout
    assert str(tmp_path / "qwidgets" / "static" / "grid.js") in run.stdout
    assert "npm --prefix js run build" in run.stdout


def test_the_wheel_turns_on_saved_widget_state_for_jupyterlab() -> None:
    """JupyterLab only shows a widget of a reopened notebook from state saved in the notebook,
    and saves it only with the widget manager's saveState setting: the wheel installs that
    default where jupyterlab_server (Lab and Notebook 7) reads one file per package."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    target = "share/jupyter/lab/settings/overrides.d/qwidgets.json"
    sources = [src for src, dest in shared.items() if dest == target]
    assert len(sources) == 1, shared
    settings = json.loads((ROOT / sources[0]).read_text())
    assert settings == {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


def test_a_bare_import_reaches_the_widgets_as_the_readme_names_them() -> None:
    import subprocess
    import sys

    code = ("import qwidgets; print(qwidgets.widgets.InferenceGrid.__name__, "
            "qwidgets.protocol.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["InferenceGrid", "qwidgets.protocol"]
