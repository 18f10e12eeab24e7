"""The chaos soak: two server replicas, a worker, a real redis-server and
DynamoDB Local behind the fault proxy with a few percent of faults on every
operation; concurrent clients doing a realistic mix while `kill -9` hits a
replica, the worker and redis-server once each (each restarted). Then the
invariants are checked and a table is printed.

`python -m chaos --duration 180` (`make chaos`); `tests/faults/test_chaos.py`
runs a bounded version.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from chaos.procs import ROOT, AppProcess, RedisProcess
from core.auth import mint_token
from core.dynamodb_local import DynamoDBLocal, free_port
from core.settings import Settings
from events.types import EVENT_TYPES
from faultproxy import FaultProxy

JWT_SECRET = "chaos-secret-for-loangraph-0123456789abcdef"
WEBHOOK_EVENTS = list(EVENT_TYPES)


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


# ---------------------------------------------------------------- webhook receiver
class Receiver:
    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with receiver.lock:
                    receiver.ids[self.headers.get("X-Loangraph-Event-Id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the report
@dataclass
class Call:
    op: str
    request_id: str
    outcome: str  # ok | domain:<CODE> | error:<CODE> | transport | http:<status>
    seconds: float


@dataclass
class Report:
    duration: float = 0.0
    calls: list[Call] = field(default_factory=list)
    proxy: dict[str, Any] = field(default_factory=dict)
    app_metrics: dict[str, float] = field(default_factory=dict)
    webhook_deliveries: int = 0
    subscription_updates: int = 0
    subscription_restarts: int = 0
    memory: dict[str, int] = field(default_factory=dict)
    invariants: dict[str, tuple[bool, str]] = field(default_factory=dict)
    kills: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(held for held, _ in self.invariants.values())

    def table(self) -> str:
        lat = sorted(c.seconds for c in self.calls)
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
        out = ["", "chaos soak", "=" * 72]
        row = lambda k, v: out.append(f"{k:<44} {v}")  # noqa: E731
        row("duration (s)", f"{self.duration:.0f}")
        row("kills (kill -9, restarted)", ", ".join(self.kills) or "none")
        row("client requests (HTTP)", len(self.calls))
        row("  p50 / p99 latency (ms)", f"{p(0.5):.0f} / {p(0.99):.0f}")
        row("DynamoDB requests through the proxy", self.proxy.get("requests_total", 0))
        row("faults injected (total)", self.proxy.get("injected_total", 0))
        for kind, ops in sorted(self.proxy.get("injected", {}).items()):
            row(f"  {kind}", sum(ops.values()))
        for name, value in sorted(self.app_metrics.items()):
            row(name, f"{value:.0f}")
        outcomes = Counter(c.outcome for c in self.calls)
        row("client-visible outcomes", "")
        for outcome, n in sorted(outcomes.items()):
            row(f"  {outcome}", n)
        row("webhook deliveries received", self.webhook_deliveries)
        row("subscription updates received", self.subscription_updates)
        row("subscriptions restarted by clients", self.subscription_restarts)
        if self.memory:
            row(
                "replica B RSS after warm-up -> end (MB)",
                f"{self.memory['warm'] / 2**20:.0f} -> {self.memory['end'] / 2**20:.0f}",
            )
        out.append("-" * 72)
        for name, (held, detail) in self.invariants.items():
            out.append(f"{'HELD ' if held else 'BROKEN'} {name}: {detail}")
        out.append("=" * 72)
        return "\n".join(out)


# ---------------------------------------------------------------- clients
CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id loanId version } errors { code } } }"""
INVITE = """mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) { participant { id } errors { code } } }"""
ACCEPT = """mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { loan { version } errors { code } } }"""
DECLINE = """mutation($i: RespondToInvitationInput!) { declineInvitation(input: $i) { loan { version } errors { code } } }"""
REMOVE = """mutation($i: RemoveParticipantInput!) { removeParticipant(input: $i) { participant { id } errors { code } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) { loan { version } errors { code } } }"""
REVERT = """mutation($i: RevertLoanTermsInput!) { revertLoanTerms(input: $i) { loan { version } errors { code } } }"""
DELETE = """mutation($i: DeleteLoanInput!) { deleteLoan(input: $i) { loan { version } errors { code } } }"""
RESTORE = """mutation($i: RestoreLoanInput!) { restoreLoan(input: $i) { loan { version } errors { code } } }"""
READ = """query($id: ID!) { loan(id: $id, includeDeleted: true) { loanId version amount totalFunded status deletedAt
  participants(first: 50) { edges { node { id status } } } } }"""
SUBSCRIPTION = """subscription($id: ID!) { fundingProgress(loanId: $id) {
  totalFunded participantCount acceptedParticipantCount status version } }"""


@dataclass
class Person:
    user_id: str
    email: str
    token: str


@dataclass
class LoanRef:
    gid: str
    loan_id: str
    borrower: Person
    invited: list[tuple[str, Person]] = field(default_factory=list)


class Clients:
    def __init__(
        self, report: Report, replicas: list[AppProcess], settings: Settings, seed: int
    ) -> None:
        self.report = report
        self.replicas = replicas
        self.rng = random.Random(seed)
        mk = lambda p, admin=False: Person(  # noqa: E731
            f"{p}",
            f"{p}@example.com",
            mint_token(settings, sub=p, email=f"{p}@example.com", admin=admin),
        )
        run = uuid.uuid4().hex[:6]
        self.admin = mk(f"admin-{run}", admin=True)
        self.borrowers = [mk(f"b{i}-{run}") for i in range(3)]
        self.lenders = [mk(f"l{i}-{run}") for i in range(6)]
        self.loans: list[LoanRef] = []
        self.http = httpx.AsyncClient(timeout=30)

    async def gql(
        self,
        op: str,
        query: str,
        variables: dict[str, Any],
        who: Person,
        replica: AppProcess | None = None,
    ) -> dict[str, Any] | None:
        replica = replica or self.rng.choice(self.live())
        rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        try:
            r = await self.http.post(
                replica.url + "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {who.token}", "X-Request-ID": rid},
            )
        except httpx.HTTPError:
            self.report.calls.append(Call(op, rid, "transport", time.perf_counter() - t0))
            return None
        seconds = time.perf_counter() - t0
        if r.status_code >= 500:
            self.report.calls.append(Call(op, rid, f"http:{r.status_code}", seconds))
            return None
        body = r.json()
        if body.get("errors"):
            code = (body["errors"][0].get("extensions") or {}).get("code", "?")
            self.report.calls.append(Call(op, rid, f"error:{code}", seconds))
            return None
        data = body.get("data") or {}
        payload = next(iter(data.values()), None) if data else None
        if isinstance(payload, dict) and payload.get("errors"):
            self.report.calls.append(
                Call(op, rid, f"domain:{payload['errors'][0]['code']}", seconds)
            )
            return None
        self.report.calls.append(Call(op, rid, "ok", seconds))
        return data

    def live(self) -> list[AppProcess]:
        """The replicas a load balancer would send to (a killed one is out until
        it answers /healthz again; requests already in flight still fail)."""
        return [r for r in self.replicas if not r.down] or self.replicas

    async def create(self) -> None:
        b = self.rng.choice(self.borrowers)
        d = await self.gql(
            "createLoan",
            CREATE,
            {"i": {"title": "Chaos", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            b,
        )
        if d:
            loan = d["createLoan"]["loan"]
            self.loans.append(LoanRef(loan["id"], loan["loanId"], b))

    def pick(self) -> LoanRef | None:
        return self.rng.choice(self.loans) if self.loans else None

    async def invite(self) -> None:
        loan = self.pick()
        if loan is None:
            return
        lender = self.rng.choice(self.lenders)
        amount = str(self.rng.choice([100, 200, 300, 400, 600]))
        d = await self.gql(
            "inviteParticipant",
            INVITE,
            {"i": {"loanId": loan.gid, "email": lender.email, "amount": amount}},
            loan.borrower,
        )
        if d:
            loan.invited.append((d["inviteParticipant"]["participant"]["id"], lender))

    async def respond(self, accept: bool) -> None:
        loan = self.pick()
        if loan is None or not loan.invited:
            return
        pid, lender = self.rng.choice(loan.invited)
        if accept:
            await self.gql("acceptInvitation", ACCEPT, {"i": {"participantId": pid}}, lender)
        else:
            await self.gql("declineInvitation", DECLINE, {"i": {"participantId": pid}}, lender)

    async def race_accepts(self) -> None:
        """Two lenders accept on the same loan at once, through different replicas."""
        loan = self.pick()
        if loan is None or len(loan.invited) < 2:
            return
        (p1, l1), (p2, l2) = self.rng.sample(loan.invited, 2)
        await asyncio.gather(
            self.gql(
                "acceptInvitation", ACCEPT, {"i": {"participantId": p1}}, l1, self.replicas[0]
            ),
            self.gql(
                "acceptInvitation", ACCEPT, {"i": {"participantId": p2}}, l2, self.replicas[1]
            ),
        )

    async def remove(self) -> None:
        loan = self.pick()
        if loan is None or not loan.invited:
            return
        pid, _ = self.rng.choice(loan.invited)
        await self.gql(
            "removeParticipant",
            REMOVE,
            {"i": {"participantId": pid, "reason": "chaos"}},
            loan.borrower,
        )

    async def read(self, loan: LoanRef) -> dict[str, Any] | None:
        d = await self.gql("loan", READ, {"id": loan.gid}, loan.borrower)
        return d["loan"] if d else None

    async def update(self, revert: bool = False) -> None:
        loan = self.pick()
        if loan is None:
            return
        state = await self.read(loan)
        if not state:
            return
        v = int(state["version"])
        if revert and v > 1:
            await self.gql(
                "revertLoanTerms",
                REVERT,
                {
                    "i": {
                        "id": loan.gid,
                        "toVersion": 1,
                        "expectedVersion": v,
                        "changeReason": "chaos",
                    }
                },
                loan.borrower,
            )
        else:
            amount = str(self.rng.choice([1000, 1200, 1500, 2000]))
            await self.gql(
                "updateLoanTerms",
                UPDATE,
                {
                    "i": {
                        "id": loan.gid,
                        "expectedVersion": v,
                        "changeReason": "chaos",
                        "amount": amount,
                    }
                },
                loan.borrower,
            )

    async def delete_restore(self) -> None:
        loan = self.pick()
        if loan is None:
            return
        if self.rng.random() < 0.5:
            await self.gql(
                "deleteLoan", DELETE, {"i": {"id": loan.gid, "reason": "chaos"}}, loan.borrower
            )
        else:
            await self.gql("restoreLoan", RESTORE, {"i": {"id": loan.gid}}, loan.borrower)

    async def step(self) -> None:
        ops = [
            (self.create, 3),
            (self.invite, 6),
            (lambda: self.respond(True), 4),
            (lambda: self.respond(False), 1),
            (self.race_accepts, 2),
            (self.remove, 1),
            (self.update, 2),
            (lambda: self.update(revert=True), 1),
            (self.delete_restore, 1),
            (self.read_some, 6),
        ]
        fn = self.rng.choices([f for f, _ in ops], weights=[w for _, w in ops])[0]
        await fn()

    async def read_some(self) -> None:
        loan = self.pick()
        if loan is not None:
            await self.read(loan)


# ---------------------------------------------------------------- subscribers
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


# ---------------------------------------------------------------- the run
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
        await _settle(c, receiver, watchers, settings)
        report.memory["end"] = b.rss_bytes()
        report.proxy = proxy.plan.stats()
        for replica in (a, b):
            for k, v in _metrics(replica.url).items():
                report.app_metrics[k] = report.app_metrics.get(k, 0) + v
        report.webhook_deliveries = sum(receiver.ids.values())
        report.subscription_updates = sum(w.updates for w in watchers)
        report.subscription_restarts = sum(w.restarts for w in watchers)
        await _check(report, c, receiver, watchers, settings, env, memory_bound_mb)
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


async def _final_states(c: Clients) -> dict[str, dict[str, Any]]:
    out = {}
    for loan in c.loans:
        for _ in range(5):
            state = await c.read(loan)
            if state:
                out[loan.loan_id] = state
                break
    return out


async def _settle(
    c: Clients, receiver: Receiver, watchers: list[Watcher], settings: Settings
) -> None:
    """Wait until webhooks and subscribers have caught up (or 90 s)."""
    from core import db

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        expected = await db.run_db(_expected_webhook_ids, c)
        if expected <= set(receiver.ids):
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(2.0)


def _audit_entries(c: Clients) -> list[Any]:
    from models import AuditEntry

    out = []
    for loan in c.loans:
        out.extend(AuditEntry.by_loan.query(loan.loan_id))
    return out


def _expected_webhook_ids(c: Clients) -> set[str]:
    return {e.audit_id for e in _audit_entries(c) if e.event in WEBHOOK_EVENTS}


async def _check(
    report: Report,
    c: Clients,
    receiver: Receiver,
    watchers: list[Watcher],
    settings: Settings,
    env: dict[str, str],
    memory_bound_mb: float,
) -> None:
    from core import db
    from models import AuditEntry, Loan

    inv = report.invariants
    # check-integrity, as an operator would run it (direct to DynamoDB).
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / ".venv/bin/loangraph"), "check-integrity"],
        cwd=ROOT,
        env={**os.environ, **env, "LOANGRAPH_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint or ""},
        capture_output=True,
        text=True,
    )
    last = (proc.stdout.strip().splitlines() or ["?"])[-1]
    inv["check-integrity finds nothing"] = (proc.returncode == 0, last)

    loans = await db.run_db(lambda: [Loan.get(x.loan_id, consistent_read=True) for x in c.loans])
    over = [x.loan_id for x in loans if Decimal(x.total_funded or 0) > Decimal(x.amount)]
    inv["no loan overfunded"] = (not over, f"{len(loans)} loans, overfunded: {over or 'none'}")

    # Mutations: succeeded -> exactly one transaction in the audit log; failed -> no trace.
    def by_request() -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for e in AuditEntry.scan(consistent_read=True):
            if e.request_id:
                out.setdefault(e.request_id, []).append(e)
        return out

    audit = await db.run_db(by_request)
    mutations = [x for x in report.calls if x.op not in ("loan",)]
    twice, missing, traces, unknown = [], [], [], 0
    for call in mutations:
        entries = audit.get(call.request_id, [])
        if call.outcome == "ok":
            if not entries:
                missing.append(call.op)
                continue
            txs = Counter((e.context or {}).get("tx", {}).get("index") for e in entries)
            size = ((entries[0].context or {}).get("tx") or {}).get("size", len(entries))
            if len(entries) != size or any(n > 1 for n in txs.values()):
                twice.append(call.op)
        elif call.outcome in ("transport",) or call.outcome.startswith("http:"):
            unknown += 1  # the connection died (replica killed): outcome unknowable
        elif entries:
            traces.append(f"{call.op}:{call.outcome}")
    ok = sum(1 for x in mutations if x.outcome == "ok")
    inv["every successful mutation audited exactly once"] = (
        not twice and not missing,
        f"{ok} succeeded; applied twice: {len(twice)}; missing: {len(missing)}",
    )
    inv["every failed mutation left no trace"] = (
        not traces,
        f"{len(mutations) - ok - unknown} failed; with a trace: {traces[:5] or 'none'}; "
        f"{unknown} cut off by a kill (not judged)",
    )

    expected = await db.run_db(_expected_webhook_ids, c)
    lost = expected - set(receiver.ids)
    inv["every audit entry reached the webhook receiver"] = (
        not lost,
        f"{len(expected)} events, {len(lost)} lost, {report.webhook_deliveries} deliveries",
    )

    finals = await _final_states(c)
    stale = []
    for w in watchers:
        f = finals.get(w.loan.loan_id)
        if f is None or w.last is None:
            stale.append(w.loan.loan_id)
            continue
        if f.get("deletedAt"):
            continue  # a subscription ends when its loan is deleted
        if (w.last["totalFunded"], int(w.last["version"])) != (f["totalFunded"], int(f["version"])):
            stale.append(f"{w.loan.loan_id}: saw {w.last} final {f['totalFunded']} v{f['version']}")
    inv["every subscriber's last update is the final state"] = (
        not stale,
        f"{len(watchers)} subscribers; stale: {stale[:3] or 'none'}",
    )

    bad = [
        x
        for x in report.calls
        if x.outcome in ("error:INTERNAL_SERVER_ERROR",) or x.outcome == "http:500"
    ]
    inv["no HTTP 500, no INTERNAL_SERVER_ERROR"] = (not bad, f"{len(bad)} seen")

    if report.memory.get("warm") and report.memory.get("end"):
        grown = (report.memory["end"] - report.memory["warm"]) / 2**20
        inv[f"replica memory grew < {memory_bound_mb:.0f} MB"] = (
            grown < memory_bound_mb,
            f"{grown:+.1f} MB over {len(report.calls)} requests",
        )
