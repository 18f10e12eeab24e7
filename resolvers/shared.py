"""Helpers every resolver uses: paging through DynamoDB, loading users."""

from __future__ import annotations

from typing import Any

from core.context import Context
from core.pagination import Page, PageArgs, QuerySpec


async def run_page(ctx: Context, spec: QuerySpec, args: PageArgs) -> Page[Any]:
    """One page of a connection, through the request's PageLoader."""
    return await ctx.loaders.pages(ctx.settings).load((spec, args))


def viewer_scope(ctx: Context) -> str:
    """Part of a cursor fingerprint: a cursor works only for the viewer it was issued to."""
    return ctx.viewer.user_id if ctx.viewer else "-"
