"""Webhook registration and deletion (the write layer for the `webhooks` table).

Each change is one TransactWriteItems: the webhook item (conditioned on its
version) and its audit entry. Audit entries of webhooks carry no `event` and
no `loan_id`: they are not domain events and are never delivered.

Blocking (PynamoDB and DNS): call these through `core.db.run_db`."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from core import db
from core.actor import Actor
from core.errors import DomainError
from events.types import EVENT_TYPES
from events.webhooks import UnsafeURL, check_url
from models import AuditEntry, Webhook
from models.audit import record_key
from services import chain
from services.common import Retry
from services.tx import Tx

log = logging.getLogger("loangraph.services.webhooks")

MAX_WEBHOOKS_PER_OWNER = 25
SYSTEM_ACTOR = "system:webhooks"
# What an audit entry may show of a webhook: never the secret.
_PUBLIC_FIELDS = (
    "webhook_id",
    "owner_id",
    "url",
    "events",
    "active",
    "version",
    "consecutive_failures",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted_at",
    "deleted_by",
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _image(hook: Webhook) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _PUBLIC_FIELDS:
        value = getattr(hook, name, None)
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, list):
            value = list(value)
        out[name] = value
    return out


def _audit(
    *,
    actor: Actor | None,
    actor_id: str | None,
    hook: Webhook,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    at: datetime,
) -> AuditEntry:
    audit_id = str(uuid.uuid4())
    changed = (
        sorted(k for k in after if (before or {}).get(k) != after.get(k))
        if before
        else sorted(after)
    )
    entry = AuditEntry(
        record_key=record_key("webhooks", hook.webhook_id),
        sk=f"{_iso(at)}#{audit_id}",
        audit_id=audit_id,
        timestamp=at,
        table_name="webhooks",
        record_id=hook.webhook_id,
        action=action,
        event=None,
        loan_id=None,
        actor_id=actor_id if actor_id is not None else (actor.user_id if actor else None),
        before=before,
        after=after,
        changed_fields=changed,
        ip_address=actor.ip_address if actor else None,
        user_agent=actor.user_agent if actor else None,
        request_id=actor.request_id if actor else None,
        context=None,
    )
    chain.seal([entry], None)  # no loan: a standalone hash (services/chain.py)
    return entry


def _event_names(events: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for i, e in enumerate(events or []):
        name = getattr(e, "name", None) or getattr(e, "value", None) or e
        if not isinstance(name, str):
            raise DomainError(
                "VALIDATION", "events must be WebhookEvent values", ["events", str(i)]
            )
        name = name.strip()
        if "." in name:
            name = name.replace(".", "_", 1)
        name = name.upper()
        if name not in EVENT_TYPES:
            raise DomainError("VALIDATION", f"unknown webhook event {e!r}", ["events", str(i)])
        if name not in out:
            out.append(name)
    if not out:
        raise DomainError("VALIDATION", "subscribe to at least one event", ["events"])
    return out


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def register_webhook(actor: Actor, url: str, events: Iterable[Any]) -> tuple[Webhook, str]:
    """Register a webhook for `actor`. Returns (webhook, secret): the secret is
    returned here once and never shown again.

    DomainError VALIDATION: bad or unsafe URL (SSRF guard), no/unknown events,
    too many webhooks."""
    settings = db.settings()
    url = (url or "").strip()
    try:
        check_url(url, allow_private=settings.webhook_allow_private)
    except UnsafeURL as exc:
        # str(exc) never carries the server's DNS answers (exc.detail does: logs only).
        log.info("webhook URL refused for %s: %s", actor.user_id, exc.detail)
        raise DomainError("VALIDATION", f"webhook URL refused: {exc}", ["url"]) from None
    names = _event_names(events)
    live = sum(1 for w in Webhook.by_owner.query(actor.user_id) if w.deleted_at is None)
    if live >= MAX_WEBHOOKS_PER_OWNER:
        raise DomainError(
            "VALIDATION", f"at most {MAX_WEBHOOKS_PER_OWNER} webhooks per user", ["url"]
        )
    now = _utcnow()
    secret = new_secret()
    hook = Webhook(
        webhook_id=str(uuid.uuid4()),
        owner_id=actor.user_id,
        url=url,
        events=names,
        secret=secret,
        active=True,
        consecutive_failures=0,
        created_at=now,
        created_by=actor.user_id,
        updated_at=now,
        updated_by=actor.user_id,
        version=1,
    )
    entry = _audit(
        actor=actor,
        actor_id=None,
        hook=hook,
        action="CREATE",
        before=None,
        after=_image(hook),
        at=now,
    )
    tx = Tx("registerWebhook")
    tx.put(hook, Webhook.webhook_id.does_not_exist(), label="webhook")
    tx.put(entry, AuditEntry.record_key.does_not_exist(), label="audit")
    tx.commit()
    return hook, secret


def delete_webhook(actor: Actor, webhook_id: str) -> Webhook:
    """Soft-delete the actor's webhook (owner only); its pending deliveries end
    as FAILED when the delivery loop reaches them.

    DomainError NOT_FOUND (missing or already deleted), FORBIDDEN (not the owner),
    VERSION_MISMATCH (changed concurrently: retry)."""
    try:
        hook = Webhook.get(webhook_id, consistent_read=True)
    except DoesNotExist:
        raise DomainError("NOT_FOUND", "webhook not found", ["id"]) from None
    if hook.deleted_at is not None:
        raise DomainError("NOT_FOUND", "webhook not found", ["id"])
    if hook.owner_id != actor.user_id:
        raise DomainError("FORBIDDEN", "only the webhook's owner may delete it", ["id"])
    before = _image(hook)
    now = _utcnow()
    read_version = hook.version
    hook.active = False
    hook.deleted_at = now
    hook.deleted_by = actor.user_id
    hook.updated_at = now
    hook.updated_by = actor.user_id
    hook.version = read_version + 1
    entry = _audit(
        actor=actor,
        actor_id=None,
        hook=hook,
        action="DELETE",
        before=before,
        after=_image(hook),
        at=now,
    )
    tx = Tx("deleteWebhook")
    tx.update(
        hook,
        [
            Webhook.active.set(False),
            Webhook.deleted_at.set(now),
            Webhook.deleted_by.set(actor.user_id),
            Webhook.updated_at.set(now),
            Webhook.updated_by.set(actor.user_id),
            Webhook.version.set(read_version + 1),
        ],
        (Webhook.version == read_version) & Webhook.deleted_at.does_not_exist(),
        label="webhook",
    )
    tx.put(entry, AuditEntry.record_key.does_not_exist(), label="audit")
    try:
        tx.commit()
    except (Retry, TransactWriteError) as exc:
        if isinstance(exc, TransactWriteError) and (
            getattr(exc, "cause_response_code", None) != "TransactionCanceledException"
        ):
            raise
        raise DomainError(
            "VERSION_MISMATCH", "webhook changed concurrently; retry", ["id"]
        ) from None
    return hook


def disable_webhook(webhook_id: str, *, reason: str) -> bool:
    """Deactivate a webhook on behalf of the system (too many failures), audited.
    False when it was already inactive or deleted."""
    try:
        hook = Webhook.get(webhook_id, consistent_read=True)
    except DoesNotExist:
        return False
    if not hook.active or hook.deleted_at is not None:
        return False
    before = _image(hook)
    now = _utcnow()
    read_version = hook.version
    hook.active = False
    hook.updated_at = now
    hook.updated_by = SYSTEM_ACTOR
    hook.version = read_version + 1
    entry = _audit(
        actor=None,
        actor_id=SYSTEM_ACTOR,
        hook=hook,
        action="UPDATE",
        before=before,
        after={**_image(hook), "disabled_reason": reason},
        at=now,
    )
    tx = Tx("disableWebhook")
    tx.update(
        hook,
        [
            Webhook.active.set(False),
            Webhook.updated_at.set(now),
            Webhook.updated_by.set(SYSTEM_ACTOR),
            Webhook.version.set(read_version + 1),
        ],
        (Webhook.version == read_version) & (Webhook.active == True),  # noqa: E712
        label="webhook",
    )
    tx.put(entry, AuditEntry.record_key.does_not_exist(), label="audit")
    try:
        tx.commit()
    except (Retry, TransactWriteError):
        return False
    return True
