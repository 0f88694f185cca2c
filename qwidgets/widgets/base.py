"""What every qwidgets widget shares: its bundle, strict keyword arguments, kernel-side
requests from the browser, and a static HTML form of its last state for places where no
kernel runs (a saved notebook on a code host, an exported page)."""

from __future__ import annotations

import html
import uuid
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets
from IPython.display import display, update_display

from qwidgets.errors import QwidgetsError
from qwidgets.widgets.requests import Requests

STATIC = Path(__file__).resolve().parent.parent / "static"


def bundle(name: str) -> Path:
    """The built ES module of a widget (``js/src/widgets/<name>.ts`` bundled by esbuild)."""
    return STATIC / f"{name}.js"


class QWidget(anywidget.AnyWidget):
    """Base class: subclasses set ``_esm = bundle("<name>")`` and override ``static_html``."""

    _esm: ClassVar[Any]
    _bundle_name: ClassVar[str] = ""
    _offline = traitlets.Bool(False, help="rendered without a kernel (an exported page): "
                              "show the state carried, send no requests").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if not self.has_trait(k) or k.startswith("_"))
        if unknown:
            public = sorted(n for n in self.trait_names(sync=True) if not n.startswith("_")
                            and n not in _DOM_TRAITS)
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) "
                            f"{', '.join(unknown)}; it accepts {', '.join(public) or 'none'}")
        path = bundle(self._bundle_name) if self._bundle_name else None
        if path is not None and not path.exists():
            raise QwidgetsError(
                f"the widget bundle {path} is missing: the JavaScript was not built. Reinstall "
                "with `pip install -e .` (needs Node.js and npm) or run `npm --prefix js run build`")
        super().__init__(**kwargs)
        self._requests = Requests(self.send)
        self.on_msg(lambda _w, content, buffers: self._requests.receive(content, buffers))
        self._display_id = uuid.uuid4().hex
        self._shown = False

    # ------------------------------------------------------------ static form

    def static_html(self) -> str:
        """Self-contained HTML of the last state, shown where no kernel runs. Text only:
        every value goes through ``html.escape``."""
        return f"<div class='qw-static'>{html.escape(type(self).__name__)}</div>"

    def static_text(self) -> str:
        return type(self).__name__

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle_ = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle_, tuple):
            bundle_ = bundle_[0]
        data = dict(bundle_)
        data["text/plain"] = self.static_text()
        data["text/html"] = self.static_html()
        return data

    def _ipython_display_(self) -> None:
        # With a display id, refresh_static() can replace the saved static form later.
        display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)
        self._shown = True

    def refresh_static(self) -> None:
        """Rewrite the static form of every place this widget is shown (after a final state:
        completed training, a new result), so a saved notebook shows the last state."""
        if self._shown:
            update_display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)

    def save_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write this panel, with its last state, to one self-contained offline HTML file."""
        from qwidgets.export import save_html

        return save_html(path, self, title=title or type(self).__name__)

    def close(self) -> None:
        requests = getattr(self, "_requests", None)
        if requests is not None:
            requests.cancel_all()
        super().close()


_DOM_TRAITS = {"layout", "tabbable", "tooltip", "comm", "keys", "log"}


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)
