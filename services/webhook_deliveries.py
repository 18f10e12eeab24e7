"""Webhook delivery records: the write layer for the `webhook_deliveries` table.

A delivery is one event for one webhook, keyed by (webhook id,
"<event time>#<event id>"). Its life, each step one conditional write here:

* `enqueue`: a conditional put (the key must be new): a replayed event never
  enqueues twice. PENDING, due at once.
* `claim`: a worker takes a due delivery with a conditional update (still
  PENDING, `next_attempt_at` unchanged since the index read) that sets
  `claimed_by`/`claimed_until` and pushes `next_attempt_at` to the end of the
  lease: several workers never send the same attempt, and the delivery of a
  worker that died (kill -9) is due again when the lease ends.
* `record_attempt`: the attempt's outcome (`attempt_log`, `attempts`,
  `last_status_code`, `last_error`), then DELIVERED, PENDING again at the
  next retry, or FAILED; conditioned on still holding the claim.
* `cancel`: FAILED without an attempt (the webhook was disabled or deleted).

Delivery records are operational state, not an audited table: an attempt is
recorded on the delivery itself (its `attempt_log` is its history). Changes to
the webhook (`Webhook.consecutive_failures`, disabling) are audited, in
`services.webhooks`.

When to retry is the caller's policy (`events.webhooks.retry`): it passes the
next attempt's time, or None to give up. Blocking (PynamoDB): call these
through `core.db.run_db`."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from models import WebhookDelivery
from models.webhook import DeliveryAttempt

log = logging.getLogger("loangraph.services.webhook_deliveries")

DUE_SHARDS = 4
MAX_ATTEMPT_LOG = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


def due_shard(delivery_key: str) -> str:
    """The `due-index` partition of a delivery (spread over DUE_SHARDS)."""
    n = int(hashlib.sha1(delivery_key.encode()).hexdigest()[:8], 16) % DUE_SHARDS
    return f"due#{n}"


def due_shard_keys() -> list[str]:
    """Every `due-index` partition (where the deliverer looks for due work)."""
    return [f"due#{n}" for n in range(DUE_SHARDS)]


def _lost_condition(exc: PutError | UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


@dataclass
class AttemptResult:
    """One POST's outcome."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def enqueue(
    *,
    webhook_id: str,
    delivery_key: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
) -> bool:
    """Write a PENDING delivery, due now. False when it exists (a replayed event)."""
    now = utcnow()
    item = WebhookDelivery(
        webhook_id=webhook_id,
        delivery_id=delivery_key,
        event_id=event_id,
        event=event_type,
        payload=payload,
        status="PENDING",
        attempts=0,
        attempt_log=[],
        next_attempt_at=now,
        due_shard=due_shard(delivery_key),
        created_at=now,
        updated_at=now,
    )
    try:
        item.save(condition=WebhookDelivery.delivery_id.does_not_exist())
    except PutError as exc:
        if _lost_condition(exc):
            return False  # already enqueued (a replayed event)
        raise
    return True


def claim(delivery: WebhookDelivery, *, worker_id: str, lease_seconds: float) -> bool:
    """Take a due delivery for `lease_seconds`. False when another worker has
    it, or it changed since it was read from the index."""
    if delivery.status != "PENDING" or delivery.next_attempt_at is None:
        return False
    now = utcnow()
    until = now + timedelta(seconds=lease_seconds)
    try:
        delivery.update(
            actions=[
                WebhookDelivery.next_attempt_at.set(until),
                WebhookDelivery.claimed_by.set(worker_id),
                WebhookDelivery.claimed_until.set(until),
                WebhookDelivery.updated_at.set(now),
            ],
            condition=(WebhookDelivery.status == "PENDING")
            & (WebhookDelivery.next_attempt_at == delivery.next_attempt_at)
            & (WebhookDelivery.next_attempt_at <= now),
        )
    except UpdateError as exc:
        if _lost_condition(exc):
            return False
        raise
    return True


def record_attempt(
    delivery: WebhookDelivery,
    result: AttemptResult,
    *,
    worker_id: str,
    next_attempt_at: datetime | None,
    at: datetime | None = None,
) -> str | None:
    """Record an attempt made under `worker_id`'s claim and release the claim.

    A failed attempt is due again at `next_attempt_at`, or FAILED when it is
    None (the caller gave up). Returns the attempt's outcome, "delivered",
    "retrying" or "failed", or None when the claim was lost meanwhile (the
    attempt is then not recorded: whoever holds the claim now decides)."""
    now = at or utcnow()
    attempts = (delivery.attempts or 0) + 1
    log_items = list(delivery.attempt_log or []) + [
        DeliveryAttempt(
            at=now,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    ]
    actions: list[Any] = [
        WebhookDelivery.attempts.set(attempts),
        WebhookDelivery.attempt_log.set(log_items[-MAX_ATTEMPT_LOG:]),
        WebhookDelivery.updated_at.set(now),
        WebhookDelivery.claimed_by.remove(),
        WebhookDelivery.claimed_until.remove(),
    ]
    if result.status_code is not None:
        actions.append(WebhookDelivery.last_status_code.set(result.status_code))
    else:
        actions.append(WebhookDelivery.last_status_code.remove())
    if result.ok:
        outcome = "delivered"
        actions += [
            WebhookDelivery.status.set("DELIVERED"),
            WebhookDelivery.last_error.remove(),
            WebhookDelivery.next_attempt_at.remove(),
            WebhookDelivery.due_shard.remove(),
        ]
    else:
        actions.append(WebhookDelivery.last_error.set(result.error or "failed"))
        if next_attempt_at is None:
            outcome = "failed"
            actions += [
                WebhookDelivery.status.set("FAILED"),
                WebhookDelivery.next_attempt_at.remove(),
                WebhookDelivery.due_shard.remove(),
            ]
        else:
            outcome = "retrying"
            actions.append(WebhookDelivery.next_attempt_at.set(next_attempt_at))
    try:
        delivery.update(actions=actions, condition=WebhookDelivery.claimed_by == worker_id)
    except UpdateError as exc:
        if _lost_condition(exc):
            log.warning(
                "lost the claim on %s/%s; its attempt was not recorded here",
                delivery.webhook_id,
                delivery.delivery_id,
            )
            return None
        raise
    return outcome


def cancel(delivery: WebhookDelivery, *, worker_id: str, reason: str) -> bool:
    """End a claimed delivery as FAILED without an attempt (its webhook was
    disabled or deleted). False when the claim was lost meanwhile."""
    now = utcnow()
    try:
        delivery.update(
            actions=[
                WebhookDelivery.status.set("FAILED"),
                WebhookDelivery.last_error.set(reason),
                WebhookDelivery.next_attempt_at.remove(),
                WebhookDelivery.due_shard.remove(),
                WebhookDelivery.claimed_by.remove(),
                WebhookDelivery.claimed_until.remove(),
                WebhookDelivery.updated_at.set(now),
            ],
            condition=WebhookDelivery.claimed_by == worker_id,
        )
    except UpdateError as exc:
        if _lost_condition(exc):
            return False
        raise
    return True


__all__ = [
    "DUE_SHARDS",
    "MAX_ATTEMPT_LOG",
    "AttemptResult",
    "cancel",
    "claim",
    "due_shard",
    "due_shard_keys",
    "enqueue",
    "record_attempt",
]
