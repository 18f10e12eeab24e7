"""Benchmarks against a real server process (`loangraph serve`, uvicorn):

throughput: a typical loan-page query at 1, 8 and 32 concurrent clients for a
            fixed time each; requests/s, p50 and p99 latency.
fanout:     N WebSocket subscribers on one loan (graphql-transport-ws); one
            acceptance; time from the commit (the mutation's response) to the
            first and the last subscriber's update.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from core.auth import mint_token
from core.dynamodb_local import free_port
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

LOAN_PAGE = """query LoanPage($id: ID!) { loan(id: $id) {
  id title amount currency interestRate termMonths status version
  totalFunded fundingPercentage participantCount acceptedParticipantCount isFullyFunded
  borrower { userId displayName }
  participants(first: 10) { edges { node { participantId lenderEmail contributionAmount status lender { userId } } } }
  versions(last: 3) { edges { node { version changedAt changeReason } } }
  fundingHistory(last: 20) { edges { node { timestamp totalFunded } } }
} }"""


class Server:
    def __init__(
        self,
        endpoint: str,
        prefix: str,
        secret: str,
        argv: list[str] | None = None,
        log: Path | None = None,
        **env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {
            **os.environ,
            "LOANGRAPH_DYNAMODB_ENDPOINT": endpoint,
            "LOANGRAPH_TABLE_PREFIX": prefix,
            "LOANGRAPH_JWT_SECRET": secret,
            "LOANGRAPH_PORT": str(self.port),
            "LOANGRAPH_RATE_LIMIT_POINTS": "100000000",
            "LOANGRAPH_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc = subprocess.Popen(
            argv or [str(ROOT / ".venv/bin/loangraph"), "serve"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb") if log is not None else subprocess.DEVNULL,  # noqa: SIM115
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        self.proc.kill()
        raise RuntimeError(f"server did not start (see {log})" if log else "server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


async def _gql(
    c: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    r = await c.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


async def _loan_with_lenders(
    c: httpx.AsyncClient, settings: Settings, lenders: int
) -> tuple[str, str, list[tuple[str, str]]]:
    b = f"bench-b-{uuid.uuid4().hex[:6]}"
    tb = mint_token(settings, sub=b, email=f"{b}@example.com")
    d = await _gql(
        c,
        "mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id } } }",
        {"i": {"title": "Bench loan", "amount": "100000", "interestRate": "6.5", "termMonths": 36}},
        tb,
    )
    loan = d["createLoan"]["loan"]["id"]
    invited = []
    for i in range(lenders):
        email = f"{b}-l{i}@example.com"
        d = await _gql(
            c,
            "mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) { participant { id } } }",
            {"i": {"loanId": loan, "email": email, "amount": "100"}},
            tb,
        )
        invited.append((email, d["inviteParticipant"]["participant"]["id"]))
    return loan, tb, invited


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def throughput(
    url: str, settings: Settings, seconds: float = 8.0, levels: tuple[int, ...] = (1, 8, 32)
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=url, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as c:
        loan, tb, invited = await _loan_with_lenders(c, settings, 10)
        for email, pid in invited[:5]:
            await _gql(
                c,
                "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }",
                {"i": {"participantId": pid}},
                mint_token(settings, sub=email.split("@")[0], email=email),
            )
        out: dict[str, Any] = {}
        body = {"query": LOAN_PAGE, "variables": {"id": loan}}
        headers = {"Authorization": f"Bearer {tb}"}
        for n in levels:
            latencies: list[float] = []
            stop = time.monotonic() + seconds

            async def client() -> None:
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    r = await c.post("/graphql", json=body, headers=headers)
                    latencies.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]

            t0 = time.monotonic()
            await asyncio.gather(*(client() for _ in range(n)))
            elapsed = time.monotonic() - t0
            out[f"{n} clients"] = {
                "requests_per_s": round(len(latencies) / elapsed, 1),
                "p50_ms": round(statistics.median(latencies), 1),
                "p99_ms": round(_pct(latencies, 99), 1),
                "requests": len(latencies),
            }
        return out


async def fanout(url: str, settings: Settings, subscribers: int = 1000) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    sub_q = "subscription($id: ID!) { fundingProgress(loanId: $id) { totalFunded acceptedParticipantCount } }"
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        loan, tb, invited = await _loan_with_lenders(c, settings, 1)
        conns = []
        t_open = time.perf_counter()
        sem = asyncio.Semaphore(50)

        async def open_one(i: int) -> Any:
            async with sem:
                token = mint_token(
                    settings, sub=f"watcher-{i}", email=f"watcher-{i}@example.com", admin=True
                )
                ws = await connect(
                    ws_url,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    open_timeout=60,
                    max_queue=None,
                )
                await ws.send(
                    json.dumps(
                        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                    )
                )
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": sub_q, "variables": {"id": loan}},
                        }
                    )
                )
                first = json.loads(await ws.recv())
                assert first["type"] == "next", first
                return ws

        conns = await asyncio.gather(*(open_one(i) for i in range(subscribers)))
        opened = time.perf_counter() - t_open
        arrivals: list[float] = []

        async def wait_update(ws: Any) -> None:
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "next":
                    arrivals.append(time.perf_counter())
                    return

        waiters = [asyncio.create_task(wait_update(ws)) for ws in conns]
        email, pid = invited[0]
        await _gql(
            c,
            "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }",
            {"i": {"participantId": pid}},
            mint_token(settings, sub=email.split("@")[0], email=email),
        )
        committed = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*waiters), 60)
        for ws in conns:
            await ws.close()
        return {
            "subscribers": subscribers,
            "open_all_s": round(opened, 1),
            "commit_to_first_ms": round((min(arrivals) - committed) * 1000, 1),
            "commit_to_last_ms": round((max(arrivals) - committed) * 1000, 1),
        }
