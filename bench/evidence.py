"""CPU cost of the evidence features on the write and read paths (no database).

    .venv/bin/python -m bench.evidence [--iterations 2000]

* seal: canonical serialization + SHA-256 of one typical participant audit
  entry (what every change pays per entry, services/chain.py);
* record_dict: building that entry's after-image, an existing per-change cost,
  as the yardstick within the same run;
* sign / verify: one Ed25519 acceptance receipt (services/receipts.py);
* reconstruct: a point-in-time loan from a 151-entry trail (one loan, 50
  participants invited and accepted), services/history.py.

`run(iterations)` returns microseconds per operation (median of 5 rounds)."""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.settings import Settings


def _rounds(fn: Any, iterations: int) -> float:
    fn()
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - t0) / iterations * 1e6)
    return round(statistics.median(samples), 2)


def _trail(n: int) -> tuple[list[Any], datetime]:
    from models import Loan, Participant
    from services import audit
    from services.common import clone

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    loan = Loan(
        loan_id="L",
        borrower_id="b",
        title="Bench",
        amount=Decimal("100000"),
        interest_rate=Decimal("5"),
        term_months=12,
        version=1,
        seq=1,
        created_at=t0,
        updated_at=t0,
        created_by="b",
        updated_by="b",
    )
    entries = [
        audit.entry(
            None,
            at=t0,
            table="loans",
            record_id="L",
            action="CREATE",
            event="LOAN_CREATED",
            loan=loan,
            after=loan,
        )
    ]
    audit.seal(entries[-1:], loan)

    def participant_change(p: Any, action: str, event: str, **images: Any) -> None:
        """The next loan seq, and `p`'s change audited and sealed at `at`."""
        nonlocal loan
        loan = clone(loan)
        loan.seq = int(loan.seq) + 1
        entries.append(
            audit.entry(
                None,
                at=at,
                table="participants",
                record_id=f"L/{p.participant_id}",
                action=action,
                event=event,
                loan=loan,
                extra_context={"participant_id": p.participant_id},
                **images,
            )
        )
        audit.seal(entries[-1:], loan)

    at = t0
    people = []
    for i in range(n):
        at += timedelta(seconds=1)
        p = Participant(
            loan_id="L",
            participant_id=f"p{i:03d}",
            lender_email=f"l{i}@example.com",
            contribution_amount=Decimal("100"),
            status="PENDING",
            invited_at=at,
            created_at=at,
            updated_at=at,
            created_by="b",
            updated_by="b",
            version=1,
        )
        people.append(p)
        participant_change(p, "CREATE", "PARTICIPANT_INVITED", after=p)
    for p in people:
        at += timedelta(seconds=1)
        q = clone(p)
        q.status, q.lender_id, q.responded_at, q.version = "ACCEPTED", "x", at, 2
        participant_change(p, "UPDATE", "PARTICIPANT_ACCEPTED", before=p, after=q)
    return entries, at


def run(iterations: int = 2000) -> dict[str, float]:
    from services import chain, history, receipts
    from services.common import record_dict

    entries, end = _trail(50)
    typical = entries[-1]
    ring = receipts.keyring(
        Settings(receipt_key=receipts.generate_pem().decode(), data_dir="/nonexistent")
    )
    payload = chain.canonical_json({"v": 1, "amount": "100.00", "auditHash": typical.hash})
    signed = receipts.sign(ring, payload)
    jwks = ring.jwks()
    participant = history.from_image(__import__("models").Participant, typical.after)
    return {
        "seal_entry_us": _rounds(
            lambda: chain.entry_hash(typical, typical.previous_hash), iterations
        ),
        "record_dict_us": _rounds(lambda: record_dict(participant), iterations),
        "sign_receipt_us": _rounds(lambda: receipts.sign(ring, payload), iterations),
        "verify_receipt_us": _rounds(lambda: receipts.verify(signed, jwks), iterations),
        "reconstruct_151_entries_us": _rounds(
            lambda: history.reconstruct(entries, end), max(1, iterations // 50)
        ),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=2000)
    for k, v in run(ap.parse_args().iterations).items():
        print(f"{k:32} {v:>10}")
