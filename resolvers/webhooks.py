"""Webhook reads: the viewer's webhooks and each one's deliveries."""

from __future__ import annotations

import models
from core.cursors import fingerprint
from core.pagination import QuerySpec
from resolvers.context import Info
from resolvers.shared import connection, run_page, viewer_scope
from schema.common import page_args
from schema.webhooks import (
    Webhook,
    WebhookConnection,
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookEdge,
)


async def resolve_webhooks(
    info: Info, first: int | None, after: str | None, last: int | None, before: str | None
) -> WebhookConnection:
    ctx = info.context
    viewer = ctx.require_viewer()
    args = page_args(first, after, last, before)
    W = models.Webhook
    spec = QuerySpec(
        W,
        viewer.user_id,
        index=W.by_owner,
        filter_condition=W.deleted_at.does_not_exist(),
        fingerprint=fingerprint("webhooks", viewer_scope(ctx)),
    )
    page = await run_page(ctx, spec, args)
    return connection(WebhookConnection, WebhookEdge, page, lambda m: Webhook(_m=m))


async def resolve_deliveries(
    info: Info,
    webhook: models.Webhook,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> WebhookDeliveryConnection:
    args = page_args(first, after, last, before)
    spec = QuerySpec(
        models.WebhookDelivery,
        webhook.webhook_id,
        fingerprint=fingerprint("deliveries", webhook.webhook_id),
    )
    page = await run_page(info.context, spec, args)
    return connection(
        WebhookDeliveryConnection, WebhookDeliveryEdge, page, lambda m: WebhookDelivery(_m=m)
    )


async def get_webhook(info: Info, webhook_id: str) -> Webhook | None:
    ctx = info.context
    row = await ctx.loaders.webhook_by_id.load(webhook_id)
    viewer = ctx.viewer
    if row is None or viewer is None or row.deleted_at is not None:
        return None
    if row.owner_id != viewer.user_id and not viewer.is_admin:
        return None
    return Webhook(_m=row)
