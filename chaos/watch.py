"""The chaos soak's live subscribers to a loan's funding progress."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect

from chaos.clients import LoanRef
from chaos.procs import AppProcess

SUBSCRIPTION = """subscription($id: ID!) { fundingProgress(loanId: $id) {
  totalFunded participantCount acceptedParticipantCount status version } }"""


@dataclass
class Watcher:
    loan: LoanRef
    replica: AppProcess
    last: dict[str, Any] | None = None
    updates: int = 0
    restarts: int = 0


async def watch(w: Watcher, stop: asyncio.Event) -> None:
    """A live subscriber that resubscribes when its subscription ends (as clients do)."""
    while not stop.is_set():
        if w.replica.down:
            await asyncio.sleep(0.3)
            continue
        try:
            url = w.replica.url.replace("http://", "ws://") + "/graphql"
            async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=5) as ws:  # type: ignore[list-item]
                await ws.send(
                    json.dumps(
                        {
                            "type": "connection_init",
                            "payload": {"authorization": f"Bearer {w.loan.borrower.token}"},
                        }
                    )
                )
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIPTION, "variables": {"id": w.loan.gid}},
                        }
                    )
                )
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    msg = json.loads(raw)
                    if msg["type"] == "next":
                        if msg["payload"].get("errors"):
                            break  # a clear end: resubscribe
                        w.last = msg["payload"]["data"]["fundingProgress"]
                        w.updates += 1
                    elif msg["type"] in ("complete", "error"):
                        break
        except Exception:  # noqa: BLE001 - a dropped socket: resubscribe
            pass
        if stop.is_set():
            return
        w.restarts += 1
        await asyncio.sleep(0.3)
