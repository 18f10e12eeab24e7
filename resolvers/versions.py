"""Loan version reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import models
from core.cursors import fingerprint
from core.pagination import QuerySpec
from resolvers.context import Info
from resolvers.permissions import Access, readable_loan
from resolvers.shared import connection, run_page
from schema.common import page_args
from schema.versions import LoanVersion, LoanVersionConnection, LoanVersionEdge

if TYPE_CHECKING:
    import schema.loans


async def resolve_loan_versions(
    info: Info,
    loan: schema.loans.Loan,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> LoanVersionConnection:
    ctx = info.context
    args = page_args(first, after, last, before)
    spec = QuerySpec(
        models.LoanVersion, loan._m.loan_id, fingerprint=fingerprint("versions", loan._m.loan_id)
    )
    page = await run_page(ctx, spec, args)
    loader = ctx.loaders.loan_version_by_key
    for row in page.items:
        loader.prime((row.loan_id, int(row.version)), row)
    return connection(
        LoanVersionConnection,
        LoanVersionEdge,
        page,
        lambda m: LoanVersion(_m=m, _access=loan._access),
    )


async def load_version(info: Info, loan_id: str, version: int) -> LoanVersion | None:
    """A version of a loan the viewer may read (deleted loans: borrower and admins)."""
    ctx = info.context
    row = await ctx.loaders.loan_version_by_key.load((loan_id, version))
    if row is None:
        return None
    loan = await ctx.loaders.loan_by_id.load(loan_id)
    access = await readable_loan(ctx, loan, include_deleted=True)
    if access == Access.NONE:
        return None
    if loan is not None and loan.deleted_at is not None and access == Access.LENDER:
        return None
    return LoanVersion(_m=row, _access=access)
