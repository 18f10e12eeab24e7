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

from core import db
from core.auth import mint_token
from core.dynamodb_local import DynamoDBLocal
from core.settings import Settings


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
    from bench import nested
    from bench.dataset import seed_nested

    ds = seed_nested(100, 10, tag="bench")
    token = mint_token(settings, sub=ds.borrower.user_id, email=ds.borrower.email)
    rows = {}
    for name, coro in (
        ("server", nested.measure_server(settings, token, runs)),
        ("server, warm process cache", nested.measure_server(settings, token, runs, cached=True)),
        ("naive", nested.measure_server(settings, token, max(3, runs // 3), naive=True)),
        ("floor (boto3)", nested.measure_floor(settings, ds, runs)),
        ("strawberry from memory", nested.measure_memory(ds, runs)),
    ):
        median, samples, requests = await coro
        rows[name] = {"median_ms": round(median, 1), "min_ms": round(min(samples), 1),
                      "max_ms": round(max(samples), 1), "requests": requests, "runs": len(samples)}
    s, n, f, m = (rows[k]["median_ms"] for k in ("server", "naive", "floor (boto3)", "strawberry from memory"))
    rows["ratios"] = {"naive/server": round(n / s, 2), "server/(floor+memory)": round(s / (f + m), 2)}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default="bench/results/latest.json")
    args = ap.parse_args()
    with DynamoDBLocal() as ddb:
        settings = Settings(dynamodb_endpoint=ddb.endpoint, table_prefix="bench_", create_tables=False,
                            jwt_secret="bench-secret-0123456789abcdef0123456789")
        db.configure(settings)
        db.create_tables(settings)
        results = {"machine": machine(), "date": dt.date.today().isoformat(),
                   "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()}
        results["nested"] = asyncio.run(run_nested(settings, args.runs))
    print(json.dumps(results, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
