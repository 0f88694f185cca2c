"""The baseline the client benchmarks measure against: a new aiohttp session, so a new
connector and a new TCP connection, for every single request, as qcog-python-client 0.4.5's
``_request_retry`` sends them. One copy, so that every benchmark compares with the same thing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Mapping
from typing import Any

import aiohttp
from yarl import URL


async def session_per_request_get(url: str | URL, headers: Mapping[str, str]) -> dict[str, Any]:
    """GET ``url`` through a session of its own and return the decoded JSON body."""
    async with aiohttp.ClientSession(headers=dict(headers), raise_for_status=True) as session, \
            session.get(url) as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def timed(work: Awaitable[list[Any]]) -> tuple[float, list[Any]]:
    """Seconds ``work`` took, and what it returned."""
    started = time.perf_counter()
    results = await work
    return time.perf_counter() - started, results
