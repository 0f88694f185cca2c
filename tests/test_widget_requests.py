"""Browser requests reach the loop the cells run on, even when the kernel delivers the comm
message on another thread (ipykernel 7 subshells); only the table's kinds are handled, and the
widgets name them from it."""

from __future__ import annotations

import ast
import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from qwidgets.protocol.request_kinds import DESCRIPTIONS, Control, Request
from qwidgets.widgets.requests import Requests

WIDGETS = Path(__file__).resolve().parent.parent / "qwidgets" / "widgets"


async def test_a_request_from_another_thread_runs_on_the_home_loop() -> None:
    home = asyncio.get_running_loop()
    sent: list[dict[str, Any]] = []
    ran_on: list[asyncio.AbstractEventLoop] = []
    done = asyncio.Event()

    async def handler(x: int) -> int:
        ran_on.append(asyncio.get_running_loop())
        done.set()
        return x * 2

    requests = Requests(lambda msg, buffers: sent.append(msg))
    requests.register(Request.SUMMARY, handler)

    def subshell() -> None:  # a thread with a loop of its own, like a kernel subshell
        async def deliver() -> None:
            requests.receive({"id": "r1", "kind": "summary", "x": 21})

        asyncio.run(deliver())

    thread = threading.Thread(target=subshell)
    thread.start()
    thread.join()
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0)
    assert ran_on == [home]
    assert sent == [{"id": "r1", "kind": "reply", "ok": True, "result": 42}]


async def test_unknown_kind_and_cancel() -> None:
    sent: list[dict[str, Any]] = []
    requests = Requests(lambda msg, buffers: sent.append(msg))
    requests.receive({"id": "a", "kind": "nope"})
    assert sent[0]["ok"] is False
    assert "unknown request kind 'nope'" in sent[0]["error"]

    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    requests.register(Request.WINDOW, slow)
    requests.receive({"id": "b", "kind": "window"})
    await started.wait()
    requests.receive({"id": "c", "kind": "cancel", "target": "b"})
    await asyncio.sleep(0.01)
    assert sent[-1] == {"id": "b", "kind": "reply", "ok": False, "error": "cancelled"}


def test_only_the_tables_kinds_can_be_handled() -> None:
    requests = Requests(lambda msg, buffers: None)
    with pytest.raises(ValueError, match="double"):
        requests.register("double", lambda: None)  # type: ignore[arg-type]
    requests.register("refresh", lambda: None)  # type: ignore[arg-type]  # a listed name is fine
    assert {k.value for k in Request} | {k.value for k in Control} == set(DESCRIPTIONS)
    assert str(Request.CANCEL_JOB) == f"{Request.CANCEL_JOB}" == "cancel_job"


def test_widgets_name_kinds_from_the_table() -> None:
    """``register(Request.X, ...)``, never a string: a typo is then an AttributeError at import,
    not a button that silently gets "unknown request kind"."""
    literal = []
    for path in sorted(WIDGETS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "register" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                literal.append(f"{path.name}:{node.lineno}")
    assert not literal, f"name the kind from qwidgets.protocol.request_kinds: {literal}"
