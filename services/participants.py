"""Participant mutations: invite (one or a batch), accept, decline, remove.

Participants are stable: `participant_id` never changes and `lender_id` is set
in place when the invited person responds (no delete-and-recreate). One live
participant per (loan, email) is enforced by a `ParticipantGuard` item written
with attribute_not_exists in the invitation's transaction and deleted by the
removal's. Every change also rewrites the loan (funding fields recomputed from
a consistent read of its participants, `seq` + 1 under `seq = <read>`) and
writes a metric point, so the aggregates always equal a recount."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core import db
from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, LoanVersion, Participant, ParticipantGuard
from models.participant import guard_key
from services import access as acl
from services import audit, funding, receipts
from services import validation as v
from services.common import (
    MAX_ATOMIC_INVITES,
    MAX_LIST_ITEMS,
    MAX_LIVE_PARTICIPANTS,
    Retry,
    changed_fields,
    clone,
    iso,
    new_id,
    next_participant,
    record_dict,
    utcnow,
    with_retry,
)
from services.loans import loan_write, version_snapshot
from services.tx import Tx

LOAN_FIELD = ["input", "loanId"]
PID_FIELD = ["input", "participantId"]


# ------------------------------------------------------------------ shared
def _funding_change(loan: Loan, participants: list[Participant], *, at: datetime) -> Loan:
    """The loan after a participant change: aggregates recomputed from
    `participants` (its full partition after the change), seq + 1."""
    after = clone(loan)
    after.seq = int(loan.seq) + 1
    funding.apply(after, funding.compute(after.amount, funding.counted(loan, participants)))
    after.last_funding_update = at
    return after


def _commit_participant_change(
    op: str,
    actor: Actor,
    loan: Loan,
    loan_after: Loan,
    changes: list[tuple[Participant | None, Participant]],
    *,
    at: datetime,
    action: str,
    event: str,
    guards_put: Sequence[ParticipantGuard] = (),
    guards_delete: Sequence[ParticipantGuard] = (),
    fills: bool = False,
) -> Tx:
    """Build and commit: participants (conditioned), guards, audit entries,
    the loan (seq), the metric point, and when the change fills the loan its
    FUNDED version and loan audit entry."""
    tx = Tx(op)
    entries = []
    for before, after in changes:
        if before is None:
            tx.put(
                after,
                Participant.participant_id.does_not_exist(),
                label=f"participant:{after.participant_id}",
            )
        else:
            tx.put(
                after,
                (Participant.version == int(before.version))
                & (Participant.deleted_at.does_not_exist()),
                label=f"participant:{after.participant_id}",
            )
    for g in guards_put:
        tx.put(g, ParticipantGuard.guard_key.does_not_exist(), label=f"guard:{g.guard_key}")
    for g in guards_delete:
        tx.delete(
            g, ParticipantGuard.participant_id == g.participant_id, label=f"guard:{g.guard_key}"
        )
    for before, after in changes:
        entries.append(
            audit.entry(
                actor,
                at=at,
                table="participants",
                record_id=audit.participant_record_id(after.loan_id, after.participant_id),
                action=action,
                event=event,
                loan=loan_after,
                before=before,
                after=after,
                extra_context={"participant_id": after.participant_id},
            )
        )
    metric_event = event
    if fills:
        loan_entry = audit.entry(
            actor,
            at=at,
            table="loans",
            record_id=loan_after.loan_id,
            action="UPDATE",
            event="LOAN_FUNDED",
            loan=loan_after,
            before=loan,
            after=loan_after,
        )
        entries.append(loan_entry)
        b, a = record_dict(loan), record_dict(loan_after)
        tx.put(
            version_snapshot(
                loan_after, actor, at=at, changed=changed_fields(b, a), reason="fully funded"
            ),
            LoanVersion.version.does_not_exist(),
            label="loan_version",
        )
        metric_event = "LOAN_FUNDED"
    audit.seal(entries, loan_after)
    if event == "PARTICIPANT_ACCEPTED":
        ring = receipts.keyring(db.settings())
        for (_, after), e in zip(changes, entries, strict=False):
            after.receipt = receipts.sign(
                ring,
                receipts.payload_for(
                    loan=loan, participant=after, accepted_at=at, audit_hash=e.hash
                ),
            )
    for e in entries:
        tx.put(e, label=f"audit:{e.record_id}")
    loan_write(tx, loan, loan_after)
    tx.put(
        funding.metric_point(
            loan_after, at=at, sk=f"{iso(at)}#{entries[0].audit_id}", event=metric_event
        ),
        label="metric",
    )
    tx.commit()
    return tx


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


def _guard(p: Participant, at: datetime) -> ParticipantGuard:
    return ParticipantGuard(
        guard_key=guard_key(p.loan_id, p.lender_email),
        loan_id=p.loan_id,
        participant_id=p.participant_id,
        created_at=at,
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
    loan_after = _funding_change(loan, [*everyone, p], at=at)
    _commit_participant_change(
        "inviteParticipant",
        actor,
        loan,
        loan_after,
        [(None, p)],
        at=at,
        action="CREATE",
        event="PARTICIPANT_INVITED",
        guards_put=[_guard(p, at)],
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
        loan_after = _funding_change(loan, [*everyone, *new], at=at)
        _commit_participant_change(
            "inviteParticipants",
            actor,
            loan,
            loan_after,
            [(None, p) for p in new],
            at=at,
            action="CREATE",
            event="PARTICIPANT_INVITED",
            guards_put=[_guard(p, at) for p in new],
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


# ------------------------------------------------------------------ respond
def _invitation(
    actor: Actor, loan_id: str, participant_id: str
) -> tuple[Loan, Participant, list[Participant]]:
    """The live invitation addressed to the actor (token email, case-insensitive),
    with its loan and the loan's whole participant partition (consistent reads)."""
    loan = acl.get_loan(loan_id)
    if loan is None or loan.deleted_at is not None:
        raise acl.not_found("Participant", PID_FIELD)
    everyone = acl.loan_participants(loan_id)
    p = next((q for q in everyone if q.participant_id == participant_id), None)
    if p is None or p.deleted_at is not None:
        raise acl.not_found("Participant", PID_FIELD)
    email = (actor.viewer.email or "").strip().lower()
    if not email or email != p.lender_email:
        if acl.access(actor, loan).can_read:
            raise DomainError(
                "FORBIDDEN", "Only the invited person may respond to this invitation", PID_FIELD
            )
        raise acl.not_found("Participant", PID_FIELD)
    return loan, p, everyone


def _terms(loan: Loan) -> dict[str, Any]:
    return {
        k: getattr(loan, k) for k in ("title", "amount", "currency", "interest_rate", "term_months")
    }


def _check_terms(loan: Loan, expected: int | None, seen: list[dict[str, Any]]) -> None:
    """TERMS_CHANGED when the lender's `expected` version is stale, or when a
    retry after a lost race finds other terms than the first attempt read:
    a lender never silently accepts terms they were not shown."""
    if expected is not None and int(loan.version) != expected:
        raise DomainError(
            "TERMS_CHANGED",
            f"The loan's terms moved on to version {loan.version} since version {expected}",
            ["input", "expectedLoanVersion"],
        )
    if not seen:
        seen.append(_terms(loan))
    elif seen[0] != _terms(loan):
        raise DomainError(
            "TERMS_CHANGED",
            f"The loan's terms changed (version {loan.version}) while responding",
            ["input", "expectedLoanVersion"],
        )


def _respond_once(
    actor: Actor,
    loan_id: str,
    participant_id: str,
    expected: int | None,
    seen: list[dict[str, Any]],
    accept: bool,
) -> tuple[Participant, Loan]:
    loan, p, everyone = _invitation(actor, loan_id, participant_id)
    if p.status != "PENDING":
        raise DomainError(
            "INVALID_STATE", f"The invitation was already {p.status.lower()}", PID_FIELD
        )
    if accept:
        if loan.status not in ("PENDING", "FUNDED"):
            raise DomainError(
                "INVALID_STATE",
                f"The loan is {loan.status}: it takes no more contributions",
                PID_FIELD,
            )
        total = funding.compute(loan.amount, funding.counted(loan, everyone)).total_funded
        if total + p.contribution_amount > loan.amount:
            raise DomainError(
                "OVERFUNDED",
                f"Accepting {p.contribution_amount} would fund {total + p.contribution_amount} "
                f"of {loan.amount}; {loan.amount - total} remains",
                PID_FIELD,
            )
    _check_terms(loan, expected, seen)
    at = utcnow()
    pa = next_participant(p, actor, at)
    pa.status = "ACCEPTED" if accept else "DECLINED"
    pa.lender_id = actor.user_id
    pa.responded_at = at
    if accept:
        pa.accepted_version = int(loan.version)
    after_list = [pa if q.participant_id == p.participant_id else q for q in everyone]
    loan_after = _funding_change(loan, after_list, at=at)
    fills = accept and loan.status == "PENDING" and loan_after.is_fully_funded
    if fills:
        loan_after.status = "FUNDED"
        loan_after.version = int(loan.version) + 1
        loan_after.updated_at = at
        loan_after.updated_by = actor.user_id
    event = "PARTICIPANT_ACCEPTED" if accept else "PARTICIPANT_DECLINED"
    _commit_participant_change(
        "acceptInvitation" if accept else "declineInvitation",
        actor,
        loan,
        loan_after,
        [(p, pa)],
        at=at,
        action="UPDATE",
        event=event,
        fills=fills,
    )
    return pa, loan_after


async def accept_invitation(
    actor: Actor, loan_id: str, participant_id: str, expected_loan_version: int | None = None
) -> tuple[Participant, Loan]:
    """The invited person accepts: lender_id set in place, acceptedVersion pinned;
    OVERFUNDED when it would exceed the amount; the loan turns FUNDED in the same
    transaction that fills it. Lost races are retried while the terms stay put."""
    seen: list[dict[str, Any]] = []
    return await with_retry(
        "acceptInvitation",
        lambda n: run_db(
            _respond_once, actor, loan_id, participant_id, expected_loan_version, seen, True
        ),
        loan_id=loan_id,
    )


async def decline_invitation(
    actor: Actor, loan_id: str, participant_id: str, expected_loan_version: int | None = None
) -> tuple[Participant, Loan]:
    seen: list[dict[str, Any]] = []
    return await with_retry(
        "declineInvitation",
        lambda n: run_db(
            _respond_once, actor, loan_id, participant_id, expected_loan_version, seen, False
        ),
        loan_id=loan_id,
    )


# ------------------------------------------------------------------ remove
async def remove_participant(
    actor: Actor, loan_id: str, participant_id: str, reason: str
) -> Participant:
    """Soft delete by the borrower, releasing the (loan, email) guard. An ACCEPTED
    participant can only be removed while the loan is still PENDING."""
    why = v.reason(reason, v.path("input", "reason"), required=True)

    def once() -> Participant:
        loan = acl.get_loan(loan_id)
        if loan is None or loan.deleted_at is not None:
            raise acl.not_found("Participant", PID_FIELD)
        acc = acl.access(actor, loan)
        if not acc.can_read:
            raise acl.not_found("Participant", PID_FIELD)
        everyone = acl.loan_participants(loan_id)
        p = next(
            (q for q in everyone if q.participant_id == participant_id and q.deleted_at is None),
            None,
        )
        if p is None:
            raise acl.not_found("Participant", PID_FIELD)
        acl.require_borrower(acc, "remove participants")
        if p.status == "ACCEPTED" and loan.status != "PENDING":
            raise DomainError(
                "INVALID_STATE",
                f"An accepted contribution cannot be removed from a {loan.status} loan",
                PID_FIELD,
            )
        at = utcnow()
        pa = next_participant(p, actor, at)
        pa.deleted_at, pa.deleted_by, pa.deletion_reason = at, actor.user_id, why
        after_list = [pa if q.participant_id == p.participant_id else q for q in everyone]
        loan_after = _funding_change(loan, after_list, at=at)
        guard = ParticipantGuard(
            guard_key=guard_key(loan_id, p.lender_email),
            loan_id=loan_id,
            participant_id=p.participant_id,
            created_at=at,
        )
        _commit_participant_change(
            "removeParticipant",
            actor,
            loan,
            loan_after,
            [(p, pa)],
            at=at,
            action="DELETE",
            event="PARTICIPANT_REMOVED",
            guards_delete=[guard],
        )
        return pa

    return await with_retry("removeParticipant", lambda n: run_db(once), loan_id=loan_id)


__all__ = [
    "BatchSummary",
    "InviteBatchResult",
    "InviteResult",
    "Retry",
    "accept_invitation",
    "decline_invitation",
    "invite_participant",
    "invite_participants",
    "remove_participant",
]
