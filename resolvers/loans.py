"""Loan reads: `loan`, `loans`, the loan behind a participant or version, funding history."""

from __future__ import annotations

import datetime as dt

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import Index

import models
from core.cursors import fingerprint
from core.db import run_db
from core.errors import Forbidden, NotFoundError
from core.ids import expect_global_id, from_global_id
from core.pagination import QuerySpec
from models.loan import LOAN_KIND
from resolvers.context import Info
from resolvers.permissions import Access, readable_loan
from resolvers.shared import connection, run_page, time_range, viewer_scope
from schema.common import LoanStatus, WebhookEvent, page_args
from schema.loans import (
    FundingPoint,
    FundingPointConnection,
    FundingPointEdge,
    Loan,
    LoanConnection,
    LoanEdge,
)


async def get_loan(info: Info, loan_id: str, include_deleted: bool = False) -> Loan | None:
    """A loan the viewer may read, or None: missing and forbidden look the same,
    so ids cannot be probed for existence."""
    ctx = info.context
    model = await ctx.loaders.loan_by_id.load(loan_id)
    access = await readable_loan(ctx, model, include_deleted)
    if model is None or access == Access.NONE:
        return None
    return Loan(_m=model, _access=access)


async def resolve_loan(
    info: Info, id: str, include_deleted: bool, as_of: dt.datetime | None = None
) -> Loan | None:
    loan_id = expect_global_id(id, "Loan")
    if as_of is None:
        return await get_loan(info, loan_id, include_deleted)
    return await loan_as_of(info, loan_id, include_deleted, as_of)


async def loan_as_of(
    info: Info, loan_id: str, include_deleted: bool, as_of: dt.datetime
) -> Loan | None:
    """The loan at `as_of`: who may read it is decided by today's rules on today's
    loan; a loan deleted at that instant shows only with `includeDeleted` to its
    borrower and admins, like a deleted loan today."""
    from core.db import run_db
    from services.history import loan_as_of as rebuild

    ctx = info.context
    access = await readable_loan(ctx, await ctx.loaders.loan_by_id.load(loan_id), include_deleted)
    if access == Access.NONE:
        return None
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    past = await run_db(rebuild, loan_id, as_of)
    if past is None:
        return None
    if past.loan.deleted_at is not None and not (include_deleted and access >= Access.BORROWER):
        return None
    return Loan(_m=past.loan, _access=access, _as_of=past)


async def loan_for_participant(info: Info, participant: models.Participant) -> Loan:
    """A participant is only ever shown to someone who may read its loan."""
    ctx = info.context
    model = _existing(await ctx.loaders.loan_by_id.load(participant.loan_id))
    from resolvers.permissions import loan_access

    access = await loan_access(ctx, model)
    return Loan(_m=model, _access=max(access, Access.LENDER))


async def loan_with_access(info: Info, loan_id: str, access: Access) -> Loan:
    model = _existing(await info.context.loaders.loan_by_id.load(loan_id))
    return Loan(_m=model, _access=access)


def _existing(model: models.Loan | None) -> models.Loan:
    """The loan of a record the caller has read: a missing one is a coded NOT_FOUND
    (a participant whose loan is gone), never an uncoded crash."""
    if model is None:
        raise NotFoundError("The loan does not exist")
    return model


async def resolve_loans(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    status: LoanStatus | None,
    borrower_global_id: str | None,
    include_deleted: bool,
) -> LoanConnection:
    """Admins list any loans; everyone else lists the loans they borrow (lenders
    find theirs through `myInvitations`). Always through a GSI, never a Scan."""
    ctx = info.context
    viewer = ctx.require_viewer()
    args = page_args(first, after, last, before)
    borrower_id = None
    if borrower_global_id is not None:
        kind, key = from_global_id(borrower_global_id)
        borrower_id = key if kind == "User" else expect_global_id(borrower_global_id, "User")
    if not viewer.is_admin:
        if borrower_id not in (None, viewer.user_id):
            raise Forbidden("You may list only your own loans (filter.borrowerId must be you)")
        borrower_id = viewer.user_id
    L = models.Loan
    filt: Condition | None = L.deleted_at.does_not_exist() if not include_deleted else None
    range_cond = None
    index: Index[models.Loan]
    hash_key: str
    if borrower_id is not None:
        index, hash_key = L.by_borrower, borrower_id
        if status is not None:
            cond = L.status == status.value
            filt = cond if filt is None else filt & cond
    elif status is not None:
        index, hash_key = L.by_status, status.value
    else:
        index, hash_key = L.by_kind, LOAN_KIND
    fp = fingerprint(
        "loans", borrower_id, status and status.value, include_deleted, viewer_scope(ctx)
    )
    spec = QuerySpec(
        L, hash_key, index=index, range_condition=range_cond, filter_condition=filt, fingerprint=fp
    )
    page = await run_page(ctx, spec, args)
    access = Access.ADMIN if viewer.is_admin else Access.BORROWER
    for row in page.items:
        ctx.loaders.loan_by_id.prime(row.loan_id, row)
    return connection(
        LoanConnection, LoanEdge, page, lambda m: Loan(_m=m, _access=access), total_count=None
    )


async def resolve_funding_history(
    info: Info,
    loan: Loan,
    from_: dt.datetime | None,
    to: dt.datetime | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    bucket: str | None = None,
) -> FundingPointConnection:
    if loan._access < Access.BORROWER:
        # Every point (RAW or bucketed) is a total at a moment; two of them differ by
        # the contributions in between, often exactly one lender's (docs/security.md).
        raise Forbidden(
            "fundingHistory can reveal another lender's contribution: only the borrower and "
            "admins may read it"
        )
    ctx = info.context
    args = page_args(first, after, last, before)
    M = models.LoanMetric
    cond = time_range(M.sk, from_, to)
    fp = fingerprint("fundingHistory", loan._m.loan_id, from_, to, bucket)
    if bucket in (None, "RAW"):
        spec = QuerySpec(M, loan._m.loan_id, range_condition=cond, fingerprint=fp)
        page = await run_page(ctx, spec, args)
    else:
        from resolvers.funding import fetch_bucketed

        s = ctx.settings
        page = await run_db(
            fetch_bucketed,
            loan._m.loan_id,
            cond,
            bucket,
            args,
            fp,
            s.signing_secret,
            s.cursor_ttl_seconds,
        )
    # The points are the rows' own values, the same for everyone allowed here
    # (checked above): built once per cached page, not once per request.
    return page.derived(
        funding_point,
        lambda: connection(FundingPointConnection, FundingPointEdge, page, funding_point),
    )


def funding_point(m: models.LoanMetric) -> FundingPoint:
    from schema.scalars import money

    return FundingPoint(
        timestamp=m.timestamp,
        event=WebhookEvent(m.event),
        total_funded=money(m.total_funded),
        funding_percentage=money(m.funding_percentage),
        participant_count=int(m.participant_count),
        accepted_participant_count=int(m.accepted_participant_count),
    )
