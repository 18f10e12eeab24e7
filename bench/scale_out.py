"""Loan pages/s on one machine for 1 and 2 server processes, side by side.

`loangraph serve` (one process) and `loangraph serve --workers 2` (uvicorn
workers sharing the port), both with a real redis-server (`--workers > 1`
needs it; neither runs the event dispatcher, and nothing changes the loan
while it is measured). Cache on in both; the two alternate in 2 s slices at
each concurrency level, so both see the same machine.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from typing import Any

import httpx

from bench import live
from bench.page_cache import SLICE_S, Tally
from core.dynamodb_local import free_port
from core.settings import Settings


def _redis() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


async def _slice(url: str, body: Any, headers: Any, clients: int, tally: Tally) -> None:
    """Fresh connections per slice: between slices a kept-alive connection can
    pass uvicorn's keep-alive timeout on a busy machine and reset under us."""
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as c:
        stop = time.monotonic() + SLICE_S

        async def client() -> None:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await c.post("/graphql", json=body, headers=headers)
                tally.latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]

        t0 = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        tally.elapsed += time.monotonic() - t0


async def measure(
    servers: dict[str, live.Server], settings: Settings, seconds: float, levels: tuple[int, ...]
) -> dict[str, Any]:
    first = next(iter(servers.values()))
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as c:
        loan, tb, _ = await live._loan_with_lenders(c, settings, 10)
    body = {"query": live.LOAN_PAGE, "variables": {"id": loan}}
    headers = {"Authorization": f"Bearer {tb}"}
    out: dict[str, Any] = {name: {} for name in servers}
    for server in servers.values():  # warm every worker's caches (connections spread)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            await asyncio.gather(
                *(c.post("/graphql", json=body, headers=headers) for _ in range(16))
            )
    for n in levels:
        tallies = {name: Tally() for name in servers}
        for _ in range(max(1, round(seconds / SLICE_S))):
            for name, server in servers.items():
                await _slice(server.url, body, headers, n, tallies[name])
        for name, t in tallies.items():
            t.requests = 0
            row = t.row()
            out[name][f"{n} clients"] = {
                k: row[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "pages")
            }
    names = list(servers)
    top = f"{max(levels)} clients"
    out["scaling (2 processes / 1) at " + top] = round(
        out[names[1]][top]["requests_per_s"] / out[names[0]][top]["requests_per_s"], 2
    )
    return out


def run(
    endpoint: str, settings: Settings, seconds: float = 8.0, levels: tuple[int, ...] = (8, 16)
) -> dict[str, Any]:
    redis, url = _redis()
    args = (endpoint, settings.table_prefix, settings.jwt_secret)
    env = {"LOANGRAPH_REDIS_URL": url}
    exe = str(live.ROOT / ".venv/bin/loangraph")
    servers: dict[str, live.Server] = {}
    try:
        servers["1 process"] = live.Server(*args, argv=None, log=None, **env)
        servers["2 processes (--workers 2)"] = live.Server(
            *args, argv=[exe, "serve", "--workers", "2"], log=None, **env
        )
        return asyncio.run(measure(servers, settings, seconds, levels))
    finally:
        for s in servers.values():
            s.stop()
        redis.terminate()
        redis.wait(10)
