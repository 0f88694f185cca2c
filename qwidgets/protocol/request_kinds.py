"""The browser <-> kernel request kinds, as Python names, from the one table both sides read
(``request_kinds.json`` beside this file; ``js/src/shared/kinds.ts`` is the views' twin).

The members are spelled out so type checkers and editors know them; importing this module
checks them against the table, so a kind added to (or dropped from) one but not the other
fails at once, not as an "unknown request kind" answer at run time.
"""

from __future__ import annotations

import json
from enum import Enum
from importlib.resources import files
from types import MappingProxyType
from typing import Any


def _table() -> dict[str, Any]:
    text = files("qwidgets.protocol").joinpath("request_kinds.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


TABLE = _table()
# kind -> what it does, as the table says
DESCRIPTIONS = MappingProxyType({**TABLE["requests"], **TABLE["control"]})


class Kind(str, Enum):
    """A kind is its name wherever a string is expected (``str()``, f-strings, JSON)."""

    def __str__(self) -> str:
        return str(self.value)


class Request(Kind):
    """What a view asks of its kernel object; each kind has one handler there."""

    WINDOW = "window"
    SUMMARY = "summary"
    EXPORT = "export"
    REFRESH = "refresh"
    LIVE = "live"
    AGGREGATE_NOW = "aggregate_now"
    STOP_TRAINING = "stop_training"
    STOP = "stop"
    RESUME = "resume"
    CANCEL_JOB = "cancel_job"
    TRAIN = "train"
    CANCEL_SWEEP = "cancel_sweep"
    USE_MODEL = "use_model"


class Control(Kind):
    """The protocol's own messages: a view cancelling a request, the kernel answering one."""

    CANCEL = "cancel"
    REPLY = "reply"


REQUEST_KINDS = frozenset(k.value for k in Request)
CONTROL_KINDS = frozenset(k.value for k in Control)


def _check() -> None:
    for names, group in ((REQUEST_KINDS, "requests"), (CONTROL_KINDS, "control")):
        listed = set(TABLE[group])
        if names != listed:
            raise ImportError(
                f"qwidgets/protocol/request_kinds.py and request_kinds.json disagree on the "
                f"{group}: only in the module {sorted(names - listed)}, only in the table "
                f"{sorted(listed - names)}")


_check()
