"""A burst of changes to many loans under 10,000 subscribers on two replicas.

`.venv/bin/python -m bench --only burst` (part of `make bench`): DynamoDB Local,
a real redis-server, one `loangraph worker` (the dispatcher: it tails the audit
stream and publishes to Redis) and two `loangraph serve` replicas (uvicorn).
100 loans, 10 lenders invited to each; 10,000 graphql-transport-ws subscribers
to `fundingProgress`, 100 per loan, half of them lenders of the loan (re-checked
on every acceptance) and half its borrower, alternating between the replicas,
opened by `CLIENTS` subscriber processes (bench/burst_client.py). Then one
acceptance on each loan, 20 at a time, alternating replicas.

Reported: from each acceptance request's start to each of its loan's
subscribers' receipt of the update (p50/p95/p99/max over all 10,000), the
acceptances' own latency, subscriptions opened per second, server RSS per
idle subscriber (both replicas' RSS after opening minus before, divided by the
subscribers), and whether every subscriber got exactly its one update.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import live
from bench.scale_out import _redis
from core.auth import mint_token
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 4
ACCEPT = (
    "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }"
)


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class _Profile:
    """BURST_PYSPY=<dir>: py-spy (collapsed stacks) of `pids` while a phase runs."""

    def __init__(self, phase: str, pids: dict[str, int]) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        out = os.environ.get("BURST_PYSPY")
        if not out:
            return
        for name, pid in pids.items():
            self.procs.append(
                subprocess.Popen(
                    [
                        str(ROOT / ".venv/bin/py-spy"),
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "-r",
                        os.environ.get("BURST_PYSPY_RATE", "50"),
                        "-o",
                        f"{out}/{phase}-{name}.txt",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(2)
        for p in self.procs:
            p.wait(30)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid_listening_on(endpoint: str) -> int | None:
    """The DynamoDB Local JVM serving `endpoint` (by its -port argument)."""
    port = endpoint.rsplit(":", 1)[1].strip("/")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-port" in argv and port.encode() in argv and any(b"DynamoDBLocal" in a for a in argv):
            return int(d.name)
    return None


def db_requests(urls: list[str]) -> dict[str, list[float]]:
    """DynamoDB calls (by operation) and HTTP requests (by route) so far,
    [count, seconds], summed over the replicas' /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[float]] = {}
    histograms = {
        "loangraph_dynamodb_request_duration_seconds": "operation",
        "loangraph_http_request_duration_seconds": "route",
    }
    for url in urls:
        text = httpx.get(url + "/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            label = histograms.get(family.name)
            if label is None:
                continue
            for sample in family.samples:
                kind = sample.name[len(family.name) :]
                if kind in ("_count", "_sum"):
                    totals = out.setdefault(sample.labels[label], [0.0, 0.0])
                    totals[kind == "_sum"] += sample.value
    return out


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


async def _setup_loans(
    urls: list[str], settings: Settings, loans: int, lenders: int
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    sem = asyncio.Semaphore(10)

    async def one(j: int) -> Any:
        async with sem, httpx.AsyncClient(base_url=urls[j % 2], timeout=60) as c:
            return await live._loan_with_lenders(c, settings, lenders)

    return list(await asyncio.gather(*(one(j) for j in range(loans))))


def _subscribers(
    urls: list[str], settings: Settings, loans: list[Any], per_loan: int, lenders: int
) -> list[tuple[int, list[Any]]]:
    """(loan index, [url, sub, email, loan gid]) for every subscriber."""
    out = []
    for j, (loan, tb, invited) in enumerate(loans):
        borrower_sub = next(iter(_claims(tb, settings).values()))
        for k in range(per_loan):
            url = urls[k % 2]
            if (k // 2) % 2 == 0:
                email = invited[(k // 4) % lenders][0]
                sub = email.split("@")[0]
            else:
                sub, email = borrower_sub, f"{borrower_sub}@example.com"
            out.append((j, [url, sub, email, loan]))
    return out


def _claims(token: str, settings: Settings) -> dict[str, Any]:
    import jwt

    return {"sub": jwt.decode(token, options={"verify_signature": False})["sub"]}


def start_client(secret: str, subscribers: list[list[Any]]) -> subprocess.Popen[str]:
    """One bench/burst_client.py process opening `subscribers` ([url, sub,
    email, loan global id] each); it prints `OPENED <s> <errors>` when done."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.burst_client"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"secret": secret, "subscribers": subscribers}) + "\n")
    proc.stdin.flush()
    return proc


def _start_clients(
    settings: Settings, subs: list[tuple[int, list[Any]]]
) -> list[tuple[subprocess.Popen[str], list[int]]]:
    clients = []
    for c in range(CLIENTS):
        mine = [i for i in range(len(subs)) if i % CLIENTS == c]
        proc = start_client(settings.jwt_secret, [subs[i][1] for i in mine])
        clients.append((proc, mine))
    return clients


async def _burst(
    urls: list[str], settings: Settings, loans: list[Any], concurrency: int
) -> tuple[dict[int, float], dict[int, float], list[float], list[str]]:
    started: dict[int, float] = {}
    finished: dict[int, float] = {}
    took: list[float] = []
    problems: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    clients = [
        httpx.AsyncClient(base_url=u, timeout=60, limits=httpx.Limits(max_connections=concurrency))
        for u in urls
    ]

    async def accept(j: int) -> None:
        email, pid = loans[j][2][0]
        token = mint_token(settings, sub=email.split("@")[0], email=email)
        async with sem:
            t0 = time.monotonic()
            started[j] = t0
            r = await clients[j % 2].post(
                "/graphql",
                json={"query": ACCEPT, "variables": {"i": {"participantId": pid}}},
                headers={"Authorization": f"Bearer {token}"},
            )
            finished[j] = time.monotonic()
            took.append((finished[j] - t0) * 1000)
            body = r.json()
            if "errors" in body or body["data"]["acceptInvitation"]["errors"]:
                problems.append(str(body)[:300])

    try:
        await asyncio.gather(*(accept(j) for j in range(len(loans))))
    finally:
        for c in clients:
            await c.aclose()
    return started, finished, took, problems


def _analyse(
    subs: list[tuple[int, list[Any]]],
    records: dict[int, list[Any]],
    started: dict[int, float],
    finished: dict[int, float],
) -> dict[str, Any]:
    latencies: list[float] = []
    after_response: list[float] = []
    exact, missing, extra, wrong = 0, 0, 0, []
    for i, (j, _) in enumerate(subs):
        updates = []
        for t, raw in records.get(i, []):
            if raw.startswith("CLOSED"):
                wrong.append(raw[:200])
                continue
            msg = json.loads(raw)
            if msg.get("type") == "next":
                updates.append((t, msg["payload"]))
            elif msg.get("type") not in ("ping", "pong"):
                wrong.append(raw[:200])
        good = [
            (t, p)
            for t, p in updates
            if "errors" not in p
            and p["data"]["fundingProgress"]["event"] == "PARTICIPANT_ACCEPTED"
            and p["data"]["fundingProgress"]["acceptedParticipantCount"] == 1
            and p["data"]["fundingProgress"]["totalFunded"] == "100.00"
        ]
        if len(updates) == 1 and len(good) == 1:
            exact += 1
        if not good:
            missing += 1
        if len(updates) > 1:
            extra += 1
        if len(updates) != len(good):
            wrong.extend(str(p)[:200] for _, p in updates if (_, p) not in good)
        if good:
            latencies.append((good[0][0] - started[j]) * 1000)
            after_response.append((good[0][0] - finished[j]) * 1000)
    return {
        "latencies": latencies,
        "after_response": after_response,
        "exact": exact,
        "missing": missing,
        "extra": extra,
        "wrong": wrong[:5],
    }


def run(
    endpoint: str,
    settings: Settings,
    subscribers: int = 10_000,
    loans: int = 100,
    lenders: int = 10,
    concurrency: int = 20,
) -> dict[str, Any]:
    nofile = raise_nofile()
    redis, redis_url = _redis()
    prefix = f"burst{uuid.uuid4().hex[:6]}_"
    env = {"LOANGRAPH_REDIS_URL": redis_url}
    args = (endpoint, prefix, settings.jwt_secret)
    from models import tables

    # Created here once: three processes creating them at once race on TTL updates.
    tables.create_tables(Settings(dynamodb_endpoint=endpoint, table_prefix=prefix))
    worker_log = open(Path(tempfile.gettempdir()) / f"bench-{prefix}worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/loangraph"), "worker", "--no-create-tables"],
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "LOANGRAPH_DYNAMODB_ENDPOINT": endpoint,
            "LOANGRAPH_TABLE_PREFIX": prefix,
            "LOANGRAPH_JWT_SECRET": settings.jwt_secret,
            "LOANGRAPH_LOG_LEVEL": "WARNING",
            **env,
        },
    )
    servers: list[live.Server] = []
    clients: list[tuple[subprocess.Popen[str], list[int]]] = []
    try:
        logs = [Path(tempfile.gettempdir()) / f"bench-{prefix}{n}.log" for n in "ab"]
        argv = [str(ROOT / ".venv/bin/loangraph"), "serve", "--no-create-tables"]
        servers = [live.Server(*args, argv=argv, log=log, **env) for log in logs]
        urls = [s.url for s in servers]
        settings = Settings(jwt_secret=settings.jwt_secret)
        t0 = time.monotonic()
        loan_rows = asyncio.run(_setup_loans(urls, settings, loans, lenders))
        setup_s = time.monotonic() - t0
        time.sleep(2)  # the setup's own events pass before the subscribers come
        subs = _subscribers(urls, settings, loan_rows, subscribers // loans, lenders)
        rss_before = [rss_kb(s.proc.pid) for s in servers]
        pids = {"a": servers[0].proc.pid, "b": servers[1].proc.pid, "worker": worker.pid}
        prof = _Profile("open", pids)
        t0 = time.monotonic()
        clients = _start_clients(settings, subs)
        open_errors = 0
        open_s = []
        for proc, _ in clients:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            if not line or line[0] != "OPENED":
                raise RuntimeError(f"subscriber process failed: {line}")
            open_s.append(float(line[1]))
            open_errors += int(line[2])
        opened_s = time.monotonic() - t0
        prof.stop()
        time.sleep(3)  # idle
        rss_after = [rss_kb(s.proc.pid) for s in servers]
        db_before = db_requests(urls)
        roles = {**pids, "redis": redis.pid}
        ddb_pid = _pid_listening_on(endpoint)
        if ddb_pid is not None:
            roles["dynamodb_local"] = ddb_pid
        for n, (proc, _) in enumerate(clients):
            roles[f"client{n}"] = proc.pid
        roles["bench"] = os.getpid()
        cpu_before = {r: cpu_seconds(pid) for r, pid in roles.items()}
        t_burst = time.monotonic()
        prof = _Profile("burst", pids)
        started, finished, took, problems = asyncio.run(
            _burst(urls, settings, loan_rows, concurrency)
        )
        burst_s = time.monotonic() - t_burst
        cpu_burst = {r: round(cpu_seconds(pid) - cpu_before[r], 2) for r, pid in roles.items()}
        time.sleep(6)  # late or duplicate updates would arrive by now
        prof.stop()
        db_after = db_requests(urls)
        records: dict[int, list[Any]] = {}
        for proc, mine in clients:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("DONE\n")
            proc.stdin.flush()
            out = json.loads(proc.stdout.readline())
            for i, rec in zip(mine, out["records"], strict=True):
                records[i] = rec
            proc.wait(30)
        a = _analyse(subs, records, started, finished)
        lat = a["latencies"]
        per_sub = (sum(rss_after) - sum(rss_before)) / len(subs)
        return {
            "subscribers": len(subs),
            "loans": loans,
            "replicas": 2,
            "acceptances": len(started),
            "concurrency": concurrency,
            "open_files_limit": nofile,
            "setup_s": round(setup_s, 1),
            "open_all_s": round(opened_s, 1),
            "subscriptions_opened_per_s": round(len(subs) / opened_s, 0),
            "open_errors": open_errors,
            "rss_before_mib": [round(r / 1024, 1) for r in rss_before],
            "rss_idle_mib": [round(r / 1024, 1) for r in rss_after],
            "rss_per_idle_subscriber_kb": round(per_sub, 1),
            "accept_p50_ms": round(_pct(took, 50), 1),
            "accept_p99_ms": round(_pct(took, 99), 1),
            "accept_errors": problems[:5],
            "update_p50_ms": round(_pct(lat, 50), 1),
            "update_p95_ms": round(_pct(lat, 95), 1),
            "update_p99_ms": round(_pct(lat, 99), 1),
            "update_max_ms": round(max(lat), 1) if lat else None,
            # The fan-out alone: from the acceptance's response (its commit) to receipt.
            "response_to_update_p50_ms": round(_pct(a["after_response"], 50), 1),
            "response_to_update_p99_ms": round(_pct(a["after_response"], 99), 1),
            # The replicas' DynamoDB calls during the burst (the worker's are not counted).
            # CPU seconds each process spent while the acceptances ran (burst_s).
            "burst_s": round(burst_s, 2),
            "cpu_s_during_burst": cpu_burst,
            # [calls, mean ms] by operation.
            "replica_dynamodb_requests": {
                op: [int(n - b[0]), round((t - b[1]) * 1000 / (n - b[0]), 1)]
                for op, (n, t) in sorted(db_after.items())
                if n != (b := db_before.get(op, [0.0, 0.0]))[0]
            },
            "every_subscriber_exactly_its_update": a["exact"] == len(subs),
            "exact": a["exact"],
            "missing": a["missing"],
            "extra": a["extra"],
            "unexpected": a["wrong"],
            "target_p99_under_1s": bool(lat) and _pct(lat, 99) < 1000 and a["exact"] == len(subs),
        }
    finally:
        for proc, _ in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for s in servers:
            s.stop()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
        redis.terminate()
        redis.wait(10)


if __name__ == "__main__":
    from bench import bench_settings
    from core.dynamodb_local import DynamoDBLocal
    from models import tables

    with DynamoDBLocal() as ddb:
        s = bench_settings(ddb.endpoint)
        tables.configure(s)
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
        print(json.dumps(run(ddb.endpoint, s, subscribers=n), indent=2))
