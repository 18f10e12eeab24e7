"""Idempotency-Key store/replay helpers over `IdempotencyKey` (TTL 24 h).

Protocol for the HTTP layer:
    claim = await begin(user_id, key, body_hash)
    if claim.replay is not None: return claim.replay          # no second write
    try: response = <execute>
    except BaseException: await abandon(user_id, key); raise  # let the client retry
    await finish(user_id, key, response)

- The same key with a different body: `IdempotencyKeyReused` (CONFLICT).
- The same key and body while the first request still runs:
  `IdempotencyInProgress` (CONFLICT), unless that claim is older than
  `STALE_AFTER` (its process died): then it is taken over.
- Keys are 1..255 characters; scoped per user, so users never see each other's."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from core.db import run_db
from core.errors import DomainError
from models import IdempotencyKey
from services.common import utcnow

TTL = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(DomainError):
    def __init__(self) -> None:
        super().__init__("CONFLICT", "This Idempotency-Key was used with a different request body")


class IdempotencyInProgress(DomainError):
    def __init__(self) -> None:
        super().__init__("CONFLICT", "A request with this Idempotency-Key is still in progress")


@dataclass(frozen=True)
class Claim:
    """`replay` is the stored response when the key was already completed."""

    key: str
    replay: Any = None

    @property
    def is_replay(self) -> bool:
        return self.replay is not None


def storage_key(user_id: str, key: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise DomainError(
            "VALIDATION",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
            ["Idempotency-Key"],
        )
    # Length-prefixed, so no (user, key) pair can spell another's: with a bare
    # separator, user "team#a" with key "1" and user "team" with key "a#1" would
    # share "team#a#1" and one would be replayed the other's response.
    return f"v2:{len(user_id)}:{user_id}:{key}"


def _claim(skey: str, body_hash: str, now: datetime) -> Claim:
    item = IdempotencyKey(
        key=skey,
        body_hash=body_hash,
        status="IN_PROGRESS",
        response=None,
        created_at=now,
        expires_at=now + TTL,
    )
    try:
        # New, or an expired leftover (DynamoDB's TTL deletion is lazy).
        item.save(IdempotencyKey.key.does_not_exist() | (IdempotencyKey.expires_at < now))
        return Claim(skey)
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    try:
        existing = IdempotencyKey.get(skey, consistent_read=True)
    except DoesNotExist:  # expired and deleted in between: claim again
        return _claim(skey, body_hash, now)
    if existing.body_hash != body_hash:
        raise IdempotencyKeyReused()
    if existing.status == "DONE":
        return Claim(skey, replay=existing.response)
    if now - existing.created_at < STALE_AFTER:
        raise IdempotencyInProgress()
    try:  # take over a claim whose owner died, exactly once
        item.save(IdempotencyKey.created_at == existing.created_at)
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
        raise IdempotencyInProgress() from None
    return Claim(skey)


async def begin(user_id: str, key: str, body_hash: str) -> Claim:
    """Claim `key` for this user and body, or return the response to replay."""
    skey = storage_key(user_id, key)
    return await run_db(_claim, skey, body_hash, utcnow())


def _finish(skey: str, body_hash: str | None, response: Any) -> None:
    now = utcnow()
    cond = IdempotencyKey.status == "IN_PROGRESS"
    if body_hash is not None:
        cond = cond & (IdempotencyKey.body_hash == body_hash)
    IdempotencyKey(key=skey).update(
        actions=[
            IdempotencyKey.status.set("DONE"),
            IdempotencyKey.response.set(response),
            IdempotencyKey.expires_at.set(now + TTL),
        ],
        condition=cond,
    )


async def finish(user_id: str, key: str, response: Any, body_hash: str | None = None) -> None:
    """Store the first response (JSON-able) for replay during 24 hours."""
    await run_db(_finish, storage_key(user_id, key), body_hash, response)


def _abandon(skey: str) -> None:
    # Already finished or gone: nothing to release.
    with contextlib.suppress(DeleteError):
        IdempotencyKey(key=skey).delete(IdempotencyKey.status == "IN_PROGRESS")


async def abandon(user_id: str, key: str) -> None:
    """Release a claim whose request failed unexpectedly, so the client may retry."""
    await run_db(_abandon, storage_key(user_id, key))
