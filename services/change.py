"""One versioned, audited change: the builder every audited write to a loan (or
to something of a loan: its participants, their guards) goes through.

A `Change` is one transaction (services/tx.py) holding:

- the records it changes, added by the caller (`change.tx.put(...)`);
- its audit entries (`entry`, `loan_entry`): each with the loan as the change
  leaves it as context, numbered and hash-chained after the loan's head when
  sealed (services/audit.py, services/chain.py);
- the loan item as the change leaves it: under `seq = <read>` (or
  attribute_not_exists for a new loan), carrying the new chain head;
- a LoanVersion snapshot under attribute_not_exists when the loan's version
  moves (`version`);
- the funding metric point when funding moves (`metric`), keyed by the first
  entry's audit id.

`seal` numbers and chains the entries (a caller that signs with an entry's
hash, like the acceptance receipt, seals first); `commit` seals if needed,
adds the entries, the loan and the metric point, and commits. Snapshots
(`before`/`after` of entries, the version's) are taken when they are added,
before sealing moves the loan's `audit_head`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.actor import Actor
from models import AuditEntry, Loan, LoanVersion, Participant
from services import audit, funding
from services.common import changed_fields, clone, iso, record_dict
from services.tx import Tx


def next_loan(
    loan: Loan,
    *,
    actor: Actor | None = None,
    at: datetime | None = None,
    move_version: bool = False,
) -> Loan:
    """The loan's next state: a copy with `seq` + 1 (and, when its version moves,
    version + 1 and updated_at/by)."""
    after = clone(loan)
    after.seq = int(loan.seq) + 1
    if move_version:
        after.version = int(loan.version) + 1
        after.updated_at = at
        after.updated_by = actor.user_id if actor else None
    return after


def funding_change(loan: Loan, participants: Sequence[Participant], *, at: datetime) -> Loan:
    """The loan after a participant change: `seq` + 1, aggregates recomputed from
    `participants` (its whole partition after the change)."""
    after = next_loan(loan)
    funding.apply(after, funding.compute(after.amount, funding.counted(loan, list(participants))))
    after.last_funding_update = at
    return after


def version_snapshot(
    loan: Loan,
    actor: Actor | None,
    *,
    at: datetime,
    changed: list[str],
    reason: str | None,
    reverted_from: int | None = None,
) -> LoanVersion:
    return LoanVersion(
        loan_id=loan.loan_id,
        version=int(loan.version),
        snapshot=record_dict(loan),
        changed_fields=changed,
        changed_by=actor.user_id if actor else None,
        changed_at=at,
        change_reason=reason,
        reverted_from=reverted_from,
    )


def loan_write(tx: Tx, before: Loan, after: Loan) -> None:
    """The loan item, conditioned on the `seq` that was read."""
    tx.put(after, Loan.seq == int(before.seq), label="loan")


class Change:
    """The actions of one audited change, built up and committed at once.

    `before`: the loan as read (None for a new loan); `after`: the loan as the
    change leaves it (None when the change touches no loan: nothing is written
    for it and its entries are hashed standalone). `actor_id` overrides the
    actor's id on the entries (system jobs: migration, repairs)."""

    def __init__(
        self,
        op: str,
        actor: Actor | None,
        *,
        at: datetime,
        before: Loan | None,
        after: Loan | None,
        actor_id: str | None = None,
    ) -> None:
        self.tx = Tx(op)
        self.actor = actor
        self.at = at
        self.before = before
        self.after = after
        self.actor_id = actor_id
        self.entries: list[AuditEntry] = []
        self._labels: list[str] = []
        self._metric_event: str | None = None  # set: funding moved
        self._sealed = False

    def entry(
        self,
        *,
        table: str,
        record_id: str,
        action: str,
        event: str | None,
        before: Any = None,
        after: Any = None,
        context: dict[str, Any] | None = None,
        label: str = "audit",
        loan: Loan | None = None,
    ) -> AuditEntry:
        """An audit entry of this change; `loan` (default: the loan after the
        change) gives its context."""
        context_loan = loan if loan is not None else self.after
        assert context_loan is not None, "an audit entry needs a loan for its context"
        e = audit.entry(
            self.actor,
            at=self.at,
            table=table,
            record_id=record_id,
            action=action,
            event=event,
            loan=context_loan,
            before=before,
            after=after,
            extra_context=context,
            actor_id=self.actor_id,
        )
        self.entries.append(e)
        self._labels.append(label)
        return e

    def loan_entry(
        self,
        *,
        action: str,
        event: str | None,
        context: dict[str, Any] | None = None,
        label: str = "audit",
    ) -> AuditEntry:
        """The audit entry of the loan item itself (before -> after)."""
        assert self.after is not None
        return self.entry(
            table="loans",
            record_id=self.after.loan_id,
            action=action,
            event=event,
            before=self.before,
            after=self.after,
            context=context,
            label=label,
        )

    def version(
        self,
        *,
        reason: str | None,
        changed: list[str] | None = None,
        reverted_from: int | None = None,
    ) -> None:
        """The LoanVersion of the loan after the change (its version moved);
        `changed` defaults to the fields that differ from the loan read."""
        assert self.after is not None
        if changed is None:
            changed = changed_fields(record_dict(self.before), record_dict(self.after))
        self.tx.put(
            version_snapshot(
                self.after,
                self.actor,
                at=self.at,
                changed=changed,
                reason=reason,
                reverted_from=reverted_from,
            ),
            LoanVersion.version.does_not_exist(),
            label="loan_version",
        )

    def metric(self, event: str) -> None:
        """Funding moved: the metric point of the loan after the change."""
        self._metric_event = event

    def seal(self) -> list[AuditEntry]:
        """Number the entries and chain them after the loan's head (moving the
        head of the loan after the change)."""
        if not self._sealed:
            audit.seal(self.entries, self.after)
            self._sealed = True
        return self.entries

    def commit(self) -> Tx:
        """Blocking: call it inside `core.db.run_db`."""
        self.seal()
        for e, label in zip(self.entries, self._labels, strict=True):
            self.tx.put(e, label=label)
        if self.after is not None:
            if self.before is None:
                self.tx.put(self.after, Loan.loan_id.does_not_exist(), label="loan")
            else:
                loan_write(self.tx, self.before, self.after)
            if self._metric_event is not None:
                self.tx.put(
                    funding.metric_point(
                        self.after,
                        at=self.at,
                        sk=f"{iso(self.at)}#{self.entries[0].audit_id}",
                        event=self._metric_event,
                    ),
                    label="metric",
                )
        self.tx.commit()
        return self.tx


def versioned_change(
    op: str,
    actor: Actor | None,
    before: Loan,
    after: Loan,
    *,
    at: datetime,
    action: str,
    event: str,
    reason: str | None,
    reverted_from: int | None = None,
    context: dict[str, Any] | None = None,
    funding_moved: bool = False,
) -> Change:
    """loan + LoanVersion + audit entry (+ metric point when funding moved)."""
    change = Change(op, actor, at=at, before=before, after=after)
    change.version(reason=reason, reverted_from=reverted_from)
    change.loan_entry(action=action, event=event, context=context)
    if funding_moved:
        change.metric(event)
    return change
