"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import datetime as dt

import strawberry

import models
from core.ids import to_global_id
from resolvers.context import Info
from schema.common import After, Before, First, Last, Node, PageInfo, WebhookEvent


@strawberry.type(description="An endpoint of yours that receives signed event notifications.")
class Webhook(Node):
    _m: strawberry.Private[models.Webhook]

    @strawberry.field(description='Global id, e.g. base64 of "Webhook:<uuid>".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Webhook", self._m.webhook_id))

    @strawberry.field(description="The webhook's uuid.")
    def webhook_id(self) -> str:
        return self._m.webhook_id

    @strawberry.field(description='Target URL, e.g. "https://partner.example.com/hooks/loangraph".')
    def url(self) -> str:
        return self._m.url

    @strawberry.field(description="Event types delivered to it.")
    def events(self) -> list[WebhookEvent]:
        return [WebhookEvent(e) for e in self._m.events or []]

    @strawberry.field(description="False once deleted or disabled after repeated failures.")
    def active(self) -> bool:
        return bool(self._m.active) and self._m.deleted_at is None

    @strawberry.field(description="When it was registered.")
    def created_at(self) -> dt.datetime:
        return self._m.created_at

    @strawberry.field(description="Deliveries to it, oldest first, each with its attempts.")
    async def deliveries(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookDeliveryConnection:
        from resolvers.webhooks import resolve_deliveries

        return await resolve_deliveries(info, self._m, first, after, last, before)


@strawberry.type(description="One event's delivery to one webhook (at least once, retried).")
class WebhookDelivery:
    _m: strawberry.Private[models.WebhookDelivery]

    @strawberry.field(description="The delivery's id.")
    def delivery_id(self) -> str:
        return self._m.delivery_id

    @strawberry.field(description="The event id, also sent in the X-Loangraph-Event-Id header.")
    def event_id(self) -> str:
        return self._m.event_id

    @strawberry.field(description="Event type.")
    def event(self) -> WebhookEvent:
        return WebhookEvent(self._m.event)

    @strawberry.field(description="Attempts made so far.")
    def attempts(self) -> int:
        return int(self._m.attempts or 0)

    @strawberry.field(description="PENDING, DELIVERED or FAILED (gave up).")
    def status(self) -> str:
        return self._m.status

    @strawberry.field(description="HTTP status of the last attempt.")
    def last_status_code(self) -> int | None:
        return None if self._m.last_status_code is None else int(self._m.last_status_code)

    @strawberry.field(description="Error of the last attempt, when it failed.")
    def last_error(self) -> str | None:
        return self._m.last_error

    @strawberry.field(description="When the next attempt is due; null when done.")
    def next_attempt_at(self) -> dt.datetime | None:
        return self._m.next_attempt_at if self._m.status == "PENDING" else None

    @strawberry.field(description="When the delivery was created.")
    def created_at(self) -> dt.datetime:
        return self._m.created_at


@strawberry.type(description="A webhook in a connection.")
class WebhookEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: Webhook = strawberry.field(description="The webhook.")


@strawberry.type(description="A page of webhooks.")
class WebhookConnection:
    edges: list[WebhookEdge] = strawberry.field(description="The webhooks of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")


@strawberry.type(description="A delivery in a connection.")
class WebhookDeliveryEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: WebhookDelivery = strawberry.field(description="The delivery.")


@strawberry.type(description="A page of deliveries.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge] = strawberry.field(description="The deliveries of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
