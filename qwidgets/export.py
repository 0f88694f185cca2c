"""Offline HTML export of panels for teaching material: one self-contained file with our
JavaScript and each panel's last state inlined; no CDN, no kernel, no network.

ipywidgets' own ``embed_minimal_html`` loads require.js and its HTML manager from public CDNs
and, by default, leaves an anywidget's ``_esm`` out of the state: offline that is a blank page.
Here every widget module is inlined once and rendered by a small runtime
(``js/src/export/export_runtime.ts``) that hands it a model built from the saved state.

A panel's module is taken from its synced state (``_esm``: the very text anywidget sends to
JupyterLab), so this module needs nothing of ``qwidgets.widgets`` and the widgets' base can
import it without a cycle.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import anywidget

from qwidgets.errors import QwidgetsError

# Traits the page does not need: the module itself (inlined once per kind) and ipywidgets'
# bookkeeping.
_SKIP = {"_esm", "_css", "_anywidget_id", "_model_module", "_model_module_version", "_model_name",
         "_view_module", "_view_module_version", "_view_name", "_dom_classes", "layout", "tabbable",
         "tooltip", "_view_count"}
OFFLINE_ROWS = 5_000


def is_panel(item: Any) -> bool:
    """A qwidgets widget: an anywidget with a static form (``QWidget`` and its subclasses)."""
    return isinstance(item, anywidget.AnyWidget) and callable(getattr(item, "static_html", None))


def panels_of(items: Iterable[Any]) -> list[Any]:
    """The qwidgets widgets in ``items``, looking inside ipywidgets containers (Box, Tab...)."""
    found: list[Any] = []
    for item in items:
        if is_panel(item):
            found.append(item)
        elif hasattr(item, "children"):
            found.extend(panels_of(item.children))
        else:
            raise QwidgetsError(f"cannot export {type(item).__name__}: give qwidgets widgets or "
                                "ipywidgets containers holding them")
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$qw_b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def panel_module(widget: Any) -> tuple[str, str]:
    """``(name, code)`` of the ES module rendering ``widget``: the name a hash of the code, so
    each module is inlined once however many panels use it."""
    code = widget.get_state().get("_esm")
    if not isinstance(code, str) or not code.strip():
        raise QwidgetsError(f"{type(widget).__name__} carries no widget module to export: "
                            "reinstall with `pip install -e .` (needs Node.js) or run "
                            "`npm --prefix js run build`")
    return "m" + hashlib.sha256(code.encode("utf-8")).hexdigest()[:12], code


def panel_state(widget: Any, max_rows: int = OFFLINE_ROWS) -> dict[str, Any]:
    """The synced state a page needs to render ``widget`` without a kernel."""
    state = {k: v for k, v in widget.get_state().items() if k not in _SKIP}
    offline = getattr(widget, "_offline_payload", None)
    if callable(offline):
        state["_offline_rows"] = offline(max_rows=max_rows)
    state["_offline"] = True
    return _jsonable(state)


def _script_text(text: str) -> str:
    # Inside <script> only "</script" (any case) ends the element; in our bundles it can only
    # occur inside strings, where "<\/" means the same.
    return text.replace("</", "<\\/")


def page_html(widgets: Iterable[Any], title: str = "qwidgets panels",
              max_rows: int = OFFLINE_ROWS) -> str:
    """One self-contained HTML page rendering ``widgets``."""
    panels = panels_of(widgets)
    if not panels:
        raise QwidgetsError("nothing to export: pass at least one qwidgets widget")
    runtime = files("qwidgets") / "static" / "export_runtime.js"
    if not runtime.is_file():
        raise QwidgetsError("the export runtime static/export_runtime.js is missing: reinstall "
                            "with `pip install -e .` (needs Node.js) or run `npm --prefix js run build`")
    names: list[str] = []
    modules: dict[str, str] = {}
    for panel in panels:
        name, code = panel_module(panel)
        names.append(name)
        modules.setdefault(name, code)
    parts = [
        "<!DOCTYPE html>", "<html lang='en'>", "<head>", "<meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        # Nothing may be fetched: the page works from a USB stick in a classroom.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "script-src 'unsafe-inline' data:; style-src 'unsafe-inline'; img-src data: blob:; "
        "connect-src 'none'\">",
        f"<title>{html.escape(title)}</title>",
        "<style>body{margin:16px;font-family:system-ui,sans-serif;background:#fff;color:#212121}"
        ".qw-export-panel{margin:0 0 24px 0;border:1px solid #e0e0e0;border-radius:4px}"
        ".qw-export-error{color:#d32f2f}</style>",
        "</head>", "<body>", f"<h1 style='font-size:1.3em'>{html.escape(title)}</h1>",
    ]
    for i, (panel, name) in enumerate(zip(panels, names, strict=True)):
        state = json.dumps(panel_state(panel, max_rows), separators=(",", ":"), allow_nan=False,
                           default=str)
        parts.append(f"<div class='qw-export-panel' data-qw-panel='{i}' "
                     f"data-qw-module='{name}'>{panel.static_html()}</div>")
        parts.append(f"<script type='application/json' id='qw-state-{i}'>{_script_text(state)}</script>")
    for name, code in modules.items():
        parts.append(f"<script type='text/plain' id='qw-esm-{html.escape(name)}'>"
                     f"{_script_text(code)}</script>")
    parts.append(f"<script type='module'>{_script_text(runtime.read_text(encoding='utf-8'))}"
                 "</script>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts)


def save_html(path: str | Path, *widgets: Any, title: str = "qwidgets panels",
              max_rows: int = OFFLINE_ROWS) -> Path:
    """Write ``widgets`` (qwidgets widgets or containers of them) to one offline HTML file."""
    target = Path(path)
    target.write_text(page_html(widgets, title=title, max_rows=max_rows), encoding="utf-8")
    return target
