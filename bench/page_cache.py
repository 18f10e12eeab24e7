"""The loan page (bench/live.py LOAN_PAGE) on one server process with the page
cache on and off, side by side in one run, and the floor it is compared with.

* `cache on` / `cache off`: the same server (`loangraph serve`, one process),
  LOANGRAPH_PAGE_CACHE_SIZE default vs 0 (the record cache stays on in both:
  "off" is the server as it was before the page cache). Both run at once
  against the same loan; per concurrency level they alternate in 2 s slices,
  so both see the same machine (this one is shared).
* Per page: DynamoDB requests (the server's own counter, /metrics), and CPU
  of the server process and of DynamoDB Local (/proc/<pid>/stat): what a page
  costs the machine, independent of what else runs on it.
* `one client, interleaved`: the cached page, Strawberry executing the same
  result from memory (a schema of the same shape over plain objects,
  bench/memory_loan_page.py, JSON encoding included) and the HTTP round trip
  to the same server (GET /healthz through the same middleware stack), one
  after the other, 300 times; medians.
* `--profile`: the cached page under pyinstrument (see `run_profile`).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench import live
from core.auth import mint_token
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SLICE_S = 2.0
# Both servers run no event dispatcher (as replicas behind a `loangraph worker`
# do): its stream polling would blur the request and CPU counts, and nothing
# changes the loan while it is measured.
ENV = {"LOANGRAPH_SERVER_EVENTS": "never"}


def _db_requests(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("loangraph_dynamodb_requests_total{")
    )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.elapsed = self.server_cpu = self.ddb_cpu = self.requests = 0.0

    def row(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {
            "requests_per_s": round(n / self.elapsed, 1),
            "p50_ms": round(statistics.median(self.latencies), 2),
            "p99_ms": round(live._pct(self.latencies, 99), 2),
            "pages": n,
            "dynamodb_requests_per_page": round(self.requests / n, 3),
            "server_cpu_ms_per_page": round(self.server_cpu / n * 1000, 2),
            "dynamodb_local_cpu_ms_per_page": round(self.ddb_cpu / n * 1000, 2),
        }


async def _slice(
    c: httpx.AsyncClient,
    server: live.Server,
    ddb_pid: int,
    body: dict[str, Any],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    tally: Tally,
) -> None:
    before = _db_requests(server.url)
    cpu0, ddb0 = _cpu_s(server.proc.pid), _cpu_s(ddb_pid)
    stop = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            r = await c.post("/graphql", json=body, headers=headers)
            tally.latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]

    t0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    tally.elapsed += time.monotonic() - t0
    tally.server_cpu += _cpu_s(server.proc.pid) - cpu0
    tally.ddb_cpu += _cpu_s(ddb_pid) - ddb0
    tally.requests += _db_requests(server.url) - before


async def _floor(
    on: live.Server, schema: Any, body: dict[str, Any], headers: dict[str, str], runs: int
) -> dict[str, Any]:
    """At one client, interleaved: the cached page, Strawberry from memory, and
    the HTTP round trip (GET /healthz on the same server)."""
    cached: list[float] = []
    memory: list[float] = []
    rtt: list[float] = []
    variables = body["variables"]
    async with httpx.AsyncClient(base_url=on.url, timeout=10) as c:
        for i in range(runs + 20):
            t0 = time.perf_counter()
            r = await c.post("/graphql", json=body, headers=headers)
            t1 = time.perf_counter()
            assert r.status_code == 200
            m = await schema.execute(live.LOAN_PAGE, variable_values=variables)
            json.dumps({"data": m.data})
            t2 = time.perf_counter()
            assert m.errors is None, m.errors
            h = await c.get("/healthz")
            t3 = time.perf_counter()
            assert h.status_code == 200
            if i >= 20:
                cached.append((t1 - t0) * 1000)
                memory.append((t2 - t1) * 1000)
                rtt.append((t3 - t2) * 1000)
        # CPU, which a busy machine does not inflate: the server's per cached
        # page and per /healthz (/proc), this process's per execution from memory
        pid = on.proc.pid
        cpu0 = _cpu_s(pid)
        for _ in range(runs):
            await c.post("/graphql", json=body, headers=headers)
        page_cpu = (_cpu_s(pid) - cpu0) / runs
        cpu0 = _cpu_s(pid)
        for _ in range(runs):
            await c.get("/healthz")
        trip_cpu = (_cpu_s(pid) - cpu0) / runs
    t0 = time.process_time()
    for _ in range(runs):
        m = await schema.execute(live.LOAN_PAGE, variable_values=variables)
        json.dumps({"data": m.data})
    mem_cpu = (time.process_time() - t0) / runs
    mem, trip, page = (statistics.median(x) for x in (memory, rtt, cached))
    return {
        "cpu_ms": {
            "server, cached page": round(page_cpu * 1000, 2),
            "strawberry from memory": round(mem_cpu * 1000, 2),
            "server, /healthz round trip": round(trip_cpu * 1000, 2),
            "memory + HTTP": round((mem_cpu + trip_cpu) * 1000, 2),
        },
        "cached_page_p50_ms": round(page, 2),
        "strawberry_from_memory_p50_ms": round(mem, 2),
        "http_round_trip_p50_ms": round(trip, 2),
        "memory_plus_http_ms": round(mem + trip, 2),
        "runs": runs,
    }


async def measure(
    on: live.Server,
    off: live.Server,
    ddb_pid: int,
    settings: Settings,
    seconds: float,
    levels: tuple[int, ...],
) -> dict[str, Any]:
    from bench.memory_loan_page import build

    async with httpx.AsyncClient(base_url=on.url, timeout=30) as c:
        loan, tb, invited = await live._loan_with_lenders(c, settings, 10)
        for email, pid in invited[:5]:
            await live._gql(
                c,
                "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }",
                {"i": {"participantId": pid}},
                mint_token(settings, sub=email.split("@")[0], email=email),
            )
        result = await live._gql(c, live.LOAN_PAGE, {"id": loan}, tb)
    body = {"query": live.LOAN_PAGE, "variables": {"id": loan}}
    headers = {"Authorization": f"Bearer {tb}"}
    variants = {"cache off": off, "cache on": on}
    out: dict[str, Any] = {name: {} for name in variants}
    slices = max(1, round(seconds / SLICE_S))
    clients = {
        name: httpx.AsyncClient(
            base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=64)
        )
        for name, server in variants.items()
    }
    try:
        for c in clients.values():  # warm up: connections, both caches
            for _ in range(5):
                await c.post("/graphql", json=body, headers=headers)
        for n in levels:
            tallies = {name: Tally() for name in variants}
            for _ in range(slices):  # alternate short slices: both see the same machine
                for name, server in variants.items():
                    await _slice(
                        clients[name], server, ddb_pid, body, headers, n, SLICE_S, tallies[name]
                    )
            for name in variants:
                out[name][f"{n} clients"] = tallies[name].row()
    finally:
        for c in clients.values():
            await c.aclose()
    floor = await _floor(on, build(result["loan"]), body, headers, 300)
    out["one client, interleaved"] = floor
    top = f"{max(levels)} clients"
    on_top, off_top = out["cache on"][top], out["cache off"][top]
    out["ratios"] = {
        f"on/off requests/s at {top}": round(
            on_top["requests_per_s"] / off_top["requests_per_s"], 2
        ),
        f"off/on machine CPU per page at {top} (server + DynamoDB Local)": round(
            (off_top["server_cpu_ms_per_page"] + off_top["dynamodb_local_cpu_ms_per_page"])
            / (on_top["server_cpu_ms_per_page"] + on_top["dynamodb_local_cpu_ms_per_page"]),
            2,
        ),
        "cached page p50 / (memory + HTTP) at 1 client": round(
            floor["cached_page_p50_ms"] / floor["memory_plus_http_ms"], 2
        ),
        "cached page CPU / (memory + HTTP) CPU": round(
            floor["cpu_ms"]["server, cached page"] / floor["cpu_ms"]["memory + HTTP"], 2
        ),
    }
    return out


def _component(path: str | None) -> str:
    """A frame's file -> what it belongs to (a library, or this repository's package)."""
    if not path:
        return "(other)"
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        top = top.removesuffix(".py").split(".", 1)[0]
        return "httpx (the bench's client)" if top == "httpx" else top
    if str(ROOT) in path:
        rel = path.split(str(ROOT) + "/", 1)[1]
        return rel.split("/", 1)[0].removesuffix(".py") + "/ (loangraph)"
    if "/lib/python3" in path:
        name = path.split("/lib/python3", 1)[1].split("/")[1]
        return "stdlib:" + name.removesuffix(".py")
    return "(other)"


def _self_times(frame: Any, acc: dict[str, float], parent: str = "(other)") -> None:
    """Self time per component (pyinstrument keeps it in `[self]` leaves,
    which have no file: they belong to their parent's, like C calls)."""
    path = frame.file_path
    # C calls (`<built-in>`) count for their caller's component
    key = _component(path) if path and not path.startswith("<") else parent
    own = frame.time - sum(child.time for child in frame.children)
    acc[key] = acc.get(key, 0.0) + max(own, 0.0)
    for child in frame.children:
        _self_times(child, acc, key)


async def _profiled_pages(settings: Settings, pages: int) -> tuple[str, dict[str, float]]:
    from pyinstrument import Profiler

    from server import create_app

    app = create_app(settings.with_(server_events="never"), start_background=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            loan, tb, _ = await live._loan_with_lenders(c, settings, 10)
            body = {"query": live.LOAN_PAGE, "variables": {"id": loan}}
            headers = {"Authorization": f"Bearer {tb}"}
            for _ in range(10):
                await c.post("/graphql", json=body, headers=headers)
            left = pages

            async def client() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    r = await c.post("/graphql", json=body, headers=headers)
                    assert r.status_code == 200

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            await asyncio.gather(*(client() for _ in range(8)))
            session = profiler.stop()
    acc: dict[str, float] = {}
    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is not None:
        _self_times(root, acc)
    total = sum(acc.values()) or 1.0
    shares = {k: round(v / total * 100, 1) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])}
    del session
    return profiler.output_text(unicode=True, color=False), shares


def run_profile(settings: Settings, pages: int = 1500) -> dict[str, Any]:
    """Where a cached page's time goes: the app in this process (ASGI, no
    socket: uvicorn's HTTP parsing is not in it), 8 concurrent clients, sampled
    by pyinstrument every 0.5 ms. The tree goes to bench/results/page-profile.txt;
    the result has each component's share of self time (top 15)."""
    from models import tables

    tables.configure(settings)
    text, shares = asyncio.run(_profiled_pages(settings, pages))
    out = ROOT / "bench/results/page-profile.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return {
        "tree": str(out.relative_to(ROOT)),
        "self_time_percent": dict(list(shares.items())[:15]),
    }


def run(
    endpoint: str,
    ddb_pid: int,
    settings: Settings,
    seconds: float = 8.0,
    levels: tuple[int, ...] = (1, 8),
    with_profile: bool = False,
) -> dict[str, Any]:
    args = (endpoint, settings.table_prefix, settings.jwt_secret)
    on = live.Server(*args, argv=None, log=None, **ENV)
    off = live.Server(*args, argv=None, log=None, LOANGRAPH_PAGE_CACHE_SIZE="0", **ENV)
    try:
        results = asyncio.run(measure(on, off, ddb_pid, settings, seconds, levels))
    finally:
        on.stop()
        off.stop()
    if with_profile:
        results["profile"] = run_profile(settings)
    return results
