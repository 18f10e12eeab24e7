"""The write layer for the `webhooks` table: registration, deletion, and the
changes the delivery worker makes (its failure count, disabling).

`webhooks` is an audited table: every write to it, by a user or by the system,
is one TransactWriteItems holding the webhook item (conditioned on its
version, which it bumps) and its audit entry. Audit entries of webhooks carry
no `event` and no `loan_id`: they are not domain events and are never
delivered. Changes by the delivery worker are made as `SYSTEM_ACTOR`
(docs/webhooks.md, "What is audited").

Delivery records (`webhook_deliveries`) are written by
`services.webhook_deliveries`; the SSRF guard is `core.ssrf`.

Blocking (PynamoDB and DNS): call these through `core.db.run_db`."""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from core import db
from core.actor import Actor
from core.errors import DomainError
from core.ssrf import UnsafeURL, check_url
from models import AuditEntry, Webhook
from models.audit import EVENT_TYPES, record_key
from services import chain
from services.common import Retry
from services.tx import Tx

log = logging.getLogger("loangraph.services.webhooks")

MAX_WEBHOOKS_PER_OWNER = 25
SYSTEM_ACTOR = "system:webhooks"
# A system change that keeps losing the version race (deliveries of one webhook
# finishing at once in several workers) is re-read and retried up to this many times.
SYSTEM_CHANGE_ATTEMPTS = 12
# Within a process, the counting of one webhook's attempts queues on a lock: the
# deliverer's concurrent attempts would otherwise mostly lose the version race.
# Correctness never depends on it (the version condition does that); tests switch
# it off to race at the database.
SERIALIZE_PER_WEBHOOK = True
_counting_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_counting_locks_guard = threading.Lock()
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


def _system_change(
    hook: Webhook, changes: dict[str, Any], *, operation: str, reason: str | None = None
) -> None:
    """Apply `changes` (attribute name -> new value) to a live webhook as the
    system: one Tx with the version condition (and still active, not deleted),
    the version bump and the audit entry. Raises `Retry` when it lost a race."""
    before = _image(hook)
    now = _utcnow()
    read_version = hook.version
    for name, value in changes.items():
        setattr(hook, name, value)
    hook.updated_at = now
    hook.updated_by = SYSTEM_ACTOR
    hook.version = read_version + 1
    after = _image(hook)
    if reason is not None:
        after["disabled_reason"] = reason
    entry = _audit(
        actor=None,
        actor_id=SYSTEM_ACTOR,
        hook=hook,
        action="UPDATE",
        before=before,
        after=after,
        at=now,
    )
    attributes = Webhook.get_attributes()
    tx = Tx(operation)
    tx.update(
        hook,
        [attributes[name].set(value) for name, value in changes.items()]
        + [
            Webhook.updated_at.set(now),
            Webhook.updated_by.set(SYSTEM_ACTOR),
            Webhook.version.set(read_version + 1),
        ],
        (Webhook.version == read_version)
        & (Webhook.active == True)  # noqa: E712
        & Webhook.deleted_at.does_not_exist(),
        label="webhook",
    )
    tx.put(entry, AuditEntry.record_key.does_not_exist(), label="audit")
    tx.commit()


def _live(webhook_id: str) -> Webhook | None:
    try:
        hook = Webhook.get(webhook_id, consistent_read=True)
    except DoesNotExist:
        return None
    if not hook.active or hook.deleted_at is not None:
        return None
    return hook


def disable_webhook(webhook_id: str, *, reason: str) -> bool:
    """Deactivate a webhook on behalf of the system, audited.
    False when it was already inactive or deleted (or changed concurrently)."""
    hook = _live(webhook_id)
    if hook is None:
        return False
    try:
        _system_change(hook, {"active": False}, operation="disableWebhook", reason=reason)
    except (Retry, TransactWriteError):
        return False
    return True


def count_attempt(webhook_id: str, *, ok: bool, disable_after: int) -> bool:
    """Count a delivery attempt's outcome on the webhook, audited (actor
    `SYSTEM_ACTOR`): a failure adds one to `consecutive_failures`, a success
    resets it to 0 (no write when it already is 0). The failure that reaches
    `disable_after` (0: never) also deactivates the webhook, in the same change.

    A webhook that is no longer live (disabled, deleted) is not written: an
    attempt already in flight when it was disabled changes nothing. A lost
    version race is re-read and retried. Returns True when this call disabled
    the webhook."""
    if not SERIALIZE_PER_WEBHOOK:
        return _count_attempt(webhook_id, ok=ok, disable_after=disable_after)
    with _counting_locks_guard:
        lock = _counting_locks.get(webhook_id)
        if lock is None:
            lock = _counting_locks[webhook_id] = threading.Lock()
    with lock:
        return _count_attempt(webhook_id, ok=ok, disable_after=disable_after)


def _count_attempt(webhook_id: str, *, ok: bool, disable_after: int) -> bool:
    for n in range(SYSTEM_CHANGE_ATTEMPTS):
        hook = _live(webhook_id)
        if hook is None:
            return False
        failures = int(hook.consecutive_failures or 0)
        count = 0 if ok else failures + 1
        if count == failures:
            return False
        changes: dict[str, Any] = {"consecutive_failures": count}
        reason = None
        if not ok and disable_after and count >= disable_after:
            changes["active"] = False
            reason = f"{count} consecutive failed attempts"
        try:
            _system_change(
                hook,
                changes,
                operation="disableWebhook" if reason else "countWebhookAttempt",
                reason=reason,
            )
        except Retry:
            time.sleep(random.uniform(0, min(0.5, 0.01 * 2**n)))
            continue
        except TransactWriteError as exc:
            log.warning("webhook %s: attempt not counted: %s", webhook_id, exc)
            return False
        return reason is not None
    log.warning("webhook %s: attempt not counted (kept losing the version race)", webhook_id)
    return False
