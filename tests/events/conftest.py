"""Fixtures for the event pipeline: a real redis-server on a free loopback
port, real HTTP receivers on loopback, and audit entries written straight
into DynamoDB Local (standing in for committed changes of the write layer)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chaos.procs import RedisProcess
from models import AuditEntry, ParticipantGuard, User
from models.audit import record_key
from models.participant import guard_key


# ---------------------------------------------------------------- redis
@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    redis = RedisProcess().start()
    try:
        yield redis.url
    finally:
        redis.stop()


# ---------------------------------------------------------------- HTTP receiver
@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on loopback. `respond(n)` gives the status of the
    n-th request (1-based); `delay` seconds are spent before answering."""

    respond: Callable[[int], int] = lambda n: 200
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def event_ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("X-Loangraph-Event-Id", "") for r in self.requests]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(dict(self.headers.items()), body, time.time())
                    )
                    n = len(receiver.requests)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.respond(n)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        r = Receiver(**kwargs).start()
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


# ---------------------------------------------------------------- audit entries
def new_id(prefix: str = "loan") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def audit_entry(
    loan_id: str,
    seq: int,
    event: str = "LOAN_UPDATED",
    *,
    borrower_id: str = "borrower-1",
    participant: dict[str, Any] | None = None,
    tx_index: int = 0,
    actor_id: str | None = None,
) -> AuditEntry:
    """An audit entry like the write layer commits (not yet saved)."""
    at = datetime.now(UTC)
    audit_id = str(uuid.uuid4())
    if event.startswith("PARTICIPANT_"):
        participant = participant or {
            "participant_id": new_id("p"),
            "lender_email": "lender@example.com",
            "contribution_amount": "100.00",
            "status": event.split("_", 1)[1],
        }
        table, record_id = "participants", f"{loan_id}/{participant['participant_id']}"
        after: dict[str, Any] = {"loan_id": loan_id, **participant}
    else:
        table, record_id = "loans", loan_id
        after = {
            "loan_id": loan_id,
            "borrower_id": borrower_id,
            "title": "Loan",
            "amount": "10000.00",
            "status": "ACTIVE",
            "seq": seq,
        }
    return AuditEntry(
        record_key=record_key(table, record_id),
        sk=f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{audit_id}",
        audit_id=audit_id,
        timestamp=at,
        table_name=table,
        record_id=record_id,
        action="CREATE" if event.endswith(("CREATED", "INVITED")) else "UPDATE",
        event=event,
        loan_id=loan_id,
        actor_id=actor_id or borrower_id,
        before=None,
        after=after,
        changed_fields=sorted(after),
        context={
            "loan_seq": seq,
            "borrower_id": borrower_id,
            "loan": {
                "status": "ACTIVE",
                "version": 1,
                "total_funded": f"{seq * 10}.00",
                "funding_percentage": "0.10",
                "participant_count": seq,
                "accepted_participant_count": 0,
                "pending_participant_count": seq,
                "is_fully_funded": False,
            },
            "tx": {"index": tx_index, "size": 1},
        },
    )


def write_audit(loan_id: str, seq: int, event: str = "LOAN_UPDATED", **kwargs: Any) -> AuditEntry:
    entry = audit_entry(loan_id, seq, event, **kwargs)
    entry.save()
    return entry


def make_user(user_id: str, email: str | None = None, admin: bool = False) -> User:
    now = datetime.now(UTC)
    u = User(
        user_id=user_id,
        email=email,
        roles=["admin"] if admin else [],
        created_at=now,
        updated_at=now,
    )
    u.save()
    return u


def make_guard(loan_id: str, email: str, participant_id: str) -> None:
    ParticipantGuard(
        guard_key=guard_key(loan_id, email),
        loan_id=loan_id,
        participant_id=participant_id,
        created_at=datetime.now(UTC),
    ).save()


async def eventually(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
