"""A real server process for the attacks of docs/security.md: every test here
performs its attack over a socket against `loangraph serve`, as an attacker would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.events.conftest import Receiver


@pytest.fixture(scope="module")
def receivers() -> Iterator[list[Receiver]]:
    """Loopback webhook receivers, started on demand: receivers[i]."""
    made = [Receiver().start() for _ in range(2)]
    try:
        yield made
    finally:
        for r in made:
            r.stop()


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        "LOANGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",  # webhook receivers are on loopback
        "LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    }


async def healthz_latencies(base: str, stop: asyncio.Event) -> list[float]:
    """/healthz round trips (seconds) measured until `stop` is set: the event loop's
    responsiveness while an attack runs."""
    out: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = await c.get("/healthz")
            assert r.status_code == 200
            out.append(time.perf_counter() - t0)
            await asyncio.sleep(0.02)
    return out


async def while_probing(base: str, attack: object) -> tuple[object, list[float]]:
    """Runs `attack` (an awaitable) while probing /healthz; returns both results."""
    stop = asyncio.Event()
    probe = asyncio.create_task(healthz_latencies(base, stop))
    await asyncio.sleep(0.05)
    try:
        result = await attack  # type: ignore[misc]
    finally:
        await asyncio.sleep(0.05)
        stop.set()
    return result, await probe
