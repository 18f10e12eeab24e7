"""Helpers every resolver uses: paging through DynamoDB, loading users."""

from __future__ import annotations

from typing import Any

from core.context import Context
from core.db import run_db
from core.pagination import Page, PageArgs, QuerySpec, fetch_page


async def run_page(ctx: Context, spec: QuerySpec, args: PageArgs) -> Page[Any]:
    s = ctx.settings
    return await run_db(fetch_page, spec, args, s.signing_secret, s.cursor_ttl_seconds)


def viewer_scope(ctx: Context) -> str:
    """Part of a cursor fingerprint: a cursor works only for the viewer it was issued to."""
    return ctx.viewer.user_id if ctx.viewer else "-"
