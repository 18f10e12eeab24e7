"""Webhook fan-out (run by the event dispatcher): for every domain event and
every active webhook subscribed to its type whose owner may see it, one
`WebhookDelivery` is enqueued (`services.webhook_deliveries.enqueue`, a
conditional put keyed by (webhook id, "<event time>#<event id>"): a replayed
event never enqueues twice).

Who receives what (the owner's rights are evaluated when the event is
dispatched; owner email and roles come from the `users` table):
  * an admin: every event;
  * the loan's borrower: every event of the loan;
  * an invited lender (a live invitation for the owner's email, or the
    participant record names the owner): the loan's `loan.*` events (terms,
    status and funding aggregates, which lenders may read) and the events of
    their own participation; never other lenders' `participant.*` events
    (those carry other lenders' emails and amounts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import TTLCache
from pynamodb.exceptions import DoesNotExist

from core import db
from events.types import DomainEvent
from models import ParticipantGuard, User, Webhook
from models.participant import guard_key
from services import webhook_deliveries


def delivery_id(event: DomainEvent) -> str:
    return f"{event.created_at}#{event.id}"


def _enqueue(hook: Webhook, event: DomainEvent, lender_view: bool = False) -> bool:
    """Blocking: the delivery of `event` to `hook`; False when it already exists."""
    return webhook_deliveries.enqueue(
        webhook_id=hook.webhook_id,
        delivery_key=delivery_id(event),
        event_id=event.id,
        event_type=event.type,
        payload=event.webhook_body(lender_view=lender_view, recipient_id=hook.owner_id),
    )


@dataclass(frozen=True)
class OwnerInfo:
    user_id: str
    email: str | None
    is_admin: bool


class WebhookFanout:
    """Turns domain events into WebhookDelivery items (idempotent)."""

    def __init__(self, *, webhook_cache_seconds: float = 0.5) -> None:
        self.webhook_cache_seconds = webhook_cache_seconds
        self._webhooks: list[Webhook] = []
        self._loaded_at = 0.0
        self._owners: TTLCache[str, OwnerInfo] = TTLCache(maxsize=10_000, ttl=30)
        self._guards: TTLCache[str, bool] = TTLCache(maxsize=50_000, ttl=5)
        self.enqueued = 0

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    async def webhooks(self) -> list[Webhook]:
        if time.monotonic() - self._loaded_at > self.webhook_cache_seconds:

            def load() -> list[Webhook]:
                return [
                    w for w in Webhook.by_kind.query("WEBHOOK") if w.active and w.deleted_at is None
                ]

            self._webhooks = await db.run_db(load)
            self._loaded_at = time.monotonic()
        return self._webhooks

    async def _owner(self, owner_id: str) -> OwnerInfo:
        info = self._owners.get(owner_id)
        if info is None:

            def load() -> OwnerInfo:
                try:
                    user = User.get(owner_id)
                except DoesNotExist:
                    return OwnerInfo(owner_id, None, False)
                email = user.email.strip().lower() if user.email else None
                return OwnerInfo(owner_id, email, "admin" in (user.roles or []))

            info = self._owners[owner_id] = await db.run_db(load)
        return info

    async def _invited(self, loan_id: str, email: str) -> bool:
        key = guard_key(loan_id, email)
        hit = self._guards.get(key)
        if hit is None:

            def load() -> bool:
                try:
                    ParticipantGuard.get(key)
                    return True
                except DoesNotExist:
                    return False

            hit = self._guards[key] = await db.run_db(load)
        return hit

    async def audience(self, webhook: Webhook, event: DomainEvent) -> str | None:
        """How the webhook's owner may see `event`: "full" (the borrower, admins),
        "lender" (an invited lender: the lender view of the payload) or None."""
        if event.borrower_id is not None and webhook.owner_id == event.borrower_id:
            return "full"
        owner = await self._owner(webhook.owner_id)
        if owner.is_admin:
            return "full"
        if event.is_participant_event:
            own = (
                event.participant_lender_id is not None
                and event.participant_lender_id == owner.user_id
            ) or (owner.email is not None and event.participant_email == owner.email)
            return "lender" if own else None
        if owner.email is not None and await self._invited(event.loan_id, owner.email):
            return "lender"
        return None

    async def may_receive(self, webhook: Webhook, event: DomainEvent) -> bool:
        return await self.audience(webhook, event) is not None

    async def enqueue(self, events: Iterable[DomainEvent]) -> int:
        """Write the deliveries of `events`; returns how many were new."""
        events = list(events)
        if not events:
            return 0
        hooks = await self.webhooks()
        if not hooks:
            return 0
        pending: list[tuple[Webhook, DomainEvent, bool]] = []
        for event in events:
            for hook in hooks:
                if event.type not in (hook.events or []):
                    continue
                seen_as = await self.audience(hook, event)
                if seen_as is not None:
                    pending.append((hook, event, seen_as == "lender"))
        if not pending:
            return 0
        results = await asyncio.gather(*(db.run_db(_enqueue, h, e, lv) for h, e, lv in pending))
        created = sum(1 for r in results if r)
        self.enqueued += created
        return created


__all__ = ["OwnerInfo", "WebhookFanout", "delivery_id"]
