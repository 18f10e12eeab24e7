"""Operational tables: idempotency keys, rate-limit counters, stream checkpoints,
persisted queries. Items that expire carry a TTL attribute."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from models.attributes import JSONTextAttribute
from models.base import register


@register
class IdempotencyKey(Model):
    """A mutation's first response, replayed for 24 h to the same user and body."""

    class Meta:
        table_name = "idempotency_keys"

    key = UnicodeAttribute(hash_key=True)  # "<user id>#<Idempotency-Key>"
    body_hash = UnicodeAttribute()
    status = UnicodeAttribute(default="IN_PROGRESS")  # IN_PROGRESS DONE
    response = JSONTextAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


@register
class RateLimitCounter(Model):
    """Points spent by one caller in one window (atomic ADD under a condition)."""

    class Meta:
        table_name = "rate_limits"

    key = UnicodeAttribute(hash_key=True)  # "<caller>#<window start>"
    used = NumberAttribute(default=0)
    expires_at = TTLAttribute()


@register
class StreamCheckpoint(Model):
    """The event dispatcher's position in one shard of the audit stream."""

    class Meta:
        table_name = "stream_checkpoints"

    shard_id = UnicodeAttribute(hash_key=True)
    stream_arn = UnicodeAttribute()
    sequence_number = UnicodeAttribute(null=True)
    finished = NumberAttribute(default=0)
    owner = UnicodeAttribute(null=True)
    lease_until = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


@register
class PersistedQuery(Model):
    """Automatic persisted queries, shared by every replica."""

    class Meta:
        table_name = "persisted_queries"

    sha256 = UnicodeAttribute(hash_key=True)
    # Shadows Model.query (the Query API, never used on this table): the stored
    # attribute is named "query" in the table.
    query = UnicodeAttribute()  # type: ignore[assignment]  # shadows Model.query on purpose
    created_at = UTCDateTimeAttribute()
