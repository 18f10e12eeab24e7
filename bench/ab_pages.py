"""The cached loan page on this tree's server and on another commit's, at once.

    git worktree add --detach /tmp/base <commit>
    ln -s "$PWD/.venv" /tmp/base/.venv; ln -s "$PWD/node_modules" /tmp/base/node_modules
    .venv/bin/python -m bench.ab_pages --base /tmp/base [--rounds 10]

Both `loangraph serve` processes (the other one runs the base tree's code via
PYTHONPATH) read the same loan from one DynamoDB Local, page cache on, no event
dispatcher. Per round each server gets 150 sequential pages (server CPU per page
from /proc, wall p50) and 1.5 s at 8 clients (pages/s, CPU per page), the order
alternating between rounds, so both see the same machine. Printed: medians per
server and the median of the per-round ratios new / base."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import httpx

from bench import bench_settings, live
from bench.page_cache import ENV, _cpu_s
from core.auth import mint_token
from core.dynamodb_local import DynamoDBLocal
from core.settings import Settings
from models import tables

ACCEPT = (
    "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }"
)


async def measure(servers: dict[str, live.Server], settings: Settings, rounds: int) -> dict:
    async with httpx.AsyncClient(base_url=servers["new"].url, timeout=30) as c:
        loan, tb, invited = await live._loan_with_lenders(c, settings, 10)
        for email, participant_id in invited[:5]:
            lender = mint_token(settings, sub=email.split("@")[0], email=email)
            await live._gql(c, ACCEPT, {"i": {"participantId": participant_id}}, lender)
    body = {"query": live.LOAN_PAGE, "variables": {"id": loan}}
    headers = {"Authorization": f"Bearer {tb}"}
    clients = {
        k: httpx.AsyncClient(base_url=s.url, timeout=30, limits=httpx.Limits(max_connections=64))
        for k, s in servers.items()
    }
    res: dict[str, dict[str, list[float]]] = {
        k: {"cpu_ms_1": [], "p50_ms_1": [], "pages_per_s_8": [], "cpu_ms_8": []} for k in servers
    }
    try:
        for c in clients.values():
            for _ in range(30):
                r = await c.post("/graphql", json=body, headers=headers)
                assert "errors" not in r.json(), r.text[:300]
        for rnd in range(rounds):
            order = list(servers) if rnd % 2 == 0 else list(servers)[::-1]
            for k in order:
                c, pid = clients[k], servers[k].proc.pid
                lat: list[float] = []
                cpu0 = _cpu_s(pid)
                for _ in range(150):
                    t0 = time.perf_counter()
                    await c.post("/graphql", json=body, headers=headers)
                    lat.append(time.perf_counter() - t0)
                res[k]["cpu_ms_1"].append((_cpu_s(pid) - cpu0) / 150 * 1000)
                res[k]["p50_ms_1"].append(statistics.median(lat) * 1000)
                n = 0
                stop = time.monotonic() + 1.5
                cpu0 = _cpu_s(pid)

                async def client(c: Any = c) -> None:
                    nonlocal n
                    while time.monotonic() < stop:
                        await c.post("/graphql", json=body, headers=headers)
                        n += 1

                t0 = time.monotonic()
                await asyncio.gather(*(client() for _ in range(8)))
                res[k]["pages_per_s_8"].append(n / (time.monotonic() - t0))
                res[k]["cpu_ms_8"].append((_cpu_s(pid) - cpu0) / n * 1000)
    finally:
        for c in clients.values():
            await c.aclose()
    out: dict[str, Any] = {
        k: {m: round(statistics.median(v), 2) for m, v in d.items()} for k, d in res.items()
    }
    out["new/base, median of rounds"] = {
        m: round(
            statistics.median([a / b for a, b in zip(res["new"][m], res["base"][m], strict=True)]),
            3,
        )
        for m in res["new"]
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="a worktree of the commit to compare with")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    base_dir = os.path.abspath(args.base)
    with DynamoDBLocal() as ddb:
        s = bench_settings(ddb.endpoint, "ab_")
        tables.configure(s)
        tables.create_tables(s)
        common = (ddb.endpoint, s.table_prefix, s.jwt_secret)
        new = live.Server(*common, argv=None, log=None, **ENV)
        base = live.Server(
            *common,
            argv=[f"{base_dir}/.venv/bin/loangraph", "serve"],
            log=None,
            PYTHONPATH=base_dir,
            **ENV,
        )
        try:
            load = os.getloadavg()
            results = asyncio.run(measure({"base": base, "new": new}, s, args.rounds))
            print(json.dumps({"load": [load, os.getloadavg()], **results}, indent=1))
        finally:
            new.stop()
            base.stop()


if __name__ == "__main__":
    main()
