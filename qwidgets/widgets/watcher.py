"""A panel that grows a live view for every training and hybrid job this kernel starts:
``%qw_jobs`` / ``qwidgets.watch_jobs()``. The clients announce what they start
(``qwidgets.client.activity``); this panel only listens."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets

from qwidgets.client import activity
from qwidgets.client.activity import Activity

log = logging.getLogger(__name__)


def _training_view(item: Activity) -> Any:
    from qwidgets.widgets.monitor import TrainingMonitor

    return TrainingMonitor(item.client, guid=item.id, title=f"Training {item.id[:8]}")


def _job_view(item: Activity) -> Any:
    from qwidgets.widgets.timeline import JobTimeline

    return JobTimeline(item.id, client=item.client)


VIEWS: dict[str, Callable[[Activity], Any]] = {"training": _training_view, "job": _job_view}


class JobWatcher(ipywidgets.VBox):
    """Newest first; at most ``limit`` views are kept (older ones are closed)."""

    def __init__(self, limit: int = 10) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self.views: list[Any] = []
        self._header = ipywidgets.HTML(self._header_html())
        super().__init__(children=[self._header])
        self.add_class("qw-watcher")
        self._unsubscribe = activity.subscribe(self._started)

    def _header_html(self) -> str:
        count = len(self.views)
        text = ("Watching trainings and jobs started in this kernel: none yet."
                if not count else f"Watching {count} training(s)/job(s) started in this kernel.")
        return f"<div class='qw-watcher-header' role='status'>{html.escape(text)}</div>"

    def _started(self, item: Activity) -> None:
        make = VIEWS.get(item.kind)
        if make is None:
            return
        view = make(item)
        self.views.insert(0, view)
        for old in self.views[self.limit:]:
            old.close()
        del self.views[self.limit:]
        self._header.value = self._header_html()
        self.children = [self._header, *self.views]

    def close(self) -> None:
        self._unsubscribe()
        for view in self.views:
            view.close()
        super().close()
