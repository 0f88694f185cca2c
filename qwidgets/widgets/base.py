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


def missing_bundle_error(path: Path) -> QwidgetsError:
    return QwidgetsError(
        f"the widget bundle {path} is missing: its JavaScript was not built. In a clone of the "
        "repository run `npm --prefix js install && npm --prefix js run build` (or "
        "`pip install -e .`, which builds it; both need Node.js); an installed copy is broken: "
        "reinstall it with `pip install --force-reinstall qwidgets`")


class QWidget(anywidget.AnyWidget):
    """Base class: subclasses set ``_esm = bundle("<name>")`` and override ``static_html``."""

    _esm: ClassVar[Any]
    _bundle_name: ClassVar[str] = ""
    # The bundle a subclass names but that is not on disk: the error waits for the first
    # instance, so that `import qwidgets` (client, simulator) still works without it.
    _missing_bundle: ClassVar[Path | None] = None
    _offline = traitlets.Bool(False, help="rendered without a kernel (an exported page): "
                              "show the state carried, send no requests").tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # anywidget reads `_esm` as the class is created and raises a bare FileNotFoundError
        # for a missing file, at import time, before any message could name the fix.
        esm = cls.__dict__.get("_esm")
        if isinstance(esm, (str, Path)) and _looks_like_path(esm) and not Path(esm).is_file():
            cls._missing_bundle = Path(esm).resolve()
            delattr(cls, "_esm")
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if not self.has_trait(k) or k.startswith("_"))
        if unknown:
            public = sorted(n for n in self.trait_names(sync=True) if not n.startswith("_")
                            and n not in _DOM_TRAITS)
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) "
                            f"{', '.join(unknown)}; it accepts {', '.join(public) or 'none'}")
        missing = self._missing_bundle
        if missing is None and self._bundle_name and not bundle(self._bundle_name).is_file():
            missing = bundle(self._bundle_name)  # removed since the class was created
        if missing is not None:
            raise missing_bundle_error(missing)
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

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """anywidget's (data, metadata) pair with the static form added to the data. The
        metadata is kept: Colab reads its widget manager's address from it."""
        data, metadata = super()._repr_mimebundle_(**kwargs) or ({}, {})
        data = {**data, "text/plain": self.static_text(), "text/html": self.static_html()}
        return data, dict(metadata)

    def _ipython_display_(self) -> None:
        # With a display id, refresh_static() can replace the saved static form later.
        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True, display_id=self._display_id)
        self._shown = True

    def refresh_static(self) -> None:
        """Rewrite the static form of every place this widget is shown (after a final state:
        completed training, a new result), so a saved notebook shows the last state."""
        if self._shown:
            data, metadata = self._repr_mimebundle_()
            update_display(data, metadata=metadata, raw=True, display_id=self._display_id)

    def save_html(self, path: str | Path, title: str | None = None) -> Path:
        """Write this panel, with its last state, to one self-contained offline HTML file."""
        from qwidgets.export import save_html

        return save_html(path, self, title=title or type(self).__name__)

    def close(self) -> None:
        requests = getattr(self, "_requests", None)
        if requests is not None:
            requests.cancel_all()
        super().close()


def _looks_like_path(esm: str | Path) -> bool:
    # As anywidget tells a file from inline code: one line ending in a file extension.
    return isinstance(esm, Path) or ("\n" not in esm and Path(esm).suffix in {".js", ".mjs"})


_DOM_TRAITS = {"layout", "tabbable", "tooltip", "comm", "keys", "log"}


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)
