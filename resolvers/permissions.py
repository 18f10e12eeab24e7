"""Who may see what: the row-level rules in one place, and the permission
classes resolvers attach declaratively."""

from __future__ import annotations

import enum
from typing import Any

from strawberry.permission import BasePermission

from core.errors import Forbidden, Unauthenticated
from models import Loan, Participant
from models.participant import guard_key
from resolvers.context import Context, Info


class Access(enum.IntEnum):
    NONE = 0
    LENDER = 1  # invited (a live participant with the viewer's email)
    BORROWER = 2
    ADMIN = 3


async def loan_access(ctx: Context, loan: Loan) -> Access:
    viewer = ctx.viewer
    if viewer is None:
        return Access.NONE
    if viewer.is_admin:
        return Access.ADMIN
    if loan.borrower_id == viewer.user_id:
        return Access.BORROWER
    if viewer.email:
        guard = await ctx.loaders.guard_by_key.load(guard_key(loan.loan_id, viewer.email))
        if guard is not None:
            return Access.LENDER
    return Access.NONE


async def readable_loan(ctx: Context, loan: Loan | None, include_deleted: bool = False) -> Access:
    """The viewer's access to a loan they are reading, NONE when hidden.

    Deleted loans show only with `include_deleted`, to their borrower and admins."""
    if loan is None:
        return Access.NONE
    access = await loan_access(ctx, loan)
    if loan.deleted_at is not None and not (include_deleted and access >= Access.BORROWER):
        return Access.NONE
    return access


def owns_participant(ctx: Context, participant: Participant) -> bool:
    viewer = ctx.viewer
    if viewer is None:
        return False
    if participant.lender_id is not None and participant.lender_id == viewer.user_id:
        return True
    return bool(viewer.email) and participant.lender_email == viewer.email


def participant_visible(ctx: Context, access: Access, participant: Participant) -> bool:
    """Borrowers and admins see every participant; a lender only their own."""
    return access >= Access.BORROWER or (
        access == Access.LENDER and owns_participant(ctx, participant)
    )


async def can_read_receipt(ctx: Context, participant: Participant) -> bool:
    """An acceptance receipt: the lender who accepted, the loan's borrower, admins."""
    viewer = ctx.viewer
    if viewer is None:
        return False
    if viewer.is_admin:
        return True
    if participant.lender_id is not None and participant.lender_id == viewer.user_id:
        return True
    loan = await ctx.loaders.loan_by_id.load(participant.loan_id)
    return loan is not None and loan.borrower_id == viewer.user_id


class IsAuthenticated(BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <token>'"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx: Context = info.context
        if ctx.auth_error is not None:
            raise Unauthenticated(str(ctx.auth_error))
        return ctx.viewer is not None


class IsAdmin(BasePermission):
    message = "Only admins may read this"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx: Context = info.context
        if ctx.viewer is None:
            raise Unauthenticated(str(ctx.auth_error or IsAuthenticated.message))
        if not ctx.viewer.is_admin:
            raise Forbidden(self.message)
        return True
