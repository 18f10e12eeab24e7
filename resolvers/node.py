"""`node` and `nodes`: any record by its global id, under the same read rules."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.errors import BadUserInput
from core.ids import from_global_id, split_key
from resolvers.context import Info
from resolvers.permissions import Access, readable_loan
from schema.common import Node
from schema.users import User


async def resolve_node(info: Info, global_id: str) -> Node | None:
    """The record, or null when it does not exist or the viewer may not see it."""
    from resolvers.loans import get_loan
    from resolvers.participants import get_participant
    from resolvers.versions import load_version
    from resolvers.webhooks import get_webhook
    from schema.audit import AuditEntry

    ctx = info.context
    ctx.require_viewer()
    kind, key = from_global_id(global_id)
    if kind == "Loan":
        return await get_loan(info, key)
    if kind == "Participant":
        loan_id, pid = split_key(key)
        return await get_participant(info, loan_id, pid)
    if kind == "LoanVersion":
        loan_id, version = split_key(key)
        # ASCII digits only: str.isdigit() also accepts "²" or "١", which int() refuses.
        if not (version.isascii() and version.isdigit()) or len(version) > 12:
            raise BadUserInput(f"Malformed id: {global_id!r}", argument="id")
        return await load_version(info, loan_id, int(version))
    if kind == "User":
        viewer = ctx.viewer
        model = await ctx.loaders.user_by_id.load(key)
        if model is None and not (viewer and viewer.user_id == key):
            return None
        return User.of(key, model)
    if kind == "Webhook":
        return await get_webhook(info, key)
    if kind == "AuditEntry":
        # The record key of a participant holds a "/" ("participants#<loan>/<p>"),
        # the sort key never does: split at the last one.
        record_key, _, sk = key.rpartition("/")
        if not record_key or not sk:
            raise BadUserInput(f"Malformed id: {global_id!r}", argument="id")
        row = await ctx.loaders.audit_entry_by_key.load((record_key, sk))
        if row is None:
            return None
        if ctx.viewer and ctx.viewer.is_admin:
            return AuditEntry(_m=row)
        if row.loan_id:
            loan = await ctx.loaders.loan_by_id.load(row.loan_id)
            if await readable_loan(ctx, loan, include_deleted=True) >= Access.BORROWER:
                return AuditEntry(_m=row)
        return None
    return None


async def resolve_nodes(info: Info, ids: Sequence[str]) -> list[Node | None]:
    if len(ids) > 100:
        raise BadUserInput("`ids` takes at most 100 ids", argument="ids")
    return list(await asyncio.gather(*(resolve_node(info, i) for i in ids)))
