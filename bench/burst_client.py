"""One subscriber process of the burst benchmark (bench/burst.py).

Reads a job (JSON on stdin): the JWT secret and a list of subscribers
`[server url, sub, email, loan global id]`. Opens them all (graphql-transport-ws,
`OPEN_CONCURRENCY` at a time, no compression, no client pings), waits for each
one's first `next` (the current state), prints `OPENED <seconds>` and then
records every later message with its arrival time (`time.monotonic()`, the
same clock in every process on Linux) without parsing it. A line `DONE` on
stdin makes it print the records (JSON) and exit.

Kept cheap on purpose: the client shares the machine's cores with the servers.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from core.auth import mint_token
from core.settings import Settings

OPEN_CONCURRENCY = 64
SUBSCRIPTION = (
    "subscription($id: ID!) { fundingProgress(loanId: $id) { loanId event totalFunded "
    "fundingPercentage acceptedParticipantCount isFullyFunded version } }"
)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main() -> None:
    raise_nofile()
    job = json.loads(sys.stdin.readline())
    settings = Settings(jwt_secret=job["secret"])
    tokens: dict[tuple[str, str], str] = {}
    records: list[list[Any]] = [[] for _ in job["subscribers"]]
    conns: list[Any] = [None] * len(job["subscribers"])
    sem = asyncio.Semaphore(OPEN_CONCURRENCY)
    errors: list[str] = []

    async def listen(i: int, ws: Any) -> None:
        out = records[i]
        try:
            async for raw in ws:
                out.append((time.monotonic(), raw))
        except Exception as exc:  # a closed socket is recorded, not raised
            out.append((time.monotonic(), f"CLOSED {exc!r}"))

    async def open_one(i: int, url: str, sub: str, email: str, loan: str) -> None:
        key = (sub, email)
        if key not in tokens:
            tokens[key] = mint_token(settings, sub=sub, email=email)
        async with sem:
            for attempt in range(5):
                try:
                    ws = await connect(
                        url.replace("http://", "ws://") + "/graphql",
                        subprotocols=[Subprotocol("graphql-transport-ws")],
                        open_timeout=120,
                        ping_interval=None,
                        compression=None,
                        max_queue=None,
                    )
                    break
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {tokens[key]}"},
                    }
                )
            )
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                errors.append(f"no ack: {ack}")
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"id": loan}},
                    }
                )
            )
            first = json.loads(await ws.recv())
            if first.get("type") != "next" or "errors" in first.get("payload", {}):
                errors.append(f"first message: {str(first)[:300]}")
            conns[i] = ws

    t0 = time.monotonic()
    await asyncio.gather(*(open_one(i, *s) for i, s in enumerate(job["subscribers"])))
    opened = time.monotonic() - t0
    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(conns)]
    print(f"OPENED {opened:.3f} {len(errors)}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "DONE"
    for ws in conns:
        ws.transport.abort()  # no closing handshake: the servers see them go at once
    for task in listeners:
        task.cancel()
    sys.stdout.write(json.dumps({"records": records, "errors": errors[:20]}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
