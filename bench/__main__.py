"""`make bench`: start DynamoDB Local, seed, measure, print a table (and save JSON).

.venv/bin/python -m bench [--runs 15] [--only nested,guards,...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import bench_settings
from core.auth import mint_token
from core.dynamodb_local import DynamoDBLocal
from core.settings import Settings
from models import tables


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


async def run_nested(settings: Settings, runs: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from bench import nested
    from bench.dataset import seed_nested

    ds = seed_nested(100, 10, tag="bench")
    token = mint_token(settings, sub=ds.borrower.user_id, email=ds.borrower.email)
    pool = ThreadPoolExecutor(settings.db_threads)
    async with (
        nested.server_client(settings, token) as server,
        nested.server_client(settings, token, cached=True) as cached,
        nested.server_client(settings, token, naive=True) as naive,
    ):
        measured = await nested.interleaved(
            {
                "server": server,
                "server, warm process cache": cached,
                "naive": naive,
                "floor (boto3)": nested.floor_callable(settings, ds, pool),
                "strawberry from memory": nested.memory_callable(ds),
            },
            runs,
        )
    pool.shutdown()
    rows = {}
    for name, (median, samples, requests) in measured.items():
        rows[name] = {
            "median_ms": round(median, 1),
            "min_ms": round(min(samples), 1),
            "max_ms": round(max(samples), 1),
            "requests": requests,
            "runs": len(samples),
        }
    s, n, f, m = (
        rows[k]["median_ms"] for k in ("server", "naive", "floor (boto3)", "strawberry from memory")
    )
    rows["ratios"] = {
        "naive/server": round(n / s, 2),
        "server/(floor+memory)": round(s / (f + m), 2),
        "naive/server (warm cache)": round(n / rows["server, warm process cache"]["median_ms"], 2),
    }
    return rows


def run_live(endpoint: str, settings: Settings, subscribers: int) -> dict:
    from bench import live

    server = live.Server(endpoint, settings.table_prefix, settings.jwt_secret)
    try:
        return {
            "throughput": asyncio.run(live.throughput(server.url, settings)),
            "fanout": asyncio.run(live.fanout(server.url, settings, subscribers)),
        }
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default="bench/results/latest.json")
    ap.add_argument(
        "--only",
        default="",
        help="comma list of: nested, pages, scale, live, burst, guards, evidence",
    )
    ap.add_argument("--seconds", type=float, default=8.0, help="pages: per variant and load level")
    ap.add_argument("--profile", action="store_true", help="pages: profile the cached server")
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument(
        "--burst-subscribers", type=int, default=10_000, help="burst: over 2 replicas, 100 loans"
    )
    args = ap.parse_args()
    with DynamoDBLocal() as ddb:
        settings = bench_settings(ddb.endpoint)
        tables.configure(settings)
        tables.create_tables(settings)
        results: dict[str, Any] = {
            "machine": machine(),
            "date": dt.date.today().isoformat(),
            "git": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
        }
        only = (
            set(args.only.split(","))
            if args.only
            else {"nested", "pages", "scale", "live", "burst", "guards", "evidence"}
        )
        if "nested" in only:
            results["nested"] = asyncio.run(run_nested(settings, args.runs))
        if "pages" in only:
            from bench import page_cache

            assert ddb.proc is not None
            results["loan_page"] = page_cache.run(
                ddb.endpoint, ddb.proc.pid, settings, args.seconds, with_profile=args.profile
            )
        if "scale" in only:
            from bench import scale_out

            results["scale_out"] = scale_out.run(ddb.endpoint, settings, args.seconds)
        if "live" in only:
            results.update(run_live(ddb.endpoint, settings, args.subscribers))
        if "burst" in only:
            from bench import burst

            results["burst"] = burst.run(ddb.endpoint, settings, args.burst_subscribers)
        if "guards" in only:
            from bench import guards_overhead

            results["guards_overhead_us"] = guards_overhead.run(3000)
        if "evidence" in only:
            from bench import evidence

            results["evidence_us"] = evidence.run(2000)
    print(json.dumps(results, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
