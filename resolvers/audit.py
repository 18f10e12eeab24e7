"""Audit reads: a loan's trail (borrower, admins) and the admins' audit log."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import Index

import models
from core.cursors import fingerprint
from core.errors import BadUserInput, Forbidden
from core.ids import from_global_id
from core.pagination import Page, QuerySpec
from models.audit import AUDIT_FEED
from resolvers.context import Info
from resolvers.permissions import Access
from resolvers.shared import connection, run_page, time_range
from schema.audit import AuditEntry, AuditEntryConnection, AuditEntryEdge
from schema.common import AuditAction, page_args

if TYPE_CHECKING:
    import schema.loans

A = models.AuditEntry

# Global id type -> the audit record key of that record.
_RECORD_TABLES = {"Loan": "loans", "Participant": "participants", "Webhook": "webhooks"}


def _connection(page: Page[models.AuditEntry]) -> AuditEntryConnection:
    return connection(AuditEntryConnection, AuditEntryEdge, page, lambda m: AuditEntry(_m=m))


async def resolve_loan_audit_trail(
    info: Info,
    loan: schema.loans.Loan,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> AuditEntryConnection:
    """The loan's and its participants' entries in one Query (GSI loan_id + sk)."""
    if loan._access < Access.BORROWER:
        raise Forbidden("Only the borrower and admins may read a loan's audit trail")
    args = page_args(first, after, last, before)
    spec = QuerySpec(
        A, loan._m.loan_id, index=A.by_loan, fingerprint=fingerprint("auditTrail", loan._m.loan_id)
    )
    return _connection(await run_page(info.context, spec, args))


def record_key_for(record_id: str) -> str:
    """`recordId` filter: a global id (Loan, Participant, Webhook) or "<table>#<uuid>"."""
    if "#" in record_id:
        return record_id
    kind, key = from_global_id(record_id)
    table = _RECORD_TABLES.get(kind)
    if table is None:
        raise BadUserInput(
            f"Audit entries are kept for {', '.join(_RECORD_TABLES)} records", argument="filter"
        )
    return models.audit.record_key(table, key)


async def resolve_audit_log(
    info: Info,
    record_id: str | None,
    actor_global_id: str | None,
    action: AuditAction | None,
    from_: dt.datetime | None,
    to: dt.datetime | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> AuditEntryConnection:
    """Admins only (checked by the field's permission class). One Query: by record
    (table key), by actor (GSI) or the whole feed (GSI), time-bounded by sk."""
    args = page_args(first, after, last, before)
    range_cond = time_range(A.sk, from_, to)
    filt: Condition | None = None
    actor_id = None
    index: Index[models.AuditEntry] | None
    if actor_global_id is not None:
        kind, actor_id = from_global_id(actor_global_id)
        if kind != "User":
            raise BadUserInput("filter.actorId must be a User id", argument="filter")
    if record_id is not None:
        index, hash_key = None, record_key_for(record_id)
        if actor_id is not None:
            filt = A.actor_id == actor_id
    elif actor_id is not None:
        index, hash_key = A.by_actor, actor_id
    else:
        index, hash_key = A.feed_index, AUDIT_FEED
    if action is not None:
        c = A.action == action.value
        filt = c if filt is None else filt & c
    fp = fingerprint("auditLog", record_id, actor_id, action and action.value, from_, to)
    spec = QuerySpec(
        A, hash_key, index=index, range_condition=range_cond, filter_condition=filt, fingerprint=fp
    )
    return _connection(await run_page(info.context, spec, args))
