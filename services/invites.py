"""Invitations: one, or a batch of up to 100 (each its own transaction, in input
order) or of up to 32 in ONE transaction (atomic: any failing item fails the
whole batch). One live participant per (loan, email) holds even under races:
the guard item is written with attribute_not_exists (services/participant_change.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, Participant
from services import access as acl
from services import validation as v
from services.change import funding_change
from services.common import (
    MAX_ATOMIC_INVITES,
    MAX_LIST_ITEMS,
    MAX_LIVE_PARTICIPANTS,
    new_id,
    utcnow,
    with_retry,
)
from services.participant_change import LOAN_FIELD, commit_participant_change, guard_for


def _new_participant(
    actor: Actor, loan: Loan, email: str, amount: Decimal, at: datetime
) -> Participant:
    return Participant(
        loan_id=loan.loan_id,
        participant_id=new_id(),
        lender_id=None,
        lender_email=email,
        contribution_amount=amount,
        status="PENDING",
        accepted_version=None,
        invited_at=at,
        created_at=at,
        created_by=actor.user_id,
        updated_at=at,
        updated_by=actor.user_id,
        version=1,
    )


def _borrower_loan(actor: Actor, loan_id: str) -> Loan:
    acc = acl.loan_for_change(actor, loan_id, LOAN_FIELD)
    acl.require_borrower(acc, "invite participants to this loan")
    if acc.loan.status != "PENDING":
        raise DomainError(
            "INVALID_STATE",
            f"Participants can be invited only while the loan is PENDING (it is {acc.loan.status})",
            LOAN_FIELD,
        )
    return acc.loan


def _item_checks(
    actor: Actor, loan: Loan, live_emails: set[str], email: str, amount: Decimal, prefix: list[str]
) -> list[DomainError]:
    errors = []
    if email in live_emails:
        errors.append(
            DomainError(
                "DUPLICATE_PARTICIPANT",
                f"{email} is already invited to this loan",
                [*prefix, "email"],
            )
        )
    elif actor.viewer.email and email == actor.viewer.email.lower():
        errors.append(
            DomainError("VALIDATION", "The borrower cannot invite themselves", [*prefix, "email"])
        )
    if amount > loan.amount:
        errors.append(
            DomainError(
                "VALIDATION",
                f"A contribution of {amount} exceeds the loan amount {loan.amount}",
                [*prefix, "amount"],
            )
        )
    return errors


# ------------------------------------------------------------------ invite
def _invite_once(
    actor: Actor, loan_id: str, email: str, amount: Decimal, prefix: list[str]
) -> Participant:
    loan = _borrower_loan(actor, loan_id)
    everyone = acl.loan_participants(loan_id)
    live = [p for p in everyone if p.deleted_at is None]
    errors = _item_checks(actor, loan, {p.lender_email for p in live}, email, amount, prefix)
    if errors:
        raise errors[0]
    if len(live) + 1 > MAX_LIVE_PARTICIPANTS:
        raise DomainError(
            "CONFLICT", f"A loan holds at most {MAX_LIVE_PARTICIPANTS} participants", LOAN_FIELD
        )
    at = utcnow()
    p = _new_participant(actor, loan, email, amount, at)
    loan_after = funding_change(loan, [*everyone, p], at=at)
    commit_participant_change(
        "inviteParticipant",
        actor,
        loan,
        loan_after,
        [(None, p)],
        at=at,
        action="CREATE",
        event="PARTICIPANT_INVITED",
        guards_put=[guard_for(p, at)],
    )
    return p


async def invite_participant(actor: Actor, loan_id: str, email: str, amount: Any) -> Participant:
    """Invite `email` to contribute `amount`: DUPLICATE_PARTICIPANT when a live
    participant already holds that email on this loan (even under a race)."""
    c = v.Collector()
    addr = c.run(v.email, email, v.path("input", "email"))
    amt = c.run(v.money, amount, v.path("input", "amount"))
    c.raise_if_any()
    return await with_retry(
        "inviteParticipant",
        lambda n: run_db(_invite_once, actor, loan_id, addr, amt, ["input"]),
        loan_id=loan_id,
    )


@dataclass
class InviteResult:
    index: int
    email: str
    status: str  # CREATED | FAILED
    participant: Participant | None = None
    errors: list[DomainError] = field(default_factory=list)


@dataclass
class BatchSummary:
    total: int
    succeeded: int
    failed: int


@dataclass
class InviteBatchResult:
    results: list[InviteResult]
    summary: BatchSummary
    # Batch-level problems (an aborted atomic batch says so here).
    errors: list[DomainError] = field(default_factory=list)


def _summarize(
    results: list[InviteResult], errors: list[DomainError] | None = None
) -> InviteBatchResult:
    ok = sum(1 for r in results if r.status == "CREATED")
    return InviteBatchResult(
        results, BatchSummary(len(results), ok, len(results) - ok), errors or []
    )


async def invite_participants(
    actor: Actor, loan_id: str, invites: Sequence[tuple[str, Any]], atomic: bool = False
) -> InviteBatchResult:
    """Up to 100 invitations. Non-atomic: one result per item in input order, each
    its own transaction. Atomic: all in ONE transaction, so at most
    MAX_ATOMIC_INVITES (32) items; any failing item fails the whole batch."""
    invites = list(invites)
    v.list_size(invites, ["input", "invites"], MAX_LIST_ITEMS, "Invites")
    if atomic and len(invites) > MAX_ATOMIC_INVITES:
        raise DomainError(
            "VALIDATION",
            f"An atomic batch holds at most {MAX_ATOMIC_INVITES} invites (DynamoDB's 100 actions "
            f"per transaction); send {len(invites)} non-atomically or split them",
            ["input", "invites"],
        )
    # Per-item validation and duplicates inside the batch.
    results: list[InviteResult] = []
    parsed: list[tuple[str, Decimal] | None] = []
    seen: dict[str, int] = {}
    for i, (raw_email, raw_amount) in enumerate(invites):
        prefix = ["input", "invites", str(i)]
        c = v.Collector()
        addr = c.run(v.email, raw_email, [*prefix, "email"])
        amt = c.run(v.money, raw_amount, [*prefix, "amount"])
        if addr is not None and addr in seen:
            c.errors.append(
                DomainError(
                    "DUPLICATE_PARTICIPANT",
                    f"{addr} appears twice in this batch (first at index {seen[addr]})",
                    [*prefix, "email"],
                )
            )
        elif addr is not None:
            seen[addr] = i
        email_out = addr if addr is not None else str(raw_email)
        results.append(
            InviteResult(i, email_out, "FAILED" if c.errors else "PENDING", None, c.errors)
        )
        parsed.append((addr, amt) if not c.errors else None)

    # Batch-level permission and state (raise: the whole payload fails).
    await run_db(_borrower_loan, actor, loan_id)

    if not atomic:
        for i, item in enumerate(parsed):
            if item is None:
                continue
            try:
                results[i].participant = await with_retry(
                    "inviteParticipants",
                    lambda n, i=i, item=item: run_db(
                        _invite_once, actor, loan_id, item[0], item[1], ["input", "invites", str(i)]
                    ),
                    loan_id=loan_id,
                )
                results[i].status = "CREATED"
            except DomainError as exc:
                results[i].status = "FAILED"
                results[i].errors = [exc]
        return _summarize(results)

    if any(r.errors for r in results):
        return _abort(results)

    def once() -> InviteBatchResult:
        loan = _borrower_loan(actor, loan_id)
        everyone = acl.loan_participants(loan_id)
        live = [p for p in everyone if p.deleted_at is None]
        emails = {p.lender_email for p in live}
        for i, item in enumerate(parsed):
            assert item is not None
            results[i].errors = _item_checks(
                actor, loan, emails, item[0], item[1], ["input", "invites", str(i)]
            )
        if any(r.errors for r in results):
            return _abort(results)
        if len(live) + len(parsed) > MAX_LIVE_PARTICIPANTS:
            raise DomainError(
                "CONFLICT",
                f"A loan holds at most {MAX_LIVE_PARTICIPANTS} participants ({len(live)} now)",
                ["input", "invites"],
            )
        at = utcnow()
        new = [_new_participant(actor, loan, item[0], item[1], at) for item in parsed if item]
        loan_after = funding_change(loan, [*everyone, *new], at=at)
        commit_participant_change(
            "inviteParticipants",
            actor,
            loan,
            loan_after,
            [(None, p) for p in new],
            at=at,
            action="CREATE",
            event="PARTICIPANT_INVITED",
            guards_put=[guard_for(p, at) for p in new],
        )
        for r, p in zip(results, new, strict=True):
            r.status, r.participant, r.errors = "CREATED", p, []
        return _summarize(results)

    return await with_retry("inviteParticipants", lambda n: run_db(once), loan_id=loan_id)


def _abort(results: list[InviteResult]) -> InviteBatchResult:
    for r in results:
        r.status, r.participant = "FAILED", None
    failing = [r for r in results if r.errors]
    first = failing[0].errors[0]
    return _summarize(
        results,
        [
            DomainError(
                first.code,
                f"Atomic batch aborted: {len(failing)} of {len(results)} invites failed; "
                "nothing was written",
                ["input", "invites"],
            )
        ],
    )
