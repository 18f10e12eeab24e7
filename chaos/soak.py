"""The chaos soak: two server replicas, a worker, a real redis-server and
DynamoDB Local behind the fault proxy with a few percent of faults on every
operation; concurrent clients doing a realistic mix while `kill -9` hits a
replica, the worker and redis-server once each (each restarted). Then the
invariants are checked and a table is printed.

`python -m chaos --duration 180` (`make chaos`); `tests/faults/test_chaos.py`
runs a bounded version. This module runs the soak; its parts: `receiver.py`
(the webhook receiver), `clients.py` (the load), `watch.py` (the subscribers),
`invariants.py` (the checks afterwards), `report.py` (the table).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from chaos.clients import Clients
from chaos.invariants import check, settle
from chaos.procs import AppProcess, RedisProcess
from chaos.receiver import WEBHOOK_EVENTS, Receiver
from chaos.report import Report
from chaos.watch import Watcher, watch
from core.dynamodb_local import DynamoDBLocal, free_port
from core.settings import Settings
from faultproxy import FaultProxy

JWT_SECRET = "chaos-secret-for-loangraph-0123456789abcdef"


def fault_rules(rate: float, read_timeout: float) -> list[dict[str, Any]]:
    """A few percent of faults on every operation (`rate` per kind family)."""
    return [
        {"kind": "throttling", "probability": rate},
        {"kind": "provisioned_throughput", "probability": rate / 2},
        {"kind": "internal_error", "probability": rate / 2},
        {"kind": "request_limit", "probability": rate / 4},
        {"kind": "transaction_conflict", "probability": rate},
        {"kind": "unprocessed_keys", "probability": rate * 2},
        {"kind": "expired_iterator", "probability": rate},
        {"kind": "partial_records", "probability": rate * 4, "keep": 2},
        {"kind": "latency", "probability": rate, "delay": 0.05},
        {
            "kind": "slow",
            "targets": ["TransactWriteItems"],
            "probability": rate / 3,
            "delay": read_timeout + 0.5,
        },
        {"kind": "drop", "probability": rate / 4},
        {"kind": "drop_after", "probability": rate / 4},
    ]


def _metrics(url: str) -> dict[str, float]:
    out: dict[str, float] = Counter()
    try:
        text = httpx.get(url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return out
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        base = name.split("{", 1)[0]
        if base in (
            "loangraph_dynamodb_failed_attempts_total",
            "loangraph_retries_total",
            "loangraph_retry_give_ups_total",
            "loangraph_broker_outages_total",
            "loangraph_subscriptions_interrupted_total",
        ):
            out[base] += float(value)
    return out


async def run(
    duration: float = 60.0,
    clients: int = 6,
    fault_rate: float = 0.02,
    seed: int = 1,
    dynamodb_endpoint: str | None = None,
    workdir: Path | None = None,
    kills: bool = True,
    memory_bound_mb: float = 60.0,
    log: Any = print,
) -> Report:
    report = Report()
    work = workdir or Path(tempfile.mkdtemp(prefix="chaos-"))
    ddb = None
    if dynamodb_endpoint is None:
        ddb = DynamoDBLocal().start(timeout=180)
        dynamodb_endpoint = ddb.endpoint
    read_timeout = 2.0
    proxy = FaultProxy(dynamodb_endpoint).start_in_thread()
    redis = RedisProcess().start()
    receiver = Receiver()
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        dynamodb_endpoint=dynamodb_endpoint,
        table_prefix=prefix,
        jwt_secret=JWT_SECRET,
        create_tables=False,
    )
    from core import db
    from models import tables

    tables.configure(settings)
    await db.run_db(tables.create_tables, settings)
    env = {
        "LOANGRAPH_DYNAMODB_ENDPOINT": proxy.endpoint,
        "LOANGRAPH_TABLE_PREFIX": prefix,
        "LOANGRAPH_JWT_SECRET": JWT_SECRET,
        "LOANGRAPH_REDIS_URL": redis.url,
        "LOANGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",
        "LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "LOANGRAPH_WEBHOOK_LEASE_SECONDS": "3",
        "LOANGRAPH_STREAM_LEASE_SECONDS": "3",
        "LOANGRAPH_DB_READ_TIMEOUT": str(read_timeout),
        "LOANGRAPH_RATE_LIMIT_POINTS": "10000000",
        "LOANGRAPH_CREATE_TABLES": "false",
        "LOANGRAPH_LOG_LEVEL": "WARNING",
    }
    a = AppProcess("serve", env, work / "replica-a.log", port=free_port())
    b = AppProcess("serve", env, work / "replica-b.log", port=free_port())
    worker = AppProcess("worker", env, work / "worker.log")
    procs = [a, b, worker]
    watchers: list[Watcher] = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    c: Clients | None = None
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        worker.start()
        c = Clients(report, [a, b], settings, seed)
        d = await c.gql(
            "registerWebhook",
            "mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) { errors { code } } }",
            {"i": {"url": receiver.url, "events": WEBHOOK_EVENTS}},
            c.admin,
        )
        assert d is not None, "webhook registration failed"
        # Warm-up: a few loans, the subscribers, then the memory baseline.
        for _ in range(4):
            await c.create()
        for _ in range(8):
            await c.invite()
        for loan in c.loans[:4]:
            for replica in (a, b):
                w = Watcher(loan, replica)
                watchers.append(w)
                tasks.append(asyncio.create_task(watch(w, stop)))
        await asyncio.sleep(1.0)
        report.memory["warm"] = b.rss_bytes()
        report.calls.clear()

        proxy.set_rules(fault_rules(fault_rate, read_timeout), seed=seed)
        log(
            f"chaos: {duration:.0f}s, {clients} clients, faults at {fault_rate:.1%} per kind, "
            f"logs in {work}"
        )
        t0 = time.monotonic()
        deadline = t0 + duration

        async def client_loop(i: int) -> None:
            while time.monotonic() < deadline:
                await c.step()

        async def killer() -> None:
            if not kills:
                return
            plan = [(0.25, "replica A", a), (0.5, "worker", worker), (0.7, "redis-server", redis)]
            for at, name, proc in plan:
                await asyncio.sleep(max(0.0, t0 + at * duration - time.monotonic()))
                proc.kill()
                proc.down = True
                report.kills.append(name)
                log(f"chaos: kill -9 {name} at {time.monotonic() - t0:.0f}s")
                await asyncio.sleep(1.0)
                await asyncio.to_thread(proc.start)
                proc.down = False
                log(f"chaos: {name} restarted at {time.monotonic() - t0:.0f}s")

        await asyncio.gather(*(client_loop(i) for i in range(clients)), killer())
        report.duration = time.monotonic() - t0
        proxy.set_rules([])
        log("chaos: load done; faults off; letting events settle")
        await settle(c, receiver, watchers, settings)
        report.memory["end"] = b.rss_bytes()
        report.proxy = proxy.plan.stats()
        for replica in (a, b):
            for k, v in _metrics(replica.url).items():
                report.app_metrics[k] = report.app_metrics.get(k, 0) + v
        report.webhook_deliveries = sum(receiver.ids.values())
        report.subscription_updates = sum(w.updates for w in watchers)
        report.subscription_restarts = sum(w.restarts for w in watchers)
        await check(report, c, receiver, watchers, settings, env, memory_bound_mb)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if c is not None:
            await c.http.aclose()
        for p in procs:
            p.stop()
        redis.stop()
        receiver.stop()
        proxy.stop_thread()
        if ddb is not None:
            ddb.stop()
    return report
