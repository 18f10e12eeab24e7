"""Audit entries: written in the same transaction as the change they record.

The audit table is also the event log (its stream feeds the dispatcher), so
each entry carries `event` (a WebhookEvent name), `loan_id` and `context`:
{"loan_seq": <loan.seq after the change>, "borrower_id": ..., "loan": <funding
summary after>, "tx": {"index": i, "size": n}}. Entries written by one
transaction share `loan_seq`; `tx.index` orders them (participant entry first,
then the loan entry an acceptance that fills the loan adds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.actor import Actor
from models import AuditEntry, Loan
from models.audit import record_key
from services import chain
from services.common import changed_fields, iso, new_id, record_dict
from services.funding import loan_summary


def loan_record_id(loan_id: str) -> str:
    return loan_id


def participant_record_id(loan_id: str, participant_id: str) -> str:
    return f"{loan_id}/{participant_id}"


def entry(
    actor: Actor | None,
    *,
    at: datetime,
    table: str,
    record_id: str,
    action: str,
    event: str | None,
    loan: Loan,
    before: Any = None,
    after: Any = None,
    extra_context: dict[str, Any] | None = None,
    actor_id: str | None = None,
) -> AuditEntry:
    """An audit entry for one record; `before`/`after` are models or dicts."""
    b = before if isinstance(before, dict) or before is None else record_dict(before)
    a = after if isinstance(after, dict) or after is None else record_dict(after)
    audit_id = new_id()
    context: dict[str, Any] = {
        "loan_seq": int(loan.seq),
        "borrower_id": loan.borrower_id,
        "loan": loan_summary(loan),
    }
    if extra_context:
        context.update(extra_context)
    return AuditEntry(
        record_key=record_key(table, record_id),
        sk=f"{iso(at)}#{audit_id}",
        audit_id=audit_id,
        timestamp=at,
        table_name=table,
        record_id=record_id,
        action=action,
        event=event,
        loan_id=loan.loan_id,
        actor_id=actor_id if actor_id is not None else (actor.user_id if actor else None),
        before=b,
        after=a,
        changed_fields=changed_fields(b, a),
        ip_address=actor.ip_address if actor else None,
        user_agent=actor.user_agent if actor else None,
        request_id=actor.request_id if actor else None,
        context=context,
    )


def number_entries(entries: list[AuditEntry]) -> None:
    """Give the entries of one transaction their order inside it."""
    for i, e in enumerate(entries):
        ctx = dict(e.context or {})
        ctx["tx"] = {"index": i, "size": len(entries)}
        e.context = ctx


def seal(entries: list[AuditEntry], loan_after: Loan | None) -> None:
    """Number the entries of one transaction and chain them after the loan's
    head, moving `loan_after.audit_head` (the loan item the same transaction
    writes under its `seq` condition). See services/chain.py."""
    number_entries(entries)
    chain.seal(entries, loan_after)
