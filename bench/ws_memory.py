"""Where an idle subscription's memory goes: tracemalloc over N open
`fundingProgress` subscriptions (graphql-transport-ws) on one server.

`.venv/bin/python -m bench.ws_memory [N]` (default 500; not part of `make
bench`): DynamoDB Local, the app served by uvicorn in this process (as
`loangraph serve` runs it), one loan; 50 subscriptions opened first (warm
caches), then N more by a client process (bench/burst_client.py). The Python
heap they added, per subscription, is grouped by the innermost frame outside
the standard library (asyncio's tasks and queues count for whoever made them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import subprocess
import sys
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn

from bench import bench_settings, live
from bench.burst import start_client
from core.dynamodb_local import DynamoDBLocal
from models import tables

ROOT = Path(__file__).resolve().parent.parent


def _owner(trace: tracemalloc.Traceback) -> str:
    """The package (or our top-level directory) of the innermost frame that is
    not the standard library."""
    for frame in reversed(trace):  # most recent call first
        name = frame.filename
        if "site-packages/" in name:
            return name.split("site-packages/", 1)[1].split("/", 1)[0]
        if name.startswith(str(ROOT)) and not name.startswith(str(ROOT / "bench")):
            return "loangraph " + name[len(str(ROOT)) + 1 :].split("/", 1)[0] + "/"
    return "standard library"


async def _opened(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if not line.startswith("OPENED") or line.split()[2] != "0":
        raise RuntimeError(f"subscriptions did not open: {line!r}")


async def measure(endpoint: str, n: int) -> dict[str, Any]:
    from web.app import create_app

    settings = bench_settings(endpoint).with_(table_prefix=f"wsmem{uuid.uuid4().hex[:6]}_")
    tables.configure(settings)
    tables.create_tables(settings)
    app = create_app(settings)
    guards = app.state.shared["guards"]
    # One borrower holds them all: lift the per-user cap (25) for the measurement.
    guards.limits = dataclasses.replace(guards.limits, max_subscriptions_per_user=n + 100)
    port = live.free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws="websockets-sansio", log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    procs: list[subprocess.Popen[str]] = []
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            loan, borrower_token, _ = await live._loan_with_lenders(c, settings, 1)
        sub = jwt.decode(borrower_token, options={"verify_signature": False})["sub"]
        subscriber = [url, sub, f"{sub}@example.com", loan]
        procs.append(start_client(settings.jwt_secret, [subscriber] * 50))
        await _opened(procs[-1])
        await asyncio.sleep(1)
        gc.collect()
        tracemalloc.start(40)
        before = tracemalloc.take_snapshot()
        procs.append(start_client(settings.jwt_secret, [subscriber] * n))
        await _opened(procs[-1])
        await asyncio.sleep(2)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        by_owner: dict[str, int] = {}
        for stat in after.compare_to(before, "traceback"):
            owner = _owner(stat.traceback)
            by_owner[owner] = by_owner.get(owner, 0) + stat.size_diff
        total = sum(by_owner.values())
        return {
            "subscriptions": n,
            "python_heap_per_subscription_kb": round(total / n / 1024, 1),
            "by_owner_bytes_per_subscription": {
                k: round(v / n) for k, v in sorted(by_owner.items(), key=lambda kv: -kv[1]) if v > 0
            },
        }
    finally:
        for proc in procs:
            if proc.stdin is not None and proc.poll() is None:
                proc.stdin.write("DONE\n")
                proc.stdin.flush()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.should_exit = True
        await serving


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with DynamoDBLocal() as ddb:
        print(json.dumps(asyncio.run(measure(ddb.endpoint, count)), indent=2))
