"""Browser requests reach the loop the cells run on, even when the kernel delivers the comm
message on another thread (ipykernel 7 subshells)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from qwidgets.widgets.requests import Requests


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
    requests.register("double", handler)

    def subshell() -> None:  # a thread with a loop of its own, like a kernel subshell
        async def deliver() -> None:
            requests.receive({"id": "r1", "kind": "double", "x": 21})

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

    requests.register("slow", slow)
    requests.receive({"id": "b", "kind": "slow"})
    await started.wait()
    requests.receive({"id": "c", "kind": "cancel", "target": "b"})
    await asyncio.sleep(0.01)
    assert sent[-1] == {"id": "b", "kind": "reply", "ok": False, "error": "cancelled"}
