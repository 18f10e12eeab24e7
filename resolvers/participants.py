"""Participant reads: a loan's participants, the viewer's invitations."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import Index

import models
from core.cursors import decode_cursor, encode_cursor, fingerprint
from core.pagination import Page, PageArgs, QuerySpec
from resolvers.context import Info
from resolvers.permissions import Access
from resolvers.selection import selects
from resolvers.shared import run_page, viewer_scope
from schema.common import PageInfo, ParticipantStatus, page_args
from schema.participants import Participant, ParticipantConnection, ParticipantEdge
from schema.users import User

if TYPE_CHECKING:
    import schema.loans

P = models.Participant


async def _connection(
    info: Info, page: Page[models.Participant], total_count: int | None, prime: bool = True
) -> ParticipantConnection:
    ctx = info.context
    loader = ctx.loaders.participant_by_key
    for row in page.items if prime else ():  # never prime with a point-in-time image
        loader.prime((row.loan_id, row.participant_id), row)
    nodes = [Participant(_m=m) for m in page.items]
    if selects(info, "edges", "node", "lender"):
        # One batched load for the page (and, through the loader, for every page
        # resolved in the same tick) instead of one resolver await per participant.
        ids = [n._lender_id for n in nodes if n._lender_id]
        users = (
            dict(zip(ids, await ctx.loaders.user_by_id.load_many(ids), strict=True)) if ids else {}
        )
        for node in nodes:
            lid = node._lender_id
            node._lender = User.of(lid, users.get(lid)) if lid else None
    return ParticipantConnection(
        edges=[ParticipantEdge(cursor=c, node=n) for n, c in zip(nodes, page.cursors, strict=True)],
        page_info=PageInfo.of(page),
        total_count=total_count,
    )


def _count(loan: models.Loan, status: ParticipantStatus | None) -> int | None:
    if status is None:
        return int(loan.participant_count)
    if status == ParticipantStatus.ACCEPTED:
        return int(loan.accepted_participant_count)
    if status == ParticipantStatus.PENDING:
        return int(loan.pending_participant_count)
    return None


async def resolve_loan_participants(
    info: Info,
    loan: schema.loans.Loan,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    status: ParticipantStatus | None,
    include_deleted: bool,
) -> ParticipantConnection:
    """One Query of the loan's partition. A lender's view is narrowed to their
    own participation by the filter, inside DynamoDB."""
    ctx = info.context
    args = page_args(first, after, last, before)
    access: Access = loan._access
    m: models.Loan = loan._m
    if loan._as_of is not None:
        return await _participants_as_of(info, loan, args, status, include_deleted)
    filt: Condition | None = None
    if not (include_deleted and access >= Access.BORROWER):
        filt = P.deleted_at.does_not_exist()
        include_deleted = False
    if status is not None:
        c = P.status == status.value
        filt = c if filt is None else filt & c
    own = access < Access.BORROWER
    if own:
        viewer = ctx.require_viewer()
        c = P.lender_email == (viewer.email or "")
        c = c | (P.lender_id == viewer.user_id)
        filt = c if filt is None else filt & c
    fp = fingerprint(
        "participants", m.loan_id, status and status.value, include_deleted, own, viewer_scope(ctx)
    )
    spec = QuerySpec(P, m.loan_id, filter_condition=filt, fingerprint=fp)
    page = await run_page(ctx, spec, args)
    total = None if (own or include_deleted) else _count(m, status)
    return await _connection(info, page, total)


async def resolve_my_invitations(
    info: Info,
    status: ParticipantStatus | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ParticipantConnection:
    """Invitations to the viewer's token email (GSI lender_email + status); a
    viewer whose token has no email is matched by account (GSI lender_id + status)."""
    ctx = info.context
    viewer = ctx.require_viewer()
    args = page_args(first, after, last, before)
    range_cond = (P.status == status.value) if status is not None else None
    index: Index[models.Participant]
    if viewer.email:
        index, hash_key = P.by_email, viewer.email
    else:
        index, hash_key = P.by_lender, viewer.user_id
    fp = fingerprint("myInvitations", status and status.value, viewer_scope(ctx), viewer.email)
    spec = QuerySpec(
        P,
        hash_key,
        index=index,
        range_condition=range_cond,
        filter_condition=P.deleted_at.does_not_exist(),
        fingerprint=fp,
    )
    page = await run_page(ctx, spec, args)
    return await _connection(info, page, None)


async def get_participant(info: Info, loan_id: str, participant_id: str) -> Participant | None:
    """A participant the viewer may see (node lookups), else None."""
    from resolvers.permissions import participant_visible, readable_loan

    ctx = info.context
    row = await ctx.loaders.participant_by_key.load((loan_id, participant_id))
    if row is None:
        return None
    loan = await ctx.loaders.loan_by_id.load(loan_id)
    access = await readable_loan(ctx, loan, include_deleted=row.deleted_at is not None)
    if access == Access.NONE or not participant_visible(ctx, access, row):
        return None
    if row.deleted_at is not None and access < Access.BORROWER:
        return None
    return Participant(_m=row)


async def _participants_as_of(
    info: Info,
    loan: schema.loans.Loan,
    args: PageArgs,
    status: ParticipantStatus | None,
    include_deleted: bool,
) -> ParticipantConnection:
    """A point-in-time loan's participants (services.history), filtered and paged
    like the live connection (ordered by participant id, signed cursors bound
    to the instant)."""
    ctx = info.context
    access: Access = loan._access
    past = loan._as_of
    if not (include_deleted and access >= Access.BORROWER):
        include_deleted = False
    own = access < Access.BORROWER
    viewer = ctx.viewer
    rows = [
        p
        for p in past.participants
        if (include_deleted or p.deleted_at is None)
        and (status is None or p.status == status.value)
        and (
            not own
            or (
                viewer is not None
                and (p.lender_email == viewer.email or p.lender_id == viewer.user_id)
            )
        )
    ]
    fp = fingerprint(
        "participants@",
        past.loan.loan_id,
        past.at.isoformat(),
        status and status.value,
        include_deleted,
        own,
        viewer_scope(ctx),
    )
    secret, ttl = ctx.settings.signing_secret, ctx.settings.cursor_ttl_seconds
    ids = [p.participant_id for p in rows]
    lo, hi = 0, len(rows)
    if args.after is not None:
        key = decode_cursor(args.after, fp, secret, "after")
        lo = bisect.bisect_right(ids, str(key.get("participant_id")))
    if args.before is not None:
        key = decode_cursor(args.before, fp, secret, "before")
        hi = bisect.bisect_left(ids, str(key.get("participant_id")))
    window = rows[lo:hi]
    if args.forward:
        items = window[: args.size]
        has_next, has_prev = len(window) > args.size, lo > 0
    else:
        items = window[-args.size :] if args.size else []
        has_prev, has_next = len(window) > args.size, hi < len(rows)
    cursors = [encode_cursor({"participant_id": p.participant_id}, fp, secret, ttl) for p in items]
    page = Page(items, cursors, has_next, has_prev)
    total = None if (own or include_deleted) else _count(past.loan, status)
    return await _connection(info, page, total, prime=False)
