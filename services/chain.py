"""The tamper-evident audit chain of a loan (docs/evidence.md).

Every audit entry of a loan and of its participants carries `hash`, the
SHA-256 (lowercase hex) of its canonical serialization (`canonical_bytes`),
which includes `previousHash`, the hash of the loan's entry before it in
commit order (null for the loan's first entry). The loan item records the
newest hash in `audit_head`, written in the same transaction as the entries
and under the loan's `seq` condition: two concurrent writers cannot both
extend the chain from the same head, so it never forks, and the chain and the
data cannot disagree.

Commit order of a loan's entries: `context.loan_seq`, then `context.tx.index`
(the entries one transaction writes), which is the order the chain links them.

Entries that belong to no loan (webhook configuration changes) get a
standalone hash (previousHash null): each is tamper-evident on its own, but
its deletion is not detectable.

`verify_loan` recomputes a loan's chain and names every entry that was
altered, deleted, inserted or reordered and a head that does not match.
`backfill` gives existing data its chain, one loan at a time, audited and
resumable (a loan whose chain verifies is skipped)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from models import AuditEntry, Loan
from services.common import iso, utcnow

CANONICAL_VERSION = 1
SYSTEM_BACKFILL = "system:audit-backfill"
# Hash updates of existing entries per transaction in a backfill (the last
# transaction also writes the loan and the backfill's own entry).
BACKFILL_CHUNK = 90


# ------------------------------------------------------------------ hashing
def canonical_object(e: AuditEntry, previous_hash: str | None) -> dict[str, Any]:
    return {
        "v": CANONICAL_VERSION,
        "previousHash": previous_hash,
        "auditId": e.audit_id,
        "recordKey": e.record_key,
        "sk": e.sk,
        "timestamp": iso(e.timestamp),
        "tableName": e.table_name,
        "recordId": e.record_id,
        "action": e.action,
        "event": e.event,
        "loanId": e.loan_id,
        "actorId": e.actor_id,
        "before": e.before,
        "after": e.after,
        "changedFields": list(e.changed_fields or []),
        "ipAddress": e.ip_address,
        "userAgent": e.user_agent,
        "requestId": e.request_id,
        "context": e.context,
    }


def canonical_json(value: Any) -> bytes:
    """Keys sorted by code point, no whitespace, every non-ASCII character as a
    \\uXXXX escape (lowercase hex): pure ASCII, one byte string per value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def canonical_bytes(e: AuditEntry, previous_hash: str | None) -> bytes:
    return canonical_json(canonical_object(e, previous_hash))


def entry_hash(e: AuditEntry, previous_hash: str | None) -> str:
    return hashlib.sha256(canonical_bytes(e, previous_hash)).hexdigest()


def seal(entries: list[AuditEntry], loan_after: Loan | None) -> None:
    """Chain the entries of one transaction (already numbered) after the loan's
    head and move the head. `loan_after` is the loan item the same transaction
    writes under its `seq` condition; None for entries of no (existing) loan."""
    prev = loan_after.audit_head if loan_after is not None else None
    for e in entries:
        e.previous_hash = prev
        e.hash = entry_hash(e, prev)
        if loan_after is not None:
            prev = e.hash
    if loan_after is not None:
        loan_after.audit_head = prev


# ------------------------------------------------------------------ verify
def commit_key(e: AuditEntry) -> tuple[int, int, str, str]:
    ctx = e.context if isinstance(e.context, dict) else {}
    tx_ = ctx.get("tx")
    tx = tx_ if isinstance(tx_, dict) else {}
    return (int(ctx.get("loan_seq", 0) or 0), int(tx.get("index", 0) or 0), e.sk, e.audit_id)


@dataclass
class Finding:
    kind: str  # ALTERED | DELETED | INSERTED | REORDERED | BAD_HEAD | UNCHAINED
    loan_id: str
    message: str
    audit_id: str | None = None
    record_key: str | None = None
    sk: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "loanId": self.loan_id,
            "auditId": self.audit_id,
            "recordKey": self.record_key,
            "sk": self.sk,
            "message": self.message,
        }

    def line(self) -> str:
        where = f" entry {self.audit_id} ({self.record_key} {self.sk})" if self.audit_id else ""
        return f"{self.kind} loan {self.loan_id}{where}: {self.message}"


@dataclass
class LoanVerification:
    loan_id: str
    entries: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _finding(kind: str, loan_id: str, e: AuditEntry | None, message: str) -> Finding:
    return Finding(
        kind,
        loan_id,
        message,
        audit_id=e.audit_id if e is not None else None,
        record_key=e.record_key if e is not None else None,
        sk=e.sk if e is not None else None,
    )


def verify_entries(loan_id: str, head: str | None, entries: Iterable[AuditEntry]) -> list[Finding]:
    """Pure: the findings for one loan's head and entries (see the module doc)."""
    seq = sorted(entries, key=commit_key)
    out: list[Finding] = []
    if not seq:
        if head is not None:
            out.append(
                _finding("BAD_HEAD", loan_id, None, f"head {head} but the loan has no entries")
            )
        return out
    unchained = [e for e in seq if not e.hash]
    if unchained or head is None:
        out.append(
            _finding(
                "UNCHAINED",
                loan_id,
                unchained[0] if unchained else None,
                f"{len(unchained)} of {len(seq)} entries without a hash"
                + ("" if head is not None else ", no chain head on the loan")
                + ": run `loangraph backfill-audit-chain`",
            )
        )
        return out
    # 1. Each entry against its own hash.
    for e in seq:
        if entry_hash(e, e.previous_hash) != e.hash:
            out.append(_finding("ALTERED", loan_id, e, "content does not match its hash (edited)"))
    hashes = {e.hash for e in seq}
    position: dict[str, int] = {}
    for i, e in enumerate(seq):
        position.setdefault(e.hash, i)
    referenced = {e.previous_hash for e in seq if e.previous_hash is not None} | {head}

    def dangling(h: str | None) -> bool:
        return h is not None and h not in hashes

    # 2. Entries no link leads to: inserted, unless a deletion right after them
    # explains why nothing points at them any more.
    inserted: set[int] = set()
    for i, e in enumerate(seq):
        if e.hash in referenced:
            continue
        nxt = seq[i + 1] if i + 1 < len(seq) else None
        if (nxt is not None and dangling(nxt.previous_hash)) or (nxt is None and dangling(head)):
            continue
        inserted.add(i)
        out.append(
            _finding(
                "INSERTED", loan_id, e, "not part of the chain: no entry and no head links to it"
            )
        )
    # 3. Walk the rest in commit order.
    expected: str | None = None
    last: AuditEntry | None = None
    for i, e in enumerate(seq):
        if i in inserted:
            continue
        if e.previous_hash == expected:
            pass
        elif e.previous_hash is None or dangling(e.previous_hash):
            what = "the loan's first entry" if e.previous_hash is None else e.previous_hash
            after = f"after entry {last.audit_id}" if last is not None else "at the start"
            out.append(
                _finding(
                    "DELETED",
                    loan_id,
                    e,
                    f"the entry before it ({what}) is missing {after}: deleted or rewritten",
                )
            )
        elif position.get(e.previous_hash, -1) > i:
            target = seq[position[e.previous_hash]]
            out.append(
                _finding(
                    "REORDERED",
                    loan_id,
                    e,
                    f"recorded before entry {target.audit_id}, which the chain says came first",
                )
            )
        expected, last = e.hash, e
    # 4. The head.
    if head != expected:
        if dangling(head):
            msg = (
                f"head {head} matches no entry (the newest entries were deleted, "
                f"or the head was altered); last entry is {last.audit_id if last else None}"
            )
        else:
            msg = f"head {head} is not the newest entry {last.audit_id if last else None}"
        out.append(_finding("BAD_HEAD", loan_id, None, msg))
    return out


def loan_entries(loan_id: str) -> list[AuditEntry]:
    """Blocking: every audit entry of the loan and its participants."""
    return list(AuditEntry.by_loan.query(loan_id))


def verify_loan(loan_id: str) -> LoanVerification:
    """Blocking."""
    try:
        loan = Loan.get(loan_id, consistent_read=True)
        head = loan.audit_head
    except Loan.DoesNotExist:
        entries = loan_entries(loan_id)
        res = LoanVerification(loan_id, len(entries))
        res.findings.append(_finding("BAD_HEAD", loan_id, None, "no such loan"))
        return res
    entries = loan_entries(loan_id)
    return LoanVerification(loan_id, len(entries), verify_entries(loan_id, head, entries))


def all_loan_ids() -> list[str]:
    """Blocking: every loan id (a keys-only scan)."""
    return [loan.loan_id for loan in Loan.scan(attributes_to_get=["loan_id"])]


# ------------------------------------------------------------------ backfill
@dataclass
class BackfillResult:
    loan_id: str
    status: str  # chained | skipped | refused
    entries: int = 0
    rewritten: int = 0


def backfill_loan(loan_id: str) -> BackfillResult:
    """Blocking. Chain one loan's existing entries in commit order, then write the
    loan's head and the backfill's own audit entry (the chain's newest link) in
    one transaction under the loan's `seq` condition. Raises `Retry` when the
    loan changed meanwhile: the caller runs it again (rewriting hashes is
    idempotent). A loan whose chain already verifies is skipped."""
    from services.change import Change, next_loan
    from services.tx import Tx

    loan = Loan.get(loan_id, consistent_read=True)
    entries = sorted(loan_entries(loan_id), key=commit_key)
    findings = verify_entries(loan_id, loan.audit_head, entries) if entries else None
    if findings == []:
        return BackfillResult(loan_id, "skipped", len(entries))
    if findings and findings[0].kind != "UNCHAINED":
        # A chain exists and fails: rechaining would launder the tampering.
        return BackfillResult(loan_id, "refused", len(entries))
    updates: list[tuple[AuditEntry, str | None, str]] = []
    prev: str | None = None
    for e in entries:
        h = entry_hash(e, prev)
        if e.hash != h or e.previous_hash != prev:
            updates.append((e, prev, h))
        prev = h
    for i in range(0, len(updates), BACKFILL_CHUNK):
        chunk = updates[i : i + BACKFILL_CHUNK]
        tx = Tx("backfillAuditChain")
        for e, p, h in chunk:
            tx.update(
                e,
                [AuditEntry.hash.set(h), AuditEntry.previous_hash.set(p)]
                if p is not None
                else [AuditEntry.hash.set(h), AuditEntry.previous_hash.remove()],
                AuditEntry.audit_id == e.audit_id,
                label=f"audit:{e.audit_id}",
            )
        tx.commit()
    after = next_loan(loan)
    after.audit_head = prev
    change = Change(
        "backfillAuditChain", None, at=utcnow(), before=loan, after=after, actor_id=SYSTEM_BACKFILL
    )
    change.loan_entry(
        action="UPDATE",
        event=None,
        context={"backfill": {"entries": len(entries), "rewritten": len(updates)}},
    )
    change.commit()
    return BackfillResult(loan_id, "chained", len(entries), len(updates))


def backfill_unowned() -> int:
    """Blocking: give entries of no loan (webhook changes) their standalone hash.
    Idempotent; returns how many it wrote."""
    n = 0
    for e in AuditEntry.scan(
        AuditEntry.loan_id.does_not_exist() & AuditEntry.hash.does_not_exist()
    ):
        h = entry_hash(e, None)
        e.update(actions=[AuditEntry.hash.set(h)], condition=AuditEntry.hash.does_not_exist())
        n += 1
    return n
