"""After the chaos soak's load: wait for events to settle, then check the
invariants (docs/reliability.md) into the report."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from decimal import Decimal
from typing import Any

from chaos.clients import Clients
from chaos.procs import ROOT
from chaos.receiver import WEBHOOK_EVENTS, Receiver
from chaos.report import Report
from chaos.watch import Watcher
from core.settings import Settings


async def _final_states(c: Clients) -> dict[str, dict[str, Any]]:
    out = {}
    for loan in c.loans:
        for _ in range(5):
            state = await c.read(loan)
            if state:
                out[loan.loan_id] = state
                break
    return out


async def settle(
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


async def check(
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
