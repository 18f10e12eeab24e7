"""The change of one or more participants of a loan, as one audited transaction
(services/change.py): the participants (each conditioned on the version read,
or on not existing yet), their (loan, email) guards, one audit entry each, the
loan with its aggregates recomputed (`seq` + 1) and the metric point; when the
change fills the loan, also its FUNDED LoanVersion and LOAN_FUNDED entry; an
acceptance also gets its signed receipt (services/receipts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core import db
from core.actor import Actor
from models import Loan, Participant, ParticipantGuard
from models.participant import guard_key
from services import audit, receipts
from services.change import Change
from services.tx import Tx

LOAN_FIELD = ["input", "loanId"]
PID_FIELD = ["input", "participantId"]


def guard_for(p: Participant, at: datetime) -> ParticipantGuard:
    """The item that keeps one live participant per (loan, email)."""
    return ParticipantGuard(
        guard_key=guard_key(p.loan_id, p.lender_email),
        loan_id=p.loan_id,
        participant_id=p.participant_id,
        created_at=at,
    )


def commit_participant_change(
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
    change = Change(op, actor, at=at, before=loan, after=loan_after)
    tx = change.tx
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
        record_id = audit.participant_record_id(after.loan_id, after.participant_id)
        change.entry(
            table="participants",
            record_id=record_id,
            action=action,
            event=event,
            before=before,
            after=after,
            context={"participant_id": after.participant_id},
            label=f"audit:{record_id}",
        )
    metric_event = event
    if fills:
        change.loan_entry(action="UPDATE", event="LOAN_FUNDED", label=f"audit:{loan_after.loan_id}")
        change.version(reason="fully funded")
        metric_event = "LOAN_FUNDED"
    change.metric(metric_event)
    entries = change.seal()
    if event == "PARTICIPANT_ACCEPTED":
        ring = receipts.keyring(db.settings())
        for (_, after), e in zip(changes, entries, strict=False):
            after.receipt = receipts.sign(
                ring,
                receipts.payload_for(
                    loan=loan, participant=after, accepted_at=at, audit_hash=e.hash
                ),
            )
    return change.commit()
